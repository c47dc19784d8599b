//! The email channel: building and sending mail (lettre), receiving it (the SMTP listener),
//! parsing it (mailparse) and trimming a reply down to what the person typed.

pub mod auth;
pub mod dsn;
pub mod html;
pub mod listener;
pub mod message;
pub mod parse;
pub mod send;
pub mod trim;
pub mod webhook;
