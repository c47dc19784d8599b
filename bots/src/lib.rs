//! donebot's channel adapters: every byte on the wire to a mail or chat service.
//!
//! Each channel is an actix actor that pushes prompts and digests out and brings replies back as the
//! plain message types of [`bus`]. This crate knows nothing of storage: when it needs something
//! persisted (an inbound mail before it answers `250`), it sends a message and waits for the answer.

pub mod bus;
pub mod email;
#[cfg(feature = "fake")]
mod fake_http;
pub mod slack;
pub mod telegram;
