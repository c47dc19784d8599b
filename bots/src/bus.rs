//! The messages a channel exchanges with the rest of donebot.
//!
//! These are plain data: who to reach, what to say, what came back. The app (`src/bus.rs`) adds the
//! messages between its own actors; channels only ever see the types here.

use actix::Message;

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

/// A chat platform donebot speaks on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatPlatform {
    Slack,
    Discord,
    Telegram,
}

impl ChatPlatform {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatPlatform::Slack => "slack",
            ChatPlatform::Discord => "discord",
            ChatPlatform::Telegram => "telegram",
        }
    }
}

/// What a chat message carries, so the channel can format it (a prompt asks for a reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    Prompt,
    Digest,
    Notice,
}

/// Send one message to a chat (a member's private chat or a team's group/channel).
///
/// `key` is an idempotency key (`prompt:17:telegram`): a channel retries transient failures itself
/// and never sends the same key twice while it runs. The app persists the answer.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<ChatSent, ChatSendError>")]
pub struct ChatSend {
    pub key: String,
    /// The platform's chat / channel id, as a string (`"555"`, `"-100123"`, `"C024BE91L"`).
    pub chat_id: String,
    pub kind: ChatKind,
    /// Plain text written by donebot; user-written parts must already be marked by `sections`.
    pub text: String,
    /// Optional structured content the channel renders in its own markup (escaping user text).
    pub sections: Vec<ChatSection>,
    /// Thread or message to reply to, when the platform has threads.
    pub reply_to: Option<String>,
}

/// A titled list of user-written lines (a member's dones in a digest). The channel escapes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSection {
    pub title: String,
    pub lines: Vec<String>,
}

/// The platform's ids of what was sent (a long digest may be split into several messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSent {
    pub message_ids: Vec<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatSendError {
    /// Retrying later can help (5xx, timeouts, rate limits beyond the channel's patience).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The user blocked the bot or left: the link to this chat is broken.
    #[error("the chat is unreachable: {0}")]
    Blocked(String),
    /// Never retry (bad request, chat not found).
    #[error("rejected: {0}")]
    Permanent(String),
}

/// Something a person wrote to the bot. The app answers with what to reply (if anything).
///
/// The app makes the effects durable before it answers; only then does the channel confirm the
/// update to the platform (a webhook's `200`, a polling offset).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<ChatAnswer, ChatReceiveError>")]
pub struct ChatReceived {
    pub platform: ChatPlatform,
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
    pub edited: bool,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// What to say back in the same chat; `None` when silence is right.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatAnswer {
    pub reply: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatReceiveError {
    /// Not recorded; the platform should deliver it again (storage busy).
    #[error("temporarily unable to take the message: {0}")]
    Transient(String),
}
