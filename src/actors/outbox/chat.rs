//! Chat messages in the outbox: how one is enqueued, where it goes when its turn comes, and what a
//! channel's answer means for it.
//!
//! A chat message is an outbox message like an email (the same states, due times, retries, maximum
//! age, idempotency key and crash recovery); its body is a [`ChatEnvelope`] as JSON and its
//! `channel` names the chat channel. Prompts and digests are sent to where the member's account or
//! the team's chat is *now* (resolved from storage at each attempt), so a chat that moved or an
//! account that broke after the message was queued is honoured; a notice (an answer in the chat a
//! person wrote in) goes where it was addressed.
//!
//! Invariant: everything a channel's answer changes in storage (a prompt's delivery, a broken
//! account, a moved chat) is written before the outcome is recorded, so a crash in between repeats
//! the send (at least once) rather than forgetting its effect.

use bots::bus::{ChatSendError, ChatSent, Outgoing, OutgoingBody};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storage::{
    Channel, Delivery, MemberId, NewOutboxMessage, OutboxKind, OutboxMessage, PromptId, Store,
    TeamId,
};
use tracing::{info, warn};

use crate::error::{AppError, AppResult};

/// The body of a chat message in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatEnvelope {
    /// The prompt this message carries, so that its platform message ids are recorded as the
    /// prompt's deliveries (a reply to one of them is matched to the prompt's day).
    #[serde(default)]
    pub prompt: Option<PromptId>,
    /// The team's prompt of this day, posted in the team's chat: replies in its thread are that
    /// day's dones (the thread is recorded when it is sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_prompt: Option<chrono::NaiveDate>,
    pub message: Outgoing,
}

/// Who a chat message is for: a member's account (`to` resolved at each attempt), a team's chat
/// (likewise), or exactly the chat it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    Member(TeamId, MemberId),
    TeamChat(TeamId),
    Chat,
}

/// The outbox message for `message` on `channel`. `message.key` is its idempotency key.
pub fn new_message(
    channel: Channel,
    recipient: Recipient,
    kind: OutboxKind,
    prompt: Option<PromptId>,
    message: Outgoing,
    now: DateTime<Utc>,
) -> AppResult<NewOutboxMessage> {
    let (team_id, member_id) = match recipient {
        Recipient::Member(t, m) => (Some(t), Some(m)),
        Recipient::TeamChat(t) => (Some(t), None),
        Recipient::Chat => (None, None),
    };
    let key = message.key.clone();
    let to = message.to.clone();
    // A prompt to a team's chat is the team's (thread style): its thread is recorded when sent.
    let team_prompt = match (recipient, &message.body) {
        (Recipient::TeamChat(_), OutgoingBody::Prompt { day, .. }) => Some(*day),
        _ => None,
    };
    let body = serde_json::to_vec(&ChatEnvelope {
        prompt,
        team_prompt,
        message,
    })
    .map_err(|e| AppError::Invalid(format!("cannot encode a chat message: {e}")))?;
    Ok(NewOutboxMessage {
        key: key.clone(),
        channel,
        kind,
        team_id,
        member_id,
        envelope_from: String::new(),
        envelope_to: vec![to],
        message_id: key,
        body,
        due_at: now,
    })
}

/// Whom a stored message is for (see [`Recipient`]).
pub fn recipient(m: &OutboxMessage) -> Recipient {
    match (m.kind, m.team_id, m.member_id) {
        (OutboxKind::Confirmation, _, _) => Recipient::Chat,
        (_, Some(t), Some(member)) => Recipient::Member(t, member),
        (_, Some(t), None) => Recipient::TeamChat(t),
        _ => Recipient::Chat,
    }
}

/// The message to hand to the channel for this attempt: decoded, addressed to the current chat.
/// `Err` is why it cannot be sent any more (unreadable, unlinked): the message fails.
pub fn prepare(store: &Store, m: &OutboxMessage, body: &[u8]) -> Result<ChatEnvelope, String> {
    let mut envelope: ChatEnvelope = serde_json::from_slice(body)
        .map_err(|e| format!("unreadable chat message in the outbox: {e}"))?;
    let current = match recipient(m) {
        Recipient::Member(_, member) => {
            let member = store.member(member).map_err(|e| e.to_string())?;
            let account = member.identities.account(m.channel).ok_or_else(|| {
                format!(
                    "the member has no working {} account any more",
                    m.channel.as_str()
                )
            })?;
            Some(account.chat_id.clone())
        }
        Recipient::TeamChat(team) => {
            let team = store.team(team).map_err(|e| e.to_string())?;
            let chat = team
                .digest_to
                .chat(m.channel)
                .ok_or_else(|| format!("the team has no {} chat any more", m.channel.as_str()))?;
            Some(chat.to_owned())
        }
        Recipient::Chat => None,
    };
    if let Some(to) = current {
        envelope.message.to = to;
    }
    Ok(envelope)
}

/// What an answer means for the message.
pub enum Verdict {
    Sent(String),
    /// Try again at this time (`None`: after the usual backoff).
    Retry(Option<DateTime<Utc>>, String),
    Failed(String),
}

/// Applies the side effects of a channel's answer and says what it means for the message.
pub fn judge(
    store: &Store,
    m: &OutboxMessage,
    envelope: &ChatEnvelope,
    result: Result<ChatSent, ChatSendError>,
    now: DateTime<Utc>,
) -> Verdict {
    let to = &envelope.message.to;
    match result {
        Ok(sent) => {
            // The conversation the channel posted to (a DM it opened for a user id), as replies
            // will name it.
            let chat = sent.chat_id.as_deref().unwrap_or(to);
            if let (Some(day), Some(team)) = (envelope.team_prompt, m.team_id) {
                for id in &sent.message_ids {
                    if let Err(e) = store.set_chat_thread(m.channel, chat, id, team, day) {
                        // Sent anyway; replies in its thread are then not recognised as dones.
                        warn!(outbox_id = m.id, error = %e, "cannot record a team prompt's thread");
                    }
                }
            }
            if let Some(prompt) = envelope.prompt {
                for id in &sent.message_ids {
                    let delivery = Delivery {
                        channel: m.channel,
                        outbox_id: Some(m.id),
                        message_id: Some(message_key(m.channel, chat, id)),
                    };
                    if let Err(e) = store.add_delivery(prompt, delivery) {
                        // Sent anyway; a reply to it is matched to the member's latest prompt.
                        warn!(prompt_id = prompt, error = %e, "cannot record a prompt's chat delivery");
                    }
                }
            }
            Verdict::Sent(format!("message ids {}", sent.message_ids.join(",")))
        }
        Err(ChatSendError::RateLimited { retry_after_secs }) => {
            let secs = i64::try_from(retry_after_secs).unwrap_or(i64::MAX / 2000);
            Verdict::Retry(
                Some(now + chrono::Duration::seconds(secs)),
                format!("rate limited: retry after {retry_after_secs} s"),
            )
        }
        Err(ChatSendError::Migrated { to: new }) => {
            let moved = match recipient(m) {
                Recipient::Member(_, member) => {
                    store.move_account_chat(member, m.channel, &new).map(|_| ())
                }
                Recipient::TeamChat(team) => {
                    store.set_team_chat(team, m.channel, Some(&new)).map(|_| ())
                }
                Recipient::Chat => {
                    return Verdict::Failed(format!("the chat moved to {new}"));
                }
            };
            match moved {
                Ok(()) => {
                    info!(outbox_id = m.id, channel = %m.channel, from = %to, to = %new, "chat moved; destination updated");
                    Verdict::Retry(Some(now), format!("the chat moved to {new}"))
                }
                Err(e) => Verdict::Retry(None, format!("the chat moved to {new}: {e}")),
            }
        }
        Err(ChatSendError::Blocked(why)) => {
            let broken = match recipient(m) {
                Recipient::Member(_, member) => {
                    store.mark_account_broken(member, m.channel).map(|_| ())
                }
                Recipient::TeamChat(team) => store.set_team_chat(team, m.channel, None).map(|_| ()),
                Recipient::Chat => Ok(()),
            };
            if let Err(e) = broken {
                warn!(outbox_id = m.id, error = %e, "cannot mark a chat unreachable");
            }
            warn!(outbox_id = m.id, channel = %m.channel, %why, "chat unreachable; link marked broken");
            Verdict::Failed(format!("unreachable: {why}"))
        }
        Err(ChatSendError::Permanent(why)) => Verdict::Failed(why),
        Err(ChatSendError::Transient(why)) => Verdict::Retry(None, why),
    }
}

/// The id under which a chat message is known to storage (prompts' deliveries, dones' sources).
pub fn message_key(channel: Channel, chat: &str, message: &str) -> String {
    format!("{}:{chat}:{message}", channel.as_str())
}
