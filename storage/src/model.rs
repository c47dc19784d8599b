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

/// Where a prompt went or a done came from: `email`, `web`, `api`, or a chat channel's name
/// (`telegram`, `memory`, ...). A short lower-case name, kept inline so that it is `Copy`; storage
/// knows no list of chat channels (the app's registry does).
///
/// The associated constants keep the names of the enum this once was, so `Channel::Email` reads
/// and matches as before.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel {
    len: u8,
    bytes: [u8; Channel::MAX_LEN],
}

#[allow(non_upper_case_globals)]
impl Channel {
    /// The longest channel name.
    pub const MAX_LEN: usize = 15;
    pub const Email: Channel = Channel::from_static("email");
    pub const Web: Channel = Channel::from_static("web");
    pub const Api: Channel = Channel::from_static("api");
    pub const Slack: Channel = Channel::from_static("slack");
    pub const Discord: Channel = Channel::from_static("discord");
    pub const Telegram: Channel = Channel::from_static("telegram");

    /// A channel named at compile time; a bad name fails the build (or panics in a `const`-less
    /// call, which only code, never input, can make).
    pub const fn from_static(name: &'static str) -> Channel {
        match Channel::try_new(name) {
            Some(c) => c,
            None => panic!("a channel name is 1-15 bytes of a-z, 0-9 and _"),
        }
    }

    /// A channel from a name: 1-15 bytes of `a-z`, `0-9` and `_`.
    pub const fn try_new(name: &str) -> Option<Channel> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() > Channel::MAX_LEN {
            return None;
        }
        let mut bytes = [0u8; Channel::MAX_LEN];
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') {
                return None;
            }
            bytes[i] = c;
            i += 1;
        }
        Some(Channel {
            len: b.len() as u8,
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked by `try_new`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    /// Whether this is a chat channel (anything but email, the web and the API).
    pub fn is_chat(&self) -> bool {
        ![Channel::Email, Channel::Web, Channel::Api].contains(self)
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_str())
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Channel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Channel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Channel, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Channel::try_new(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{name:?} is not a channel name (1-15 bytes of a-z, 0-9, _)"
            ))
        })
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
    /// Remind a member who has not answered this long after their prompt went out; `None`: off.
    #[serde(default)]
    pub nudge_after_minutes: Option<u32>,
    /// When no reminder goes out, in each member's local time (a nudge due then is skipped).
    #[serde(default)]
    pub quiet_hours: QuietHours,
    pub created_at: DateTime<Utc>,
}

/// Local hours without reminders, `from` up to (not including) `to`; wraps past midnight when
/// `to <= from` (21:00–08:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    pub from: chrono::NaiveTime,
    pub to: chrono::NaiveTime,
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours {
            from: chrono::NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
            to: chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
        }
    }
}

impl QuietHours {
    /// Whether `t` (local) is quiet.
    pub fn contains(&self, t: chrono::NaiveTime) -> bool {
        if self.from == self.to {
            false
        } else if self.from < self.to {
            self.from <= t && t < self.to
        } else {
            t >= self.from || t < self.to
        }
    }
}

/// Where a team's digest goes besides each member's own channels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestDestinations {
    /// Email every active member (the default).
    #[serde(default = "yes")]
    pub email_members: bool,
    /// Chats that get the team's digest, at most one per channel.
    #[serde(default)]
    pub chats: Vec<ChatDestination>,
    /// Before chats were keyed by channel; read once and migrated at start-up (`Store::open`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord_channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_chat_id: Option<i64>,
}

/// A team's group chat on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatDestination {
    pub channel: Channel,
    pub chat_id: String,
    /// The team's prompt is posted once in this chat and the replies in its thread are each
    /// replier's dones (Slack's `thread` style); members then get no DM prompt on this channel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prompt_in_thread: bool,
}

impl DigestDestinations {
    /// The team's chat on `channel`.
    pub fn chat(&self, channel: Channel) -> Option<&str> {
        self.chats
            .iter()
            .find(|d| d.channel == channel)
            .map(|d| d.chat_id.as_str())
    }

    /// Sets (or, with `None`, removes) the team's chat on `channel`; a chat keeps its prompt style.
    pub fn set_chat(&mut self, channel: Channel, chat_id: Option<String>) {
        let in_thread = self.prompts_in_thread(channel);
        self.chats.retain(|d| d.channel != channel);
        if let Some(chat_id) = chat_id {
            self.chats.push(ChatDestination {
                channel,
                chat_id,
                prompt_in_thread: in_thread,
            });
        }
    }

    /// Whether the team's prompt on `channel` goes to its chat's thread (not to members' DMs).
    pub fn prompts_in_thread(&self, channel: Channel) -> bool {
        self.chats
            .iter()
            .any(|d| d.channel == channel && d.prompt_in_thread)
    }

    /// Sets the prompt style of the team's chat on `channel` (no effect without a chat there).
    pub fn set_prompts_in_thread(&mut self, channel: Channel, in_thread: bool) {
        for d in self.chats.iter_mut().filter(|d| d.channel == channel) {
            d.prompt_in_thread = in_thread;
        }
    }

    /// Moves the per-platform fields of older records into `chats`. Returns whether it changed.
    pub fn migrate(&mut self) -> bool {
        let legacy = [
            (Channel::Slack, self.slack_channel.take()),
            (Channel::Discord, self.discord_channel.take()),
            (
                Channel::Telegram,
                self.telegram_chat_id.take().map(|c| c.to_string()),
            ),
        ];
        let mut changed = false;
        for (channel, chat) in legacy {
            if let Some(chat) = chat {
                if self.chat(channel).is_none() {
                    self.set_chat(channel, Some(chat));
                }
                changed = true;
            }
        }
        changed
    }
}

fn yes() -> bool {
    true
}

fn email_channel() -> Channel {
    Channel::Email
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
    /// The member's accounts on chat channels.
    #[serde(default)]
    pub identities: Identities,
    /// Channels the prompt goes out on; email when empty.
    #[serde(default)]
    pub prompt_channels: Vec<Channel>,
    /// Chat channels the member also wants the morning digest on (email always gets it).
    #[serde(default)]
    pub digest_channels: Vec<Channel>,
    /// The member's own prompt days, ISO weekdays (1 = Monday … 7 = Sunday); `None`: the team's
    /// working days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_days: Option<Vec<u8>>,
    /// The member's own prompt time in their zone; `None`: the team's schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_time: Option<chrono::NaiveTime>,
    pub state: MemberState,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A member's account on a chat channel. The platform's user id (who writes: the key of
/// `members_by_identity`) and the chat to write to (their DM or private chat) are kept apart: equal
/// on Telegram, not on Slack or Discord.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub channel: Channel,
    pub user_id: String,
    pub chat_id: String,
    /// The platform said the chat is unreachable (the user blocked the bot): nothing is sent
    /// there until the member links again.
    #[serde(default)]
    pub broken: bool,
}

/// A member's accounts on chat channels, at most one per channel. The per-platform fields are
/// how older records kept them: read once and migrated into `accounts` at start-up
/// (`Store::open`), never written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identities {
    #[serde(default)]
    pub accounts: Vec<Account>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_chat_id: Option<i64>,
}

impl Identities {
    /// The working account on `channel`.
    pub fn account(&self, channel: Channel) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.channel == channel && !a.broken)
    }

    /// Moves the per-platform fields of older records into `accounts`. Returns whether it changed.
    pub fn migrate(&mut self) -> bool {
        let telegram = self.telegram_chat_id.take().map(|c| c.to_string());
        // Slack's and Discord's fields held the user id; Telegram's the private chat's id, which
        // is the user's id there.
        let legacy = [
            (Channel::Slack, self.slack_user_id.take()),
            (Channel::Discord, self.discord_user_id.take()),
            (Channel::Telegram, telegram),
        ];
        let mut changed = false;
        for (channel, id) in legacy {
            if let Some(id) = id {
                if !self.accounts.iter().any(|a| a.channel == channel) {
                    self.accounts.push(Account {
                        channel,
                        user_id: id.clone(),
                        chat_id: id,
                        broken: false,
                    });
                }
                changed = true;
            }
        }
        changed
    }
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
    /// Removed from the team by an admin: a former member. Their dones stay (and show in the
    /// digests of their days); nothing is sent to them, nothing they send is recorded, and their
    /// address may be added again as a new member.
    Removed {
        at: DateTime<Utc>,
    },
}

impl MemberState {
    pub fn as_str(&self) -> &'static str {
        match self {
            MemberState::Active => "active",
            MemberState::Paused { .. } => "paused",
            MemberState::Unsubscribed { .. } => "unsubscribed",
            MemberState::Bouncing { .. } => "bouncing",
            MemberState::Removed { .. } => "removed",
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
    /// A reminder to a member who has not answered their prompt.
    Nudge,
    /// A sign-in link for the web pages, asked for on the sign-in page.
    SignIn,
}

/// The lifecycle of an outgoing message. Each transition is persisted before the action it
/// announces, except the claim (`sending`), which is held in memory: the message stays `queued`
/// (or `deferred`) on disk, which is what a crash during its send resolves to anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for its due time.
    Queued,
    /// Claimed by the sender and handed to the transport (not stored; a crash here leaves it
    /// `queued`, at-least-once).
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
    /// The channel it goes out on; for a chat channel the body is its `Outgoing` message as JSON
    /// and `envelope_to` holds the chat id.
    #[serde(default = "email_channel")]
    pub channel: Channel,
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
