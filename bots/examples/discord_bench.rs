//! DM prompts per second to the fake Discord with the real client and donebot's rate limiter.
//!
//! `cargo run --release -p bots --features fake --example discord_bench -- [PROMPTS] [CONCURRENCY]`
//! (defaults 500 and 64). Each prompt goes to a different member through `DiscordChannel::send`
//! (serenity's routes and models, donebot's buckets, per-key bookkeeping). Three runs:
//!
//! 1. Discord's limits in force (the fake: 5 messages per 5 s per channel, 50 requests a second per
//!    bot, 250 DM channels created per 5 s; the client: its default pacing at 50 a second), first
//!    prompts: each one creates the member's DM channel (`POST /users/@me/channels`) then posts,
//!    two requests.
//! 2. The same limits, the next day's prompts: the DM channels are known, one request each.
//! 3. No limits on either side: the cost of the client and the fake themselves.
//!
//! The fake runs on the same thread as the client (one actix thread), so run 3 is a floor of the
//! client's throughput, not Discord's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler};
use bots::bus::{ChatAnswer, ChatReceiveError, ChatReceived, Outgoing, OutgoingBody};
use bots::discord::fake::{FakeDiscord, Limits};
use bots::discord::{DiscordChannel, DiscordConfig, DiscordTuning};
use chrono::NaiveDate;

/// The app's side is not exercised: sends only.
struct Silent;

impl Actor for Silent {
    type Context = Context<Self>;
}

impl Handler<ChatReceived> for Silent {
    type Result = Result<ChatAnswer, ChatReceiveError>;

    fn handle(&mut self, _: ChatReceived, _: &mut Context<Self>) -> Self::Result {
        Ok(ChatAnswer::default())
    }
}

async fn run(
    channel: &Arc<DiscordChannel>,
    fake: &FakeDiscord,
    round: &str,
    prompts: usize,
    concurrency: usize,
) {
    let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let before = fake.requests().len();
    let too_many = fake.too_many_requests();
    let start = Instant::now();
    let mut next = 0usize;
    let mut running = tokio::task::JoinSet::new();
    let mut failed = 0usize;
    while next < prompts || !running.is_empty() {
        while next < prompts && running.len() < concurrency {
            let channel = channel.clone();
            let message = Outgoing {
                key: format!("prompt:{next}:{round}:discord"),
                to: format!("user:{}", 90_000_000_000_000_000u64 + next as u64),
                body: OutgoingBody::Prompt {
                    day,
                    text: "What did you get done today? Reply with one line per thing.".into(),
                },
                reply_to: None,
                answer_via: None,
            };
            running.spawn_local(async move { channel.deliver(&message).await });
            next += 1;
        }
        if let Some(done) = running.join_next().await
            && !matches!(done, Ok(Ok(_)))
        {
            failed += 1;
        }
    }
    let elapsed = start.elapsed();
    println!(
        "{round}: {prompts} prompts in {:.2} s = {:.1} prompts/s ({} requests, {} answered 429, {failed} failed)",
        elapsed.as_secs_f64(),
        prompts as f64 / elapsed.as_secs_f64(),
        fake.requests().len() - before,
        fake.too_many_requests() - too_many,
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let prompts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    actix::System::new().block_on(async move {
        let inbox = Silent.start().recipient();
        let fake = FakeDiscord::start().await.expect("fake Discord");
        let config = DiscordConfig {
            token: fake.token().to_owned(),
            api_url: Some(fake.api_url().to_owned()),
            tuning: DiscordTuning::default(),
        };
        // Sends only: the gateway is not started.
        let channel = Arc::new(DiscordChannel::new(&config, inbox.clone()).expect("config"));
        run(&channel, &fake, "limits on, new DMs", prompts, concurrency).await;
        run(
            &channel,
            &fake,
            "limits on, known DMs",
            prompts,
            concurrency,
        )
        .await;

        fake.set_limits(Limits {
            route_limit: u32::MAX,
            route_window: Duration::from_secs(1),
            other_limit: u32::MAX,
            global_per_second: None,
        });
        let unlimited = DiscordConfig {
            tuning: DiscordTuning {
                global_per_second: u32::MAX,
                ..DiscordTuning::default()
            },
            ..config
        };
        let channel = Arc::new(DiscordChannel::new(&unlimited, inbox).expect("config"));
        run(
            &channel,
            &fake,
            "no limits, new DMs",
            prompts * 10,
            concurrency,
        )
        .await;
    });
}
