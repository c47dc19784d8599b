//! `donebot bench`: measurements of the real code paths, run against real peers.
//!
//! A benchmark here drives the same functions and actors the server uses (no mock storage, no
//! shortcut around the durable state machines), so its figure is one an operator can expect. It
//! owns only the set-up (a fresh data directory, synthetic records) and the reporting; it adds
//! nothing to the code paths it measures.

pub mod outbox;

/// Peak resident set size of this process (`VmHWM` in `/proc/self/status`), in KiB, where the
/// kernel reports it.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
