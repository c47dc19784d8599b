//! `donebot`: the binary. Parses the command line, sets up logging, runs the command.

use clap::Parser;
use tracing_subscriber::EnvFilter;

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
