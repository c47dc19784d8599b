//! `donebot`: the binary. Parses the command line, sets up logging, runs the command.

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
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
