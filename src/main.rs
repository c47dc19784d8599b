//! `donebot`: the binary. Parses the command line, sets up logging, runs the command.

use clap::Parser;

/// mimalloc instead of glibc's malloc: sled copies a node on every update and the outbox builds
/// and drops many small strings per message; glibc's allocator was a quarter of the outbox's CPU
/// (`_int_malloc` alone 13 %; docs/bench-outbox.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    private_umask();
    no_transparent_huge_pages();
    let cli = donebot::cli::Cli::parse();
    // Only `[log] format` is needed here; a configuration that does not load is reported by the
    // command itself (with its exit code), after logging is up in the default format.
    let format = donebot::config::Config::load(cli.config.as_deref(), std::env::vars())
        .map(|(config, _)| config.log.format)
        .unwrap_or_default();
    donebot::logging::init(format);
    if let Err(f) = donebot::cli::run(cli) {
        eprintln!("donebot: {:#}", f.error);
        std::process::exit(f.code);
    }
}

/// Everything donebot creates (the data directory, backups, .eml files) is its owner's only: the
/// database holds the key that signs reply tokens and links.
#[cfg(unix)]
fn private_umask() {
    // SAFETY: umask only sets this process's file-creation mask; no memory is involved.
    unsafe {
        libc::umask(0o077);
    }
}

#[cfg(not(unix))]
fn private_umask() {}

/// No transparent huge pages for this process. sled copies a node on every write and frees the
/// old one later, so mimalloc keeps extending fresh pages; with huge pages each first touch made
/// the kernel zero 2 MiB, which was 13 % of the samples of an evening's burst of prompts. Without
/// them the same burst takes 40 % less system time and its peak RSS is 20 % lower
/// (docs/bench-outbox.md). The same as `MIMALLOC_ALLOW_THP=0`, but for the memory mimalloc
/// reserved before `main` too: the kernel checks the flag at each fault.
#[cfg(target_os = "linux")]
fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process's memory map; no memory is
    // read or written. A kernel without it answers EINVAL, and huge pages stay as they were.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(not(target_os = "linux"))]
fn no_transparent_huge_pages() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_process_runs_without_transparent_huge_pages() {
        super::no_transparent_huge_pages();
        // SAFETY: PR_GET_THP_DISABLE only reads the flag of this process's memory map.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(disabled, 1);
    }
}
