//! The Slack channel: prompts and digests out through the Web API, events and `/done` in.
//!
//! Owns every byte on the wire to Slack: [`SlackChannel`] (posts a [`SlackOutgoing`] as a DM, a
//! channel message or a thread reply, once per key), the Web API client and its error classes ([`SlackApi`],
//! [`SlackApiError`]), Block Kit rendering and splitting ([`blocks`]), request signatures
//! ([`signing`]), the Events API and slash command bodies ([`events`], [`commands`]) and the checks of
//! the app's two routes ([`SlackRequests`]), and, behind the `fake` feature, a faithful fake Web API
//! with an Events API sender that signs like Slack ([`fake::FakeSlack`], [`fake::EventsSender`]). It
//! knows nothing of storage, members or teams: the app decides what a message means. The channel
//! seam (`bots::channel`) is implemented in `plugin.rs` ([`SPEC`]): it maps the bus's values to
//! these and [`events::SlackEvent`] and [`SlackApiError`] back, and declares the two routes. Socket
//! Mode (`mode = "socket"`, with the `xapp-` token) is its frames and acks ([`socket`]) and the
//! connection that carries them (`socket_mode.rs`).
//!
//! slack-morphism is used as the Web API client only (its models and `SlackClient` over a hyper-rustls
//! connector built here). Its events listener is not used: it acknowledges an event when its handler
//! returns and owns the HTTP server, while donebot acknowledges only what is durable, inside its own
//! actix-web server; and events are read with this crate's own small serde types
//! ([`events`]), so an unknown event or subtype is ignored rather than refused.
//!
//! Invariant: nothing from a request is read before its signature and timestamp are checked; a
//! message key is posted at most once while the channel runs (parts already posted are not posted
//! again when a key is retried).

pub mod blocks;
mod channel;
mod client;
pub mod commands;
mod config;
pub mod events;
mod plugin;
mod requests;
mod send;
pub mod signing;
pub mod socket;
mod socket_mode;

#[cfg(feature = "fake")]
pub mod fake;

pub use channel::SlackChannel;
pub use client::{BotIdentity, PostedMessage, SlackApi, SlackApiError, SlackUser, classify_code};
pub use config::{SLACK_API_URL, SlackConfig, SlackConfigError, SlackMode, SlackTuning};
pub use plugin::{COMMAND_DEADLINE, NAME, SPEC};
pub use requests::{Refused, SignedHeaders, SlackRequests};
pub use send::{SendResult, SlackOutgoing, message_id, split_message_id};
