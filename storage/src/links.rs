//! Chat identities: one-time link codes, the index from a channel's user to its member, and the
//! migration of older records' per-platform fields.
//!
//! A code is created for a purpose (link a member's account, connect a team's group chat), expires,
//! and is consumed in the same transaction that applies it, so it works exactly once. An account
//! keeps the platform's user id (the key of `members_by_identity`: who writes) apart from the chat
//! the bot writes to (a DM's id on Slack or Discord, equal to the user id on Telegram).
//!
//! Invariant: `members_by_identity` holds `channel‖0‖user id` for exactly the accounts in members'
//! records (broken ones included: a member who blocked the bot is still recognised when they write).

use chrono::{DateTime, Utc};
use sled::Transactional;

use crate::codec::{decode, encode, id_key, key, key_id};
use crate::error::{StorageError, StorageResult, TxResult, abort};
use crate::{Account, Channel, LinkCode, LinkPurpose, Member, MemberId, Store, Team, TeamId};

pub(crate) fn identity_key(channel: Channel, id: &str) -> Vec<u8> {
    key(&[channel.as_str().as_bytes(), &[0], id.as_bytes()])
}

/// What consuming a code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linked {
    Member(Member),
    TeamChat(Team),
}

/// Who wrote the code and where: the platform's user id and the chat it was written in.
#[derive(Debug, Clone, Copy)]
pub struct LinkedFrom<'a> {
    pub user_id: &'a str,
    pub chat_id: &'a str,
}

impl Store {
    pub fn create_link_code(&self, code: &str, link: &LinkCode) -> StorageResult<()> {
        let _w = self.write_gate();
        self.t.link_codes.insert(code.as_bytes(), encode(link)?)?;
        self.flush()?;
        Ok(())
    }

    /// Applies and deletes a code: links the account `from` to the member (replacing their
    /// account on that channel), or makes `from.chat_id` the team's chat on the code's channel.
    /// Unknown, used or expired codes are `NotFound`.
    pub fn consume_link_code(
        &self,
        code: &str,
        from: LinkedFrom<'_>,
        now: DateTime<Utc>,
    ) -> StorageResult<Linked> {
        let _w = self.write_gate();
        let linked = (
            &self.t.link_codes,
            &self.t.members,
            &self.t.members_by_identity,
            &self.t.teams,
        )
            .transaction(|(codes, members, identities, teams)| -> TxResult<Linked> {
                let gone = || StorageError::NotFound("this code (unknown, used or expired)".into());
                let Some(raw) = codes.remove(code.as_bytes())? else {
                    return abort(gone());
                };
                let link: LinkCode = decode("link_codes", &raw).or_else(abort)?;
                if link.expires_at < now {
                    return abort(gone());
                }
                if !link.channel.is_chat() {
                    return abort(StorageError::Conflict(format!(
                        "{} accounts cannot be linked",
                        link.channel
                    )));
                }
                match link.purpose {
                    LinkPurpose::Member { member_id } => {
                        let Some(m) = members.get(id_key(member_id))? else {
                            return abort(StorageError::NotFound(format!("member {member_id}")));
                        };
                        let mut m: Member = decode("members", &m).or_else(abort)?;
                        let accounts = &mut m.identities.accounts;
                        for old in accounts.iter().filter(|a| a.channel == link.channel) {
                            identities.remove(identity_key(link.channel, &old.user_id))?;
                        }
                        accounts.retain(|a| a.channel != link.channel);
                        accounts.push(Account {
                            channel: link.channel,
                            user_id: from.user_id.to_owned(),
                            chat_id: from.chat_id.to_owned(),
                            broken: false,
                        });
                        identities
                            .insert(identity_key(link.channel, from.user_id), &id_key(member_id))?;
                        members.insert(&id_key(member_id), encode(&m).or_else(abort)?)?;
                        Ok(Linked::Member(m))
                    }
                    LinkPurpose::TeamChat { team_id } => {
                        let Some(t) = teams.get(id_key(team_id))? else {
                            return abort(StorageError::NotFound(format!("team {team_id}")));
                        };
                        let mut t: Team = decode("teams", &t).or_else(abort)?;
                        t.digest_to
                            .set_chat(link.channel, Some(from.chat_id.to_owned()));
                        teams.insert(&id_key(team_id), encode(&t).or_else(abort)?)?;
                        Ok(Linked::TeamChat(t))
                    }
                }
            })?;
        self.flush()?;
        Ok(linked)
    }

    /// The member linked to a channel's user.
    pub fn member_by_identity(
        &self,
        channel: Channel,
        user_id: &str,
    ) -> StorageResult<Option<Member>> {
        match self
            .t
            .members_by_identity
            .get(identity_key(channel, user_id))?
        {
            Some(id) => Ok(Some(self.member(key_id("members_by_identity", &id)?)?)),
            None => Ok(None),
        }
    }

    /// Links the account `from` on `channel` to a member found by the platform (by email
    /// address), unless they have an account there already (a working or a broken one: it was
    /// linked on purpose, or the platform said it cannot be reached) or that account is another
    /// member's. Offers the platform's zone as theirs when they have none. Returns the member when
    /// it linked.
    pub fn link_found_account(
        &self,
        member_id: MemberId,
        channel: Channel,
        from: LinkedFrom<'_>,
        timezone: Option<&str>,
    ) -> StorageResult<Option<Member>> {
        let _w = self.write_gate();
        let linked = (&self.t.members, &self.t.members_by_identity).transaction(
            |(members, identities)| -> TxResult<Option<Member>> {
                let Some(m) = members.get(id_key(member_id))? else {
                    return abort(StorageError::NotFound(format!("member {member_id}")));
                };
                let mut m: Member = decode("members", &m).or_else(abort)?;
                let ikey = identity_key(channel, from.user_id);
                if m.identities.accounts.iter().any(|a| a.channel == channel)
                    || identities.get(&ikey)?.is_some()
                {
                    return Ok(None);
                }
                m.identities.accounts.push(Account {
                    channel,
                    user_id: from.user_id.to_owned(),
                    chat_id: from.chat_id.to_owned(),
                    broken: false,
                });
                if m.timezone.is_none() {
                    m.timezone = timezone.map(str::to_owned);
                }
                identities.insert(ikey, &id_key(member_id))?;
                members.insert(&id_key(member_id), encode(&m).or_else(abort)?)?;
                Ok(Some(m))
            },
        )?;
        if linked.is_some() {
            self.flush()?;
        }
        Ok(linked)
    }

    /// Marks a member's account on `channel` broken (the user blocked the bot): nothing more is
    /// sent there, and the member is still recognised when they write.
    pub fn mark_account_broken(&self, member: MemberId, channel: Channel) -> StorageResult<Member> {
        self.update_member(member, |m| {
            for a in m.identities.accounts.iter_mut() {
                if a.channel == channel {
                    a.broken = true;
                }
            }
        })
    }

    /// Moves a member's private chat on `channel` (the platform moved it).
    pub fn move_account_chat(
        &self,
        member: MemberId,
        channel: Channel,
        chat_id: &str,
    ) -> StorageResult<Member> {
        self.update_member(member, |m| {
            for a in m.identities.accounts.iter_mut() {
                if a.channel == channel {
                    a.chat_id = chat_id.to_owned();
                }
            }
        })
    }

    /// Forgets a member's account on a channel.
    pub fn unlink_identity(&self, member: MemberId, channel: Channel) -> StorageResult<Member> {
        let _w = self.write_gate();
        let m = (&self.t.members, &self.t.members_by_identity).transaction(
            |(members, identities)| -> TxResult<Member> {
                let Some(raw) = members.get(id_key(member))? else {
                    return abort(StorageError::NotFound(format!("member {member}")));
                };
                let mut m: Member = decode("members", &raw).or_else(abort)?;
                for old in m
                    .identities
                    .accounts
                    .iter()
                    .filter(|a| a.channel == channel)
                {
                    identities.remove(identity_key(channel, &old.user_id))?;
                }
                m.identities.accounts.retain(|a| a.channel != channel);
                members.insert(&id_key(member), encode(&m).or_else(abort)?)?;
                Ok(m)
            },
        )?;
        Ok(m)
    }

    /// Sets (or removes) a team's chat on `channel`, e.g. after the platform moved the group.
    pub fn set_team_chat(
        &self,
        team: TeamId,
        channel: Channel,
        chat_id: Option<&str>,
    ) -> StorageResult<Team> {
        let mut t = self.team(team)?;
        t.digest_to.set_chat(channel, chat_id.map(str::to_owned));
        self.update_team(&t)?;
        Ok(t)
    }

    /// Rewrites members and teams whose records still have per-platform chat fields into
    /// accounts and destinations keyed by channel (and indexes the accounts). Idempotent; runs
    /// at every open and costs a scan of members and teams. Returns how many records changed.
    pub(crate) fn migrate_chat_fields(&self) -> StorageResult<usize> {
        let mut changed = 0;
        for item in self.t.members.iter() {
            let (k, v) = item?;
            let mut m: Member = decode("members", &v)?;
            if m.identities.migrate() {
                (&self.t.members, &self.t.members_by_identity).transaction(
                    |(members, identities)| -> TxResult<()> {
                        for a in &m.identities.accounts {
                            identities
                                .insert(identity_key(a.channel, &a.user_id), &id_key(m.id))?;
                        }
                        members.insert(k.as_ref(), encode(&m).or_else(abort)?)?;
                        Ok(())
                    },
                )?;
                changed += 1;
            }
        }
        for item in self.t.teams.iter() {
            let (k, v) = item?;
            let mut t: Team = decode("teams", &v)?;
            if t.digest_to.migrate() {
                self.t.teams.insert(k, encode(&t)?)?;
                changed += 1;
            }
        }
        if changed > 0 {
            self.flush()?;
        }
        Ok(changed)
    }
}
