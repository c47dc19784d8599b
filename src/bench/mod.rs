//! `donebot bench`: measurements of the real code paths, run against real peers.
//!
//! A benchmark here drives the same functions and actors the server uses (no mock storage, no
//! shortcut around the durable state machines), so its figure is one an operator can expect. It
//! owns only the set-up (a fresh data directory, synthetic records) and the reporting; it adds
//! nothing to the code paths it measures.

pub mod inbound;
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

/// The report line for a peak RSS read by [`peak_rss_kib`].
pub(crate) fn rss_line(peak_rss_kib: Option<u64>) -> String {
    match peak_rss_kib {
        Some(k) => format!("peak RSS (VmHWM): {:.1} MiB", k as f64 / 1024.0),
        None => "peak RSS (VmHWM): unknown".to_owned(),
    }
}

/// A fresh directory under the system's temporary directory for one benchmark run.
pub(crate) fn temp_dir(kind: &str) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context as _;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "donebot-bench-{kind}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
