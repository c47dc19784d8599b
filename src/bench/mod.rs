//! `donebot bench`: measurements of the real code paths, run against real peers.
//!
//! A benchmark here drives the same functions and actors the server uses (no mock storage, no
//! shortcut around the durable state machines), so its figure is one an operator can expect. It
//! owns only the set-up (a fresh data directory, synthetic records) and the reporting; it adds
//! nothing to the code paths it measures.

pub mod inbound;
pub mod outbox;
pub mod reply;
pub mod search;

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

/// Messages per second.
pub(crate) fn rate(n: u64, d: std::time::Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Checks the sizes every benchmark takes, then runs `bench` in an actix system of its own on
/// `data` (kept afterwards), or on a fresh temporary directory removed afterwards.
pub(crate) fn run_on<T, F>(
    kind: &str,
    messages: u64,
    concurrency: usize,
    data: Option<&std::path::Path>,
    bench: impl FnOnce(std::path::PathBuf) -> F,
) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    if messages == 0 || concurrency == 0 {
        anyhow::bail!("--messages and --concurrency must be at least 1");
    }
    let (dir, temporary) = match data {
        Some(d) => (d.to_owned(), false),
        None => (temp_dir(kind)?, true),
    };
    let result = actix_rt::System::new().block_on(bench(dir.clone()));
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
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
