//! The records donebot keeps: teams, members, prompts, dones, outbox messages, inbound mail, tokens.
//!
//! These are plain data with serde derives; new fields get `#[serde(default)]` so older records
//! still read. Names follow PRODUCT.md: a *prompt* is the daily question to one member, a *done* is
//! one line of an answer, a *digest* is the morning summary.

use chrono::{DateTime, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

pub type TeamId = u64;
pub type MemberId = u64;
pub type PromptId = u64;
pub type DoneId = u64;
pub type OutboxId = u64;
pub type InboundId = u64;

/// Where a prompt went or a done came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Slack,
    Discord,
    Telegram,
    Web,
    Api,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Slack => "slack",
            Channel::Discord => "discord",
            Channel::Telegram => "telegram",
            Channel::Web => "web",
            Channel::Api => "api",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    /// IANA zone name, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Cron expression of the prompt, in each member's local time.
    pub prompt_cron: String,
    /// Cron expression of the digest, in each member's local time.
    pub digest_cron: String,
    pub working_days: Vec<Weekday>,
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    #[serde(default)]
    pub digest_to: DigestDestinations,
    pub created_at: DateTime<Utc>,
}

/// Where a team's digest goes besides each member's own channels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestDestinations {
    /// Email every active member (the default).
    #[serde(default = "yes")]
    pub email_members: bool,
    #[serde(default)]
    pub slack_channel: Option<String>,
    #[serde(default)]
    pub discord_channel: Option<String>,
    #[serde(default)]
    pub telegram_chat_id: Option<i64>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub team_id: TeamId,
    pub name: String,
    /// As given; lookups use the lowercased form.
    pub email: String,
    /// IANA zone; `None` means the team's.
    pub timezone: Option<String>,
    #[serde(default)]
    pub identities: Identities,
    /// Channels the prompt goes out on; email when empty.
    #[serde(default)]
    pub prompt_channels: Vec<Channel>,
    /// Chat channels the member also wants the morning digest on (email always gets it).
    #[serde(default)]
    pub digest_channels: Vec<Channel>,
    pub state: MemberState,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A member's accounts on chat platforms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identities {
    pub slack_user_id: Option<String>,
    pub discord_user_id: Option<String>,
    pub telegram_chat_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MemberState {
    Active,
    /// Paused through `until` (inclusive), or until resumed when `None`.
    Paused {
        until: Option<NaiveDate>,
    },
    Unsubscribed {
        at: DateTime<Utc>,
    },
    /// Mail to the address bounced permanently; nothing more is sent to it.
    Bouncing {
        since: DateTime<Utc>,
        reason: String,
    },
}

impl MemberState {
    pub fn as_str(&self) -> &'static str {
        match self {
            MemberState::Active => "active",
            MemberState::Paused { .. } => "paused",
            MemberState::Unsubscribed { .. } => "unsubscribed",
            MemberState::Bouncing { .. } => "bouncing",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

/// The daily question to one member, for one local day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub id: PromptId,
    pub team_id: TeamId,
    pub member_id: MemberId,
    /// The member's local date the prompt asks about; replies become dones of this day.
    pub day: NaiveDate,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub deliveries: Vec<Delivery>,
}

/// A prompt on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub channel: Channel,
    /// The outbox message carrying it (email).
    pub outbox_id: Option<OutboxId>,
    /// Message id on that channel (email Message-ID without brackets, chat message id).
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DoneKind {
    Done,
    Goal,
    Blocker,
}

impl DoneKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DoneKind::Done => "done",
            DoneKind::Goal => "goal",
            DoneKind::Blocker => "blocker",
        }
    }
}

/// One line of what a member got done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub id: DoneId,
    pub team_id: TeamId,
    pub member_id: MemberId,
    /// The member's local date the done belongs to (the prompt's day, not the arrival time).
    pub day: NaiveDate,
    pub text: String,
    pub kind: DoneKind,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub mentions: Vec<String>,
    pub source: Source,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub edited_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub deleted: bool,
}

/// Where a done came from; `(channel, message_id)` makes a redelivered message idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub channel: Channel,
    pub message_id: Option<String>,
    pub prompt_id: Option<PromptId>,
    pub inbound_id: Option<InboundId>,
}

/// What an outbox message is, for operators and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxKind {
    Prompt,
    Digest,
    Welcome,
    Confirmation,
}

/// The lifecycle of an outgoing message. Each transition is persisted before the action it announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for its due time.
    Queued,
    /// Handed to the transport; a crash here resolves to `queued` again (at-least-once).
    Sending { since: DateTime<Utc> },
    /// Accepted by the next hop.
    Sent { at: DateTime<Utc>, reply: String },
    /// A transient failure; retried at the message's `due_at`.
    Deferred { reply: String },
    /// A permanent failure, or transient ones for too long. Kept with the reason.
    Failed { at: DateTime<Utc>, reply: String },
}

impl OutboxState {
    pub fn as_str(&self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Sending { .. } => "sending",
            OutboxState::Sent { .. } => "sent",
            OutboxState::Deferred { .. } => "deferred",
            OutboxState::Failed { .. } => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: OutboxId,
    /// Idempotency key: `prompt:ID:email`, `digest:TEAM:DAY:MEMBER`, … enqueued once, ever.
    pub key: String,
    pub kind: OutboxKind,
    pub team_id: Option<TeamId>,
    pub member_id: Option<MemberId>,
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    /// Message-ID (without brackets), kept so a duplicate after a crash is recognisable.
    pub message_id: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InboundState {
    Pending,
    Processed { at: DateTime<Utc>, outcome: String },
    Failed { at: DateTime<Utc>, error: String },
}

/// A message as received, kept before it is acknowledged and processed from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundRecord {
    pub id: InboundId,
    pub received_at: DateTime<Utc>,
    /// `smtp`, `http`, `sendgrid`, `mailgun`.
    pub via: String,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub size: usize,
    pub state: InboundState,
    /// Where the raw message lies in the spool (until its segment is retired); `None` for
    /// messages kept in sled itself (failed ones, restored backups, older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spool: Option<SpoolRef>,
}

/// A frame's place in the inbound spool: segment number and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolRef {
    pub segment: u64,
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: u64,
    pub admin: bool,
    /// A team-scoped token may only touch this team.
    pub team_id: Option<TeamId>,
    pub label: String,
    pub created_at: DateTime<Utc>,
    /// Refused from this instant on; `None`: never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A one-time code: `/start CODE` links a member's chat account, `/connect CODE` a team's group chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCode {
    pub purpose: LinkPurpose,
    pub channel: Channel,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkPurpose {
    Member { member_id: MemberId },
    TeamChat { team_id: TeamId },
}
