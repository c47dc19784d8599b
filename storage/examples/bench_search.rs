//! `donebot bench search` without the rest of the app: the same source file
//! (`src/bench/search.rs`), built against this crate alone, so a release build for measuring
//! takes minutes instead of the whole server's dependency tree.
//!
//! `cargo run --release -p storage --example bench_search -- DONES [DATA_DIR] [--no-peer]`

#[path = "../../src/bench/search.rs"]
mod search;

use std::path::PathBuf;

// What `src/bench/mod.rs` gives its benchmarks, the same way.
fn rate(n: u64, d: std::time::Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn rss_line(peak_rss_kib: Option<u64>) -> String {
    match peak_rss_kib {
        Some(k) => format!("peak RSS (VmHWM): {:.1} MiB", k as f64 / 1024.0),
        None => "peak RSS (VmHWM): unknown".to_owned(),
    }
}

fn temp_dir(kind: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("donebot-bench-{kind}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let no_peer = args.iter().any(|a| a == "--no-peer");
    let mut positional = args.iter().filter(|a| !a.starts_with("--"));
    let dones = positional.next().map_or(Ok(1_000_000), |n| n.parse())?;
    let data = positional.next().map(PathBuf::from);
    let report = search::run(search::Options {
        dones,
        teams: 2_000,
        vocabulary: 30_000,
        queries: 2_000,
        threads: env("THREADS", 2),
        arena_mib: env("ARENA_MIB", 512),
        no_peer,
        data,
    })?;
    println!("{report}");
    Ok(())
}
