//! Fuzz target for Mailgun route bodies: arbitrary bytes as a form body through [`mailgun`],
//! url-encoded and multipart. Nothing may panic, and no input without the key's signature is
//! accepted (the fuzzer cannot forge HMAC-SHA256).

#![no_main]

use bots::email::webhook::{WebhookError, mailgun};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzz-signing-key-0123456789";

fuzz_target!(|data: &[u8]| {
    for content_type in [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xYzZY",
    ] {
        match mailgun(content_type, data, KEY, 1_700_000_000, 300) {
            Ok(post) => panic!("accepted without a valid signature: {post:?}"),
            Err(WebhookError::Signature | WebhookError::Stale(_)) => {}
            Err(_) => {}
        }
    }
});
