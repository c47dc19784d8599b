//! `donebot`: the binary. Parses the command line, sets up logging, runs the command.

use clap::Parser;

/// mimalloc instead of glibc's malloc: sled copies a node on every update and the outbox builds
/// and drops many small strings per message; glibc's allocator was a quarter of the outbox's CPU
/// (`_int_malloc` alone 13 %; docs/bench-outbox.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    private_umask();
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
