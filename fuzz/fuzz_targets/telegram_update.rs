//! Fuzz target for Telegram webhook bodies: arbitrary bytes read as a Bot API `Update` (what
//! `bots::telegram::webhook` does with a POST) and mapped to the bus message. Nothing may panic.

#![no_main]

use bots::telegram::{normalise_command, to_chat_received};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(update) = serde_json::from_slice::<teloxide::types::Update>(data)
        && let Some(received) = to_chat_received(&update, Some("donebot"))
    {
        let _ = normalise_command(&received.text, Some("donebot"));
    }
    let _ = normalise_command(&String::from_utf8_lossy(data), Some("donebot"));
});
