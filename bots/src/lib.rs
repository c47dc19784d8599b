//! donebot's channel adapters: every byte on the wire to a mail or chat service.
//!
//! A chat channel implements the seam of [`channel`] (send one [`bus::Outgoing`] message, hand
//! what people write to the app as [`bus::ChatReceived`], declare its config table, routes and
//! deep links); email is sent by the app's outbox through [`email::send`] and received by
//! [`email::listener`]. This crate knows nothing of storage: when it needs something persisted (an
//! inbound mail before it answers `250`, an update before it is confirmed), it sends a message and
//! waits for the answer.

pub mod bus;
pub mod channel;
pub mod discord;
pub mod email;
#[cfg(feature = "fake")]
mod fake_http;
pub mod memory;
pub mod slack;
pub mod telegram;
pub mod text;
