//! The Discord channel: prompts by DM and digests to a channel out through the REST API; DMs, their
//! edits and deletions, and slash commands in through the gateway.
//!
//! Owns every byte on the wire to Discord: [`DiscordChannel`], the channel behind the seam of
//! [`crate::channel`] (sends [`Outgoing`] messages, delivers dispatches to the app as
//! [`ChatReceived`]), its config table and registry entry ([`SPEC`]), markdown escaping and
//! splitting ([`render`]), the slash commands ([`commands`]), donebot's own rate limiter, and, behind
//! the `fake` feature, a faithful fake Discord (REST and gateway) for tests ([`fake::FakeDiscord`]).
//! It knows nothing of storage, members or link codes: the app interprets `/start CODE`, `/done`,
//! `/undo`, ... and answers with what to reply.
//!
//! Addresses: a `to` or `chat_id` is a channel id (`"1180000000000000000"`, a team's digest
//! channel) or `user:<user id>` (that person's DM, whose channel is created on first use). Every DM
//! a person writes arrives with `chat_id = "user:<their id>"`, so the app links, prompts and answers
//! a member by their user id.
//!
//! serenity is used for its models, its REST routes and request building, and its gateway client
//! (HELLO, IDENTIFY, heartbeats, RESUME, reconnects). Two of its parts are not used, each for a
//! reason written where it matters: its rate limiter ([`ratelimit`]) and `Http::request`, whose
//! error answers drop the rate-limit headers and `retry_after` ([`rest`]). Its own `GET /gateway`
//! fallback is overridden ([`gateway`]).
//!
//! Invariant: a message key is sent at most once while the channel runs; a dispatch replayed
//! after a RESUME is handed to the app at most once (idempotent on the message or interaction id).
//!
//! [`Outgoing`]: crate::bus::Outgoing
//! [`ChatReceived`]: crate::bus::ChatReceived

mod channel;
pub mod commands;
mod config;
mod gateway;
mod inbound;
mod ratelimit;
pub mod render;
mod rest;
mod send;
mod table;

#[cfg(feature = "fake")]
pub mod fake;

pub use channel::{DiscordChannel, NAME};
pub use config::{DISCORD_API_URL, DiscordConfig, DiscordConfigError, DiscordTuning};
pub use render::{MAX_CONTENT_LEN, escape_markdown};
pub use send::USER_PREFIX;
pub use table::SPEC;
