//! Fuzz target for SendGrid Inbound Parse bodies: arbitrary bytes as a `multipart/form-data`
//! body (with a fixed boundary, and with the boundary taken from the input's first line) through
//! [`sendgrid`]. Nothing may panic; what comes out is a slice of the input.

#![no_main]

use bots::email::webhook::sendgrid;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sendgrid("multipart/form-data; boundary=xYzZY", data);
    let (first, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let content_type = String::from_utf8_lossy(first);
    if let Ok(mail) = sendgrid(&content_type, rest) {
        assert!(mail.raw.len() <= rest.len());
    }
});
