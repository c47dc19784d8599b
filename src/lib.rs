//! donebot: asks a team "What did you get done today?" every evening and sends the digest every
//! morning, over email (and chat channels), from one binary and one data directory.
//!
//! This crate is the application: configuration, the actors and their messages, the web server
//! and the wiring ([`server`]). Storage, schedules and the wire formats of each channel are the
//! `storage`, `scheduler` and `bots` crates; the arrows point only from here to them.

pub mod actors;
pub mod app;
pub mod bench;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod context;
pub mod domain;
pub mod error;
pub mod events;
pub mod logging;
pub mod metrics;
pub mod ops;
pub mod server;
pub mod web;
