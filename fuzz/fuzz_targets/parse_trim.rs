//! Fuzz target for the inbound mail path: arbitrary bytes through [`parse`], [`trim_input`] and
//! [`trim_reply`] (on the lossy UTF-8 reading of the bytes).
//!
//! Asserts what must hold for any input: nothing panics; no line of a trimmed result is quoted
//! (the trimmer's documented invariant); and, for inputs small enough that the check stays
//! cheap, every line `trim_reply` keeps is text taken from the input (it never invents content).
//! Time per input is bounded by libFuzzer's `-timeout` (set by `scripts/fuzz.sh`).

#![no_main]

use bots::email::parse::parse;
use bots::email::trim::{trim_input, trim_reply};
use libfuzzer_sys::fuzz_target;

/// Inputs up to this size also get the (quadratic) "output lines come from the input" check.
const SUBSET_CHECK_MAX: usize = 16 * 1024;

fuzz_target!(|data: &[u8]| {
    let _ = parse(data);
    if let Ok(text) = trim_input(data) {
        assert_no_quoted_line(&text);
    }
    let text = String::from_utf8_lossy(data);
    let trimmed = trim_reply(&text);
    assert_no_quoted_line(&trimmed);
    if data.len() <= SUBSET_CHECK_MAX {
        let input = text.replace("\r\n", "\n").replace('\r', "\n");
        for line in trimmed.lines() {
            let core = line.trim();
            assert!(
                core.is_empty() || input.contains(core),
                "trim_reply kept a line that is not in its input: {core:?}"
            );
        }
    }
});

fn assert_no_quoted_line(text: &str) {
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with('>'),
            "trimmed output kept a quoted line: {line:?}"
        );
    }
}
