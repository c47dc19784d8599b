//! `start CODE` / `connect CODE`: links a member's chat account, or makes a group chat get the
//! team's digest, with a one-time code (consumed in the transaction that applies it). And
//! [`by_email`]: members linked with no step of theirs, where the platform finds people by email
//! address (Slack).

use bots::bus::ChatSendError;
use storage::{Channel, Linked, LinkedFrom, Member};
use tracing::{info, warn};

use crate::actors::Actors;
use crate::actors::team::Reload;
use crate::context::AppContext;
use crate::error::AppResult;

pub fn run(
    app: &AppContext,
    actors: &Actors,
    channel: Channel,
    code: &str,
    from: LinkedFrom<'_>,
) -> AppResult<String> {
    match app.store.consume_link_code(code.trim(), from, app.now())? {
        Linked::Member(m) => {
            info!(member_id = m.id, channel = %channel, "chat account linked");
            actors.team(m.team_id)?.do_send(Reload);
            Ok(format!(
                "Hi {}! You're linked: I'll ask you here what you got done each workday. Just reply with one line per thing.",
                m.name
            ))
        }
        Linked::TeamChat(t) => {
            info!(team_id = t.id, channel = %channel, "team chat connected");
            actors.team(t.id)?.do_send(Reload);
            Ok(format!("This chat now gets {}'s morning digest.", t.name))
        }
    }
}

/// The longest wait for a platform's rate limit between two lookups.
const MAX_LOOKUP_PAUSE: std::time::Duration = std::time::Duration::from_secs(60);

/// Looks `members` up by their email address on every running channel that can, one lookup at a
/// time, and links those found (unless they have an account there already; see
/// `Store::link_found_account`). Their platform's zone becomes theirs if they have none. A
/// channel that refuses (a missing scope) is left after its first refusal, with a warning.
pub async fn by_email(app: &AppContext, actors: &Actors, members: Vec<Member>) {
    for channel in actors.channels().all() {
        let Some(name) = Channel::try_new(channel.name()) else {
            continue;
        };
        let mut linked = Vec::new();
        for member in members
            .iter()
            .filter(|m| !m.identities.accounts.iter().any(|a| a.channel == name))
        {
            let found = loop {
                match channel.find_account(&member.email).await {
                    Err(ChatSendError::RateLimited { retry_after_secs }) => {
                        // The platform's own pacing; nothing else waits on this task.
                        let pause =
                            std::time::Duration::from_secs(retry_after_secs).min(MAX_LOOKUP_PAUSE);
                        tokio::time::sleep(pause).await;
                    }
                    other => break other,
                }
            };
            let account = match found {
                Ok(Some(account)) => account,
                Ok(None) => continue,
                Err(ChatSendError::Transient(why)) => {
                    warn!(channel = %name, member_id = member.id, %why, "account lookup failed; tried again at the next start");
                    continue;
                }
                Err(e) => {
                    warn!(channel = %name, error = %e, "account lookup by email refused; members link by hand on this channel");
                    break;
                }
            };
            // Only a zone this server knows; else the team's stays theirs.
            let zone = account
                .timezone
                .as_deref()
                .filter(|z| crate::ops::parse_tz(z).is_ok());
            let from = LinkedFrom {
                user_id: &account.user_id,
                chat_id: &account.chat_id,
            };
            match app.store.link_found_account(member.id, name, from, zone) {
                Ok(Some(m)) => {
                    info!(member_id = m.id, channel = %name, "account found by email and linked");
                    if let Ok(team) = actors.team(m.team_id) {
                        team.do_send(Reload);
                    }
                    linked.push(m.id);
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(member_id = member.id, channel = %name, error = %e, "cannot link a found account")
                }
            }
        }
        app.emit(crate::events::Event::AccountsLookedUp {
            channel: name.as_str().to_owned(),
            linked,
        });
    }
}
