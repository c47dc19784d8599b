//! The email channel: building mail (our own MIME writer) and sending it (lettre), receiving it (the SMTP listener),
//! parsing it (mailparse) and trimming a reply down to what the person typed.

pub mod auth;
pub mod dsn;
pub mod html;
pub mod listener;
pub mod message;
mod mime;
pub mod parse;
pub mod send;
pub mod trim;
pub mod webhook;
