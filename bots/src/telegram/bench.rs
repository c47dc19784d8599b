//! The prompt benchmark: prompts per second through the real client, raw and through the channel.
//!
//! Owns: sending one prompt to each of `members` private chats, `concurrency` at a time, first with
//! teloxide's `Bot` directly (the floor), then through a [`TelegramChannel`] actor (rendering,
//! idempotency keys, gates, the actor's mailbox), and the report of both. It is not the fake: the app
//! (`donebot bench telegram`) starts a [`super::fake::FakeTelegram`] and passes its URL, so a real
//! API is never the target by accident of a default.
//!
//! Invariant: bounded: exactly `2 × members` sends, each bounded by the client's timeout; it must run
//! inside an actix system (the channel is an actor).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler};
use teloxide::payloads::SendMessageSetters;
use teloxide::prelude::Requester;
use teloxide::types::{ChatId, ForceReply, ParseMode};

use super::channel::TelegramChannel;
use super::client::build_bot;
use super::config::{TelegramConfig, TelegramMode, TelegramTuning};
use crate::bus::{ChatAnswer, ChatReceiveError, ChatReceived, Outgoing, OutgoingBody};

/// First chat id of the benchmark's members (`FIRST_CHAT + i`).
const FIRST_CHAT: i64 = 1_000_000;

#[derive(Debug, Clone)]
pub struct BenchReport {
    pub members: usize,
    pub concurrency: usize,
    /// Wall time for all prompts with the raw client, and through the channel.
    pub raw: Duration,
    pub channel: Duration,
    pub failures: usize,
}

impl BenchReport {
    pub fn raw_per_second(&self) -> f64 {
        self.members as f64 / self.raw.as_secs_f64().max(f64::EPSILON)
    }

    pub fn channel_per_second(&self) -> f64 {
        self.members as f64 / self.channel.as_secs_f64().max(f64::EPSILON)
    }

    /// donebot's cost per message over the raw client, in wall time at this concurrency.
    pub fn overhead_per_message(&self) -> Duration {
        self.channel.saturating_sub(self.raw)
            / u32::try_from(self.members.max(1)).unwrap_or(u32::MAX)
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "telegram prompts: {} members, concurrency {}: raw client {:.0}/s ({:.2} s), channel {:.0}/s ({:.2} s), \
             overhead {:.1} µs/message, {} failures",
            self.members,
            self.concurrency,
            self.raw_per_second(),
            self.raw.as_secs_f64(),
            self.channel_per_second(),
            self.channel.as_secs_f64(),
            self.overhead_per_message().as_secs_f64() * 1e6,
            self.failures
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Config(#[from] super::config::TelegramConfigError),
}

/// A sink that answers every update with silence (the benchmark sends only).
struct Silent;

impl Actor for Silent {
    type Context = Context<Self>;
}

impl Handler<ChatReceived> for Silent {
    type Result = Result<ChatAnswer, ChatReceiveError>;

    fn handle(&mut self, _: ChatReceived, _: &mut Self::Context) -> Self::Result {
        Ok(ChatAnswer::default())
    }
}

/// Sends `members` prompts to the Bot API at `api_url` (a fake), raw then through the channel.
pub async fn bench_prompts(
    api_url: &str,
    token: &str,
    members: usize,
    concurrency: usize,
) -> Result<BenchReport, BenchError> {
    let concurrency = concurrency.max(1);
    let config = TelegramConfig {
        token: token.to_owned(),
        api_url: Some(api_url.to_owned()),
        mode: TelegramMode::Webhook {
            url: "https://127.0.0.1/unused".into(),
            secret: "bench".into(),
        },
        tuning: TelegramTuning {
            max_attempts: 1,
            max_sends_per_second: None,
            ..TelegramTuning::default()
        },
    };
    let bot = build_bot(&config.to_valid()?)?;
    let failures = Arc::new(AtomicUsize::new(0));

    let started = Instant::now();
    run(members, concurrency, {
        let failures = failures.clone();
        move |i| {
            let bot = bot.clone();
            let failures = failures.clone();
            async move {
                let sent = bot
                    .send_message(
                        ChatId(FIRST_CHAT + i as i64),
                        "What did you get done today?",
                    )
                    .parse_mode(ParseMode::Html)
                    .reply_markup(
                        ForceReply::new().input_field_placeholder("One done per line".to_owned()),
                    )
                    .await;
                if sent.is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
    .await;
    let raw = started.elapsed();

    // Polling mode would compete for getUpdates; the channel is built in webhook mode and its
    // start-up `setWebhook` goes to the fake too.
    let channel = TelegramChannel::new(&config, Silent.start().recipient())?.start();
    let started = Instant::now();
    run(members, concurrency, {
        let failures = failures.clone();
        move |i| {
            let channel = channel.clone();
            let failures = failures.clone();
            async move {
                let send = Outgoing {
                    key: format!("bench:prompt:{i}"),
                    to: (FIRST_CHAT + i as i64).to_string(),
                    body: OutgoingBody::Prompt {
                        day: chrono::NaiveDate::MIN,
                        text: "What did you get done today?".into(),
                    },
                    reply_to: None,
                    answer_via: None,
                };
                if channel.deliver(&send).await.is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
    .await;
    let channel_time = started.elapsed();

    Ok(BenchReport {
        members,
        concurrency,
        raw,
        channel: channel_time,
        failures: failures.load(Ordering::Relaxed),
    })
}

/// Runs `job(i)` for `i` in `0..n` on `workers` local tasks.
async fn run<F, Fut>(n: usize, workers: usize, job: F)
where
    F: Fn(usize) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let next = next.clone();
        let job = job.clone();
        tasks.spawn_local(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                job(i).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
