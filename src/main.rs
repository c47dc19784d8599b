//! `donebot`: the binary. Parses the command line, sets up logging, runs the command.

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc: sled copies a node on every update and the outbox builds
/// and drops many small strings per message; glibc's allocator was a quarter of the outbox's CPU
/// (`_int_malloc` alone 13 %; docs/bench-outbox.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    private_umask();
    let cli = donebot::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
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
