//! The messages a channel exchanges with the rest of donebot.
//!
//! These are plain data (serde), so that a later deployment on several machines can carry them over
//! a broker: who to reach, what to say, what came back. The messages between the app's own actors
//! are declared next to the actor that handles them (`src/actors/*.rs`); channels only ever see the
//! types here and the seam in [`crate::channel`].

use actix::Message;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A raw email accepted on the wire (SMTP listener or an HTTP inbound endpoint), to be made durable.
///
/// The receiver answers `Ok` only once the message is durable in the inbound log; only then may the
/// channel acknowledge it to the sender (SMTP `250`, HTTP `200`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<InboundAccepted, InboundRefused>")]
pub struct InboundMail {
    /// Where it came from: `smtp`, `http`, `sendgrid`, `mailgun`.
    pub via: &'static str,
    /// SMTP envelope sender (`MAIL FROM`), empty for the null sender `<>`.
    pub mail_from: String,
    /// SMTP envelope recipients (`RCPT TO`), or the `To` of an HTTP post.
    pub rcpt_to: Vec<String>,
    /// The message as received, RFC 5322 bytes.
    pub raw: Vec<u8>,
}

/// The inbound log's id for an accepted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundAccepted {
    pub id: u64,
}

/// Why an inbound message was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InboundRefused {
    /// Try again later (storage busy or failing): SMTP `451`, HTTP `503`.
    #[error("temporarily unable to accept the message: {0}")]
    Transient(String),
    /// Never try again: SMTP `550`, HTTP `400`.
    #[error("message refused: {0}")]
    Permanent(String),
}

/// What a chat message carries, so the channel can format it (a prompt asks for a reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    Prompt,
    Digest,
    Notice,
}

/// One outgoing chat message: the only thing the app asks a channel to send (prompts, digests,
/// notices, answers to commands). Plain data, kept as the body of its outbox message.
///
/// `key` is the outbox's idempotency key (`prompt:17:telegram`); a channel never sends the same key
/// twice while it runs, and the outbox sends it once more only after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    pub key: String,
    /// The platform's chat / channel id, as a string (`"555"`, `"-100123"`, `"C024BE91L"`).
    pub to: String,
    pub body: OutgoingBody,
    /// A message to reply to, when the platform has replies or threads.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// The answer to a message that came with its own way back ([`ChatReceived::answer_via`]:
    /// Slack's `response_url`, seen only by the person who asked); `to` is the fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_via: Option<String>,
}

/// What to say, platform-neutral: each channel renders it in its own markup and escapes user text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutgoingBody {
    /// The daily question; `text` is donebot's own wording, the channel asks for a reply.
    Prompt { day: NaiveDate, text: String },
    /// The digest, built once by the app as a domain value.
    Digest(Digest),
    /// Anything else donebot says (an answer to a command, a confirmation).
    Notice { text: String },
}

impl OutgoingBody {
    pub fn kind(&self) -> ChatKind {
        match self {
            OutgoingBody::Prompt { .. } => ChatKind::Prompt,
            OutgoingBody::Digest(_) => ChatKind::Digest,
            OutgoingBody::Notice { .. } => ChatKind::Notice,
        }
    }
}

/// A team's digest of the days `from..=to`: a title, one section per member who answered (their
/// lines, written by them: a channel must escape them), and who did not answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub team: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// donebot's own heading (`What Core got done on Monday, March 9`).
    pub title: String,
    pub sections: Vec<DigestSection>,
    /// Active members without an answer.
    pub quiet: Vec<String>,
}

/// One member's lines in a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestSection {
    pub member: String,
    pub lines: Vec<DigestLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestLine {
    /// `done`, `goal` or `blocker`.
    pub kind: String,
    pub text: String,
}

impl DigestLine {
    /// The line as shown in plain text: a goal or a blocker says so.
    pub fn label(&self) -> String {
        match self.kind.as_str() {
            "goal" => format!("Goal: {}", self.text),
            "blocker" => format!("Blocker: {}", self.text),
            _ => self.text.clone(),
        }
    }
}

/// The platform's ids of what was sent (a long digest may be split into several messages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSent {
    pub message_ids: Vec<String>,
    /// The conversation the messages went to, when it is not `Outgoing::to` (a DM opened for a
    /// user id on Slack or Discord): replies name it, so the app keys the messages by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
}

/// Why a channel did not send; the outbox decides retry or give-up from the variant, never from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatSendError {
    /// Retrying later can help (5xx, timeouts, a dropped connection).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The platform asks not to send before this many seconds (Telegram `429 retry_after`).
    #[error("rate limited: retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The chat moved (a Telegram group upgraded to a supergroup): send to `to` from now on.
    #[error("the chat moved to {to}")]
    Migrated { to: String },
    /// The user blocked the bot, or the bot was removed from the chat: the link to it is broken.
    #[error("the chat is unreachable: {0}")]
    Blocked(String),
    /// Never retry (bad request, chat not found, the channel is not configured).
    #[error("rejected: {0}")]
    Permanent(String),
}

/// What happened to a message a person wrote: a new one, an edit of an earlier one, or its deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatEvent {
    Message,
    /// `message_id` is the edited message's; its dones are replaced by the new text.
    Edit,
    /// `message_id` is the deleted message's; its dones are removed.
    Delete,
}

/// Something a person wrote to the bot. The app answers with what to reply (if anything).
///
/// The app makes the effects durable before it answers; only then does the channel confirm the
/// update to the platform (a webhook's `200`, a polling offset).
#[derive(Debug, Clone, Message, Serialize, Deserialize)]
#[rtype(result = "Result<ChatAnswer, ChatReceiveError>")]
pub struct ChatReceived {
    /// The channel's name (`telegram`), as in the registry.
    pub channel: String,
    /// Update-level id, unique per platform (for idempotency of redelivered updates).
    pub update_id: String,
    /// The message's id; an edit carries the id of the message it edits.
    pub message_id: String,
    pub chat_id: String,
    /// True for a private chat / DM.
    pub private: bool,
    pub user_id: String,
    pub user_name: String,
    pub text: String,
    /// The message this one replies to, if any (a reply to a prompt).
    pub reply_to: Option<String>,
    pub event: ChatEvent,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `true`: answer as soon as the message is in the app's durable log and process it after (a
    /// platform that gives a webhook seconds, as Slack's 3); `false`: answer once its effects are
    /// durable.
    #[serde(default)]
    pub deferred: bool,
    /// Where the platform wants the answer to this message (Slack's `response_url`), if not in the
    /// chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_via: Option<String>,
}

/// What to say back in the same chat; `None` when silence is right (the app sends its answers
/// through the outbox itself, so it answers `None`; a channel used without the app may not).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChatAnswer {
    pub reply: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
pub enum ChatReceiveError {
    /// Not recorded; the platform should deliver it again (storage busy).
    #[error("temporarily unable to take the message: {0}")]
    Transient(String),
}
