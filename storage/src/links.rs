//! Chat identities: one-time link codes, and the index from a platform account to its member.
//!
//! A code is created for a purpose (link a member's account, connect a team's group chat), expires,
//! and is consumed in the same transaction that applies it, so it works exactly once.

use chrono::{DateTime, Utc};
use sled::Transactional;

use crate::codec::{decode, encode, id_key, key, key_id};
use crate::error::{StorageError, StorageResult, TxResult, abort};
use crate::{Channel, LinkCode, LinkPurpose, Member, MemberId, Store, Team};

fn identity_key(channel: Channel, id: &str) -> Vec<u8> {
    key(&[channel.as_str().as_bytes(), &[0], id.as_bytes()])
}

/// What consuming a code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linked {
    Member(Member),
    TeamChat(Team),
}

impl Store {
    pub fn create_link_code(&self, code: &str, link: &LinkCode) -> StorageResult<()> {
        let _w = self.write_gate();
        self.t.link_codes.insert(code.as_bytes(), encode(link)?)?;
        self.flush()?;
        Ok(())
    }

    /// Applies and deletes a code: links `account` (the platform's user or chat id) to the member,
    /// or sets the team's group chat. Unknown, used or expired codes are `NotFound`.
    pub fn consume_link_code(
        &self,
        code: &str,
        account: &str,
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
                match link.purpose {
                    LinkPurpose::Member { member_id } => {
                        let Some(m) = members.get(id_key(member_id))? else {
                            return abort(StorageError::NotFound(format!("member {member_id}")));
                        };
                        let mut m: Member = decode("members", &m).or_else(abort)?;
                        let old = match link.channel {
                            Channel::Telegram => m
                                .identities
                                .telegram_chat_id
                                .replace(
                                    account
                                        .parse()
                                        .map_err(|_| {
                                            StorageError::Conflict(format!(
                                                "{account:?} is not a Telegram chat id"
                                            ))
                                        })
                                        .or_else(abort)?,
                                )
                                .map(|v| v.to_string()),
                            Channel::Slack => {
                                m.identities.slack_user_id.replace(account.to_string())
                            }
                            Channel::Discord => {
                                m.identities.discord_user_id.replace(account.to_string())
                            }
                            other => {
                                return abort(StorageError::Conflict(format!(
                                    "{} accounts cannot be linked",
                                    other.as_str()
                                )));
                            }
                        };
                        if let Some(old) = old {
                            identities.remove(identity_key(link.channel, &old))?;
                        }
                        identities
                            .insert(identity_key(link.channel, account), &id_key(member_id))?;
                        members.insert(&id_key(member_id), encode(&m).or_else(abort)?)?;
                        Ok(Linked::Member(m))
                    }
                    LinkPurpose::TeamChat { team_id } => {
                        let Some(t) = teams.get(id_key(team_id))? else {
                            return abort(StorageError::NotFound(format!("team {team_id}")));
                        };
                        let mut t: Team = decode("teams", &t).or_else(abort)?;
                        match link.channel {
                            Channel::Telegram => {
                                t.digest_to.telegram_chat_id = Some(
                                    account
                                        .parse()
                                        .map_err(|_| {
                                            StorageError::Conflict(format!(
                                                "{account:?} is not a Telegram chat id"
                                            ))
                                        })
                                        .or_else(abort)?,
                                )
                            }
                            Channel::Slack => t.digest_to.slack_channel = Some(account.to_string()),
                            Channel::Discord => {
                                t.digest_to.discord_channel = Some(account.to_string())
                            }
                            other => {
                                return abort(StorageError::Conflict(format!(
                                    "{} chats cannot be connected",
                                    other.as_str()
                                )));
                            }
                        }
                        teams.insert(&id_key(team_id), encode(&t).or_else(abort)?)?;
                        Ok(Linked::TeamChat(t))
                    }
                }
            })?;
        self.flush()?;
        Ok(linked)
    }

    /// The member linked to a platform account.
    pub fn member_by_identity(
        &self,
        channel: Channel,
        account: &str,
    ) -> StorageResult<Option<Member>> {
        match self
            .t
            .members_by_identity
            .get(identity_key(channel, account))?
        {
            Some(id) => Ok(Some(self.member(key_id("members_by_identity", &id)?)?)),
            None => Ok(None),
        }
    }

    /// Forgets a member's account on a platform (the user blocked the bot).
    pub fn unlink_identity(&self, member: MemberId, channel: Channel) -> StorageResult<Member> {
        let _w = self.write_gate();
        let m = (&self.t.members, &self.t.members_by_identity).transaction(
            |(members, identities)| -> TxResult<Member> {
                let Some(raw) = members.get(id_key(member))? else {
                    return abort(StorageError::NotFound(format!("member {member}")));
                };
                let mut m: Member = decode("members", &raw).or_else(abort)?;
                let old = match channel {
                    Channel::Telegram => {
                        m.identities.telegram_chat_id.take().map(|v| v.to_string())
                    }
                    Channel::Slack => m.identities.slack_user_id.take(),
                    Channel::Discord => m.identities.discord_user_id.take(),
                    _ => None,
                };
                if let Some(old) = old {
                    identities.remove(identity_key(channel, &old))?;
                }
                members.insert(&id_key(member), encode(&m).or_else(abort)?)?;
                Ok(m)
            },
        )?;
        Ok(m)
    }
}
