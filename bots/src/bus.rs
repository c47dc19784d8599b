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
