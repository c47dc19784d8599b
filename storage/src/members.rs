//! Members: create, read, list by team, find by email, update state.

use sled::Transactional;

use crate::codec::{decode, encode, id_key, key, key_id};
use crate::error::{StorageError, StorageResult, TxResult, abort};
use crate::{Member, MemberId, Store, TeamId};

fn email_key(email: &str, team: TeamId) -> Vec<u8> {
    key(&[email.to_lowercase().as_bytes(), &[0], &id_key(team)])
}

impl Store {
    /// Adds a member to a team; `member.id` is assigned here. An email is unique within a team.
    pub fn create_member(&self, mut member: Member) -> StorageResult<Member> {
        let _w = self.write_gate();
        self.team(member.team_id)?;
        member.id = self.next_id_of(crate::IdKind::Member)?;
        let bytes = encode(&member)?;
        let by_email = email_key(&member.email, member.team_id);
        let by_team = key(&[&id_key(member.team_id), &id_key(member.id)]);
        (
            &self.t.members,
            &self.t.members_by_team,
            &self.t.members_by_email,
        )
            .transaction(|(members, team_idx, email_idx)| -> TxResult<()> {
                if email_idx.get(by_email.as_slice())?.is_some() {
                    return abort(StorageError::Conflict(format!(
                        "{} is already a member of this team",
                        member.email
                    )));
                }
                members.insert(&id_key(member.id), bytes.as_slice())?;
                team_idx.insert(by_team.as_slice(), &[])?;
                email_idx.insert(by_email.as_slice(), &id_key(member.id))?;
                Ok(())
            })?;
        Ok(member)
    }

    /// Removes a member from their team (see [`crate::MemberState::Removed`]): their record and
    /// dones stay, their chat accounts are unlinked and their address is free to be added again,
    /// in one transaction. Removing a removed member changes nothing.
    pub fn remove_member(
        &self,
        id: MemberId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StorageResult<Member> {
        let _w = self.write_gate();
        let removed = (
            &self.t.members,
            &self.t.members_by_email,
            &self.t.members_by_identity,
        )
            .transaction(|(members, email_idx, identities)| -> TxResult<Member> {
                let Some(raw) = members.get(id_key(id))? else {
                    return abort(StorageError::NotFound(format!("member {id}")));
                };
                let mut m: Member = decode("members", &raw).or_else(abort)?;
                if matches!(m.state, crate::MemberState::Removed { .. }) {
                    return Ok(m);
                }
                for a in &m.identities.accounts {
                    identities.remove(crate::links::identity_key(a.channel, &a.user_id))?;
                }
                m.identities.accounts.clear();
                email_idx.remove(email_key(&m.email, m.team_id))?;
                m.state = crate::MemberState::Removed { at: now };
                members.insert(&id_key(id), encode(&m).or_else(abort)?)?;
                Ok(m)
            })?;
        self.flush()?;
        Ok(removed)
    }

    pub fn member(&self, id: MemberId) -> StorageResult<Member> {
        match self.t.members.get(id_key(id))? {
            Some(v) => decode("members", &v),
            None => Err(StorageError::NotFound(format!("member {id}"))),
        }
    }

    pub fn members_of(&self, team: TeamId) -> StorageResult<Vec<Member>> {
        self.t
            .members_by_team
            .scan_prefix(id_key(team))
            .keys()
            .map(|k| self.member(key_id("members_by_team", &k?)?))
            .collect()
    }

    /// Every membership of an address, across teams.
    pub fn members_by_email(&self, email: &str) -> StorageResult<Vec<Member>> {
        let prefix = key(&[email.to_lowercase().as_bytes(), &[0]]);
        self.t
            .members_by_email
            .scan_prefix(prefix)
            .values()
            .map(|v| self.member(key_id("members_by_email", &v?)?))
            .collect()
    }

    /// Applies `change` to a member atomically and returns the new record.
    pub fn update_member(
        &self,
        id: MemberId,
        change: impl Fn(&mut Member),
    ) -> StorageResult<Member> {
        let _w = self.write_gate();
        let updated = self.t.members.transaction(|members| -> TxResult<Member> {
            let Some(old) = members.get(id_key(id))? else {
                return abort(StorageError::NotFound(format!("member {id}")));
            };
            let mut m: Member = decode("members", &old).or_else(abort)?;
            let (email, team) = (m.email.clone(), m.team_id);
            change(&mut m);
            if m.email != email || m.team_id != team || m.id != id {
                return abort(StorageError::Conflict(
                    "a member's email, team and id cannot change here".into(),
                ));
            }
            members.insert(&id_key(id), encode(&m).or_else(abort)?)?;
            Ok(m)
        })?;
        Ok(updated)
    }
}
