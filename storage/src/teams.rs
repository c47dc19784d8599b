//! Teams: create, read, list, update. A team name is unique (case-insensitive).

use sled::Transactional;

use crate::codec::{decode, encode, id_key};
use crate::error::{StorageError, StorageResult, TxResult, abort};
use crate::{Store, Team, TeamId};

impl Store {
    /// Creates a team; `team.id` is assigned here. Fails with `Conflict` if the name is taken.
    pub fn create_team(&self, mut team: Team) -> StorageResult<Team> {
        let _w = self.write_gate();
        team.id = self.next_id_of(crate::IdKind::Team)?;
        let name_key = team.name.to_lowercase();
        let bytes = encode(&team)?;
        (&self.t.teams, &self.t.teams_by_name).transaction(|(teams, by_name)| -> TxResult<()> {
            if by_name.get(name_key.as_bytes())?.is_some() {
                return abort(StorageError::Conflict(format!(
                    "a team named {:?} already exists",
                    team.name
                )));
            }
            teams.insert(&id_key(team.id), bytes.as_slice())?;
            by_name.insert(name_key.as_bytes(), &id_key(team.id))?;
            Ok(())
        })?;
        Ok(team)
    }

    pub fn team(&self, id: TeamId) -> StorageResult<Team> {
        match self.t.teams.get(id_key(id))? {
            Some(v) => decode("teams", &v),
            None => Err(StorageError::NotFound(format!("team {id}"))),
        }
    }

    /// Finds a team by id (digits) or by name.
    pub fn find_team(&self, id_or_name: &str) -> StorageResult<Team> {
        if let Ok(id) = id_or_name.parse::<u64>()
            && let Ok(team) = self.team(id)
        {
            return Ok(team);
        }
        match self.t.teams_by_name.get(id_or_name.to_lowercase())? {
            Some(id) => self.team(crate::codec::key_id("teams_by_name", &id)?),
            None => Err(StorageError::NotFound(format!("team {id_or_name:?}"))),
        }
    }

    pub fn teams(&self) -> StorageResult<Vec<Team>> {
        self.t
            .teams
            .iter()
            .values()
            .map(|v| decode("teams", &v?))
            .collect()
    }

    /// Replaces a team's settings. The name cannot change here.
    pub fn update_team(&self, team: &Team) -> StorageResult<()> {
        let _w = self.write_gate();
        let bytes = encode(team)?;
        self.t.teams.transaction(|teams| -> TxResult<()> {
            let Some(old) = teams.get(id_key(team.id))? else {
                return abort(StorageError::NotFound(format!("team {}", team.id)));
            };
            let old: Team = decode("teams", &old).or_else(abort)?;
            if old.name != team.name {
                return abort(StorageError::Conflict("a team cannot be renamed".into()));
            }
            teams.insert(&id_key(team.id), bytes.as_slice())?;
            Ok(())
        })?;
        Ok(())
    }
}
