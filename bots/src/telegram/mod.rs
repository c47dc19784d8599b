//! The Telegram channel: prompts and digests out through the Bot API, replies and commands in.
//!
//! Owns every byte on the wire to Telegram: [`TelegramChannel`], the channel behind the seam of
//! [`crate::channel`] (sends [`Outgoing`] messages, delivers updates to the app as
//! [`ChatReceived`]), its config table and registry entry ([`SPEC`]), long polling and the webhook
//! route ([`TelegramWebhook`]), HTML formatting and splitting, and, behind the `fake` feature, a
//! faithful fake Bot API server for tests ([`fake::FakeTelegram`]). It knows nothing of storage,
//! members or link codes: the app interprets `/start CODE`, `/done`, `/undo`, ... and answers with
//! what to reply.
//!
//! teloxide is used as a client only: its `Bot` and `Requester` (teloxide-core) make every call, and
//! the polling loop is ours. teloxide's dispatcher and update listeners confirm an update to Telegram
//! (the next `getUpdates` offset) as soon as they have handed it to a handler, and own the runtime and
//! Ctrl-C; donebot must confirm only after the app has made the update durable, and runs inside an
//! actix system. Its `Throttle` adaptor is not used either: the sender honours `retry_after` itself,
//! with a bounded patience, so a long flood wait becomes a `RateLimited` answer, and the app's outbox
//! defers the message until Telegram's time.
//!
//! Invariant: an update is confirmed (polling offset past it, or webhook `200`) only after the app
//! answered `Ok`; a message key is sent at most once while the actor runs.
//!
//! [`Outgoing`]: crate::bus::Outgoing
//! [`ChatReceived`]: crate::bus::ChatReceived

mod channel;
mod client;
mod config;
mod format;
mod inbound;
mod polling;
mod send;
mod table;
mod updates;
mod webhook;

pub mod bench;
#[cfg(feature = "fake")]
pub mod fake;

pub use channel::{NAME, TelegramChannel};
pub use config::{
    TELEGRAM_API_URL, TelegramConfig, TelegramConfigError, TelegramMode, TelegramTuning,
};
pub use format::{MAX_MESSAGE_LEN, escape_html, render};
pub use table::SPEC;
pub use updates::{ALLOWED_UPDATES, normalise_command, to_chat_received};
pub use webhook::{SECRET_HEADER, TelegramWebhook, WebhookOutcome};
