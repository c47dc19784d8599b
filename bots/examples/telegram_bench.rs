//! Prompts per second to the fake Telegram Bot API with the real client, raw and through the channel.
//!
//! `cargo run -p bots --release --example telegram_bench -- [MEMBERS] [CONCURRENCY]` (defaults 10000,
//! 64). The app exposes the same through `donebot bench telegram`; this is the crate-level runner. It
//! sends only to a `FakeTelegram` it starts on 127.0.0.1 and stops when done.

use bots::telegram::bench::bench_prompts;
use bots::telegram::fake::FakeTelegram;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let members: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    actix_rt::System::new().block_on(async move {
        let fake = FakeTelegram::start().await?;
        match bench_prompts(fake.api_url(), fake.token(), members, concurrency).await {
            Ok(report) => {
                println!("{report}");
                Ok(())
            }
            Err(e) => {
                eprintln!("telegram bench: {e}");
                std::process::exit(2);
            }
        }
    })
}
