//! `donebot bench outbox`: how fast the outbox delivers, end to end, with every durable transition.
//!
//! It creates a data directory (a fresh temporary one unless `--data` names one), enqueues N
//! evening prompts exactly as the team actor does it (`ops::new_prompt`: `render::prompt`, then
//! `bots::email::message::build`; then `Actors::create_prompts`, which writes each prompt, its
//! indexes and its outbox message, a team of `storage::MAX_BATCH` members per transaction, and
//! hands what it can to a running outbox),
//! flushes them, and then starts the real [`OutboxActor`] (on a thread of its own, as the server
//! runs it) against the SMTP server given with `--smtp`. The clock stops when every message is
//! recorded `sent` or `failed` and the database is flushed: the figure includes the
//! claim (`queued → sending`, in memory), the SMTP exchange and the outcome (`sent`, journaled
//! then recorded), as in production. Enqueueing is timed separately: that is the send phase,
//! with a full queue.
//!
//! With `overlap` it runs the way the server does instead: the outbox actor is running from the
//! start, and the prompts are enqueued a team at a time (rendered and written, then the outbox
//! woken, as a team actor does at its prompt time, on the actix system thread, where the team
//! actors run; the outbox sends from its own thread meanwhile), so sending starts with the first
//! team while the others are being written, each team's messages handed straight to the outbox
//! as far as it has room. As in the server, nothing is flushed for the enqueue itself: the outbox
//! flushes before it sends what it claimed or was handed, and that flush covers their prompts.
//! The end-to-end figure of that run, from the prompts being due to the last one accepted, is
//! what a team waits for.
//!
//! The benchmark is bounded: it gives up when no message changes state for [`STALL_LIMIT`].
//! What it deliberately does not measure: scheduling (which prompts are due) and chat channels.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bots::email::send::{SmtpOptions, Transport};
use chrono::Utc;
use storage::{
    DigestDestinations, Identities, Member, MemberState, OutboxCounts, Role, Store, Team,
};

use crate::actors::outbox::{Drain, OutboxActor};
use crate::app::App;
use crate::clock::SystemClock;
use crate::config::{Config, Settings};
use crate::domain::render;
use crate::ops;

/// No message changed state for this long: the SMTP server is gone; stop and say so.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `host:port` of the SMTP server (plain SMTP, no TLS, no AUTH: a sink on loopback).
    pub smtp: String,
    pub messages: u64,
    pub concurrency: usize,
    /// Enqueue while the outbox sends, as the server does (see the module docs).
    pub overlap: bool,
    /// Data directory to use (kept afterwards); `None`: a temporary one, removed afterwards.
    pub data: Option<PathBuf>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub messages: u64,
    pub overlap: bool,
    /// Until the last prompt was durable.
    pub enqueue: Duration,
    /// Back to back: from the start of sending to the last message recorded. Overlapped: from the
    /// first team's prompts handed to the outbox to the last message recorded.
    pub send: Duration,
    /// Overlapped: from the first prompt's rendering to the last message recorded.
    pub overlapped_end_to_end: Option<Duration>,
    pub counts: OutboxCounts,
    pub body_bytes: usize,
    pub peak_rss_kib: Option<u64>,
}

impl Report {
    /// From the first prompt's rendering to the last message recorded `sent` (durably): the
    /// enqueue and send phases back to back, or as they overlapped.
    pub fn end_to_end(&self) -> Duration {
        self.overlapped_end_to_end
            .unwrap_or(self.enqueue + self.send)
    }

    /// The lines `donebot bench outbox` prints; the last one is the send phase's figure.
    pub fn lines(&self) -> Vec<String> {
        let c = &self.counts;
        vec![
            format!(
                "enqueue: {} messages in {:.2} s = {:.0} messages/s (avg message {} bytes, headers and body)",
                self.messages,
                self.enqueue.as_secs_f64(),
                super::rate(self.messages, self.enqueue),
                self.body_bytes
            ),
            format!(
                "states: sent {} failed {} deferred {} queued {} sending {}",
                c.sent, c.failed, c.deferred, c.queued, c.sending
            ),
            super::rss_line(self.peak_rss_kib),
            format!(
                "end to end: {} messages in {:.2} s = {:.0} messages/s (from prompts due to all accepted by the server; {})",
                self.messages,
                self.end_to_end().as_secs_f64(),
                super::rate(self.messages, self.end_to_end()),
                if self.overlap {
                    "sending while the teams enqueue, as the server does"
                } else {
                    "enqueue, then send"
                }
            ),
            format!(
                "outbox: {} messages in {:.2} s = {:.0} messages/s",
                self.messages,
                self.send.as_secs_f64(),
                super::rate(self.messages, self.send)
            ),
        ]
    }
}

/// Runs the benchmark in its own actix system. Progress goes to stderr.
pub fn run(opts: Options) -> anyhow::Result<Report> {
    let data = opts.data.clone();
    super::run_on(
        "outbox",
        opts.messages,
        opts.concurrency,
        data.as_deref(),
        |dir| async move { run_in(&opts, &dir).await },
    )
}

fn settings(opts: &Options, dir: &Path) -> anyhow::Result<Settings> {
    let mut config = Config {
        data_dir: dir.to_owned(),
        ..Config::default()
    };
    config.email.smtp_url = Some(format!("smtp://{}", opts.smtp));
    config.outbox.concurrency = opts.concurrency;
    // A sink should not defer; if it does, retry soon rather than stall the run for a minute.
    config.outbox.first_retry_seconds = 1;
    config.inbound_smtp.listen = String::new();
    Ok(config.validate("donebot bench outbox")?)
}

async fn run_in(opts: &Options, dir: &Path) -> anyhow::Result<Report> {
    let settings = settings(opts, dir)?;
    let store = Store::open(dir)?;
    if store.outbox_counts()? != OutboxCounts::default() {
        bail!(
            "{} already has an outbox; the benchmark needs a fresh data directory",
            dir.display()
        );
    }
    let app = App::new(store, settings, Arc::new(SystemClock))?;

    let transport = Transport::new(
        app.settings.smtp_url.as_deref(),
        &app.settings.eml_dir(),
        SmtpOptions {
            timeout: app.settings.smtp_timeout,
            pool_size: u32::try_from(opts.concurrency).unwrap_or(u32::MAX),
            hello_name: Some("bench.donebot.localhost".to_owned()),
        },
    )?;
    eprintln!(
        "enqueueing {} prompts into {}{}",
        opts.messages,
        dir.display(),
        if opts.overlap {
            ", sending meanwhile"
        } else {
            ""
        }
    );
    // The outbox on a thread of its own, as the server runs it.
    let outbox_thread = actix_rt::Arbiter::new();
    let start_outbox = |transport| {
        OutboxActor::start_on(
            &outbox_thread.handle(),
            app.ctx.clone(),
            app.actors.clone(),
            transport,
        )
    };
    let started = Instant::now();
    let mut prompts = Prompts::new(&app);
    let (enqueue, send_started, outbox) = if opts.overlap {
        let outbox = start_outbox(transport);
        app.actors.set_outbox(outbox.clone());
        let mut first_woken = None;
        while prompts.created < opts.messages {
            prompts.enqueue_team(opts.messages)?;
            app.actors.wake_outbox();
            first_woken.get_or_insert_with(Instant::now);
            // Each team actor handles its prompt time as a message of its own: between two
            // teams the thread runs whatever else is ready (the outbox's sends among them).
            tokio::task::yield_now().await;
        }
        // The outbox flushes what it sends before it sends it; this covers the rest, as sled's own
        // flusher would.
        app.store.flush_async().await?;
        (started.elapsed(), first_woken.unwrap_or(started), outbox)
    } else {
        while prompts.created < opts.messages {
            prompts.enqueue_team(opts.messages)?;
        }
        app.store.flush_async().await?;
        let enqueue = started.elapsed();
        eprintln!(
            "enqueued in {:.2} s; sending to {} with concurrency {}",
            enqueue.as_secs_f64(),
            opts.smtp,
            opts.concurrency
        );
        let send_started = Instant::now();
        let outbox = start_outbox(transport);
        app.actors.set_outbox(outbox.clone());
        (enqueue, send_started, outbox)
    };
    let body_bytes = prompts.finish(opts.messages)?;
    let counts = wait_until_done(&app, opts.messages, send_started).await?;
    outbox
        .send(Drain)
        .await
        .context("the outbox actor stopped")?;
    app.store.flush_async().await?;
    let send = send_started.elapsed();
    outbox_thread.stop();
    let overlapped_end_to_end = opts.overlap.then(|| started.elapsed());
    let counts = app.store.outbox_counts().unwrap_or(counts);
    Ok(Report {
        messages: opts.messages,
        overlap: opts.overlap,
        enqueue,
        send,
        overlapped_end_to_end,
        counts,
        body_bytes,
        peak_rss_kib: super::peak_rss_kib(),
    })
}

/// Enqueues prompts, one member each, through the team actor's path: each rendered and built by
/// `ops::new_prompt`, written with its prompt record by `Store::create_prompts`, a team of
/// [`storage::MAX_BATCH`] members at a time.
struct Prompts<'a> {
    app: &'a App,
    team: Team,
    now: chrono::DateTime<Utc>,
    created: u64,
    /// Body bytes of every prompt so far.
    bytes: usize,
}

impl<'a> Prompts<'a> {
    fn new(app: &'a App) -> Prompts<'a> {
        let now = Utc::now();
        let team = Team {
            id: 1,
            name: "Platform team".to_owned(),
            timezone: "Europe/Berlin".to_owned(),
            prompt_cron: app.settings.prompt_cron.clone(),
            digest_cron: app.settings.digest_cron.clone(),
            working_days: vec![],
            holidays: vec![],
            digest_to: DigestDestinations::default(),
            nudge_after_minutes: None,
            quiet_hours: Default::default(),
            created_at: now,
        };
        Prompts {
            app,
            team,
            now,
            created: 0,
            bytes: 0,
        }
    }

    /// Writes the next team's prompts (of `n` in all).
    fn enqueue_team(&mut self, n: u64) -> anyhow::Result<()> {
        let (app, now) = (self.app, self.now);
        let ctx = render::Ctx {
            settings: &app.settings,
            signer: &app.signer,
            now,
        };
        let first = self.created;
        let last = n.min(first + storage::MAX_BATCH as u64);
        let mut prompts = Vec::with_capacity(storage::MAX_BATCH);
        let ids = app.store.new_prompt_ids((last - first) as usize)?;
        for (i, id) in (first..last).zip(ids) {
            let member = Member {
                id: i + 1,
                team_id: self.team.id,
                name: format!("Member {i}"),
                email: format!("member-{i}@example.org"),
                timezone: None,
                identities: Identities::default(),
                prompt_channels: vec![],
                digest_channels: vec![],
                state: MemberState::Active,
                role: Role::Member,
                prompt_days: None,
                prompt_time: None,
                created_at: now,
            };
            let prompt = ops::new_prompt(&ctx, id, &self.team, &member, now.date_naive(), now)?;
            self.bytes += prompt.messages.iter().map(|m| m.body.len()).sum::<usize>();
            prompts.push(prompt);
        }
        let done = app.actors.create_prompts(&app.store, prompts, now)?;
        let created = done.iter().filter(|(_, new)| *new).count() as u64;
        if created != last - first {
            bail!(
                "{created} of {} prompts were created; the data directory was not fresh",
                last - first
            );
        }
        self.created = last;
        if last / 100_000 > first / 100_000 {
            eprintln!("  enqueued {last}");
        }
        Ok(())
    }

    /// The average body size in bytes, once all `n` are enqueued.
    fn finish(&self, n: u64) -> anyhow::Result<usize> {
        if self.created != n {
            bail!("{} of {n} prompts were enqueued", self.created);
        }
        Ok(self.bytes / usize::try_from(n).unwrap_or(usize::MAX).max(1))
    }
}

/// Waits until every message is `sent` or `failed`, printing progress every second. Bounded by
/// [`STALL_LIMIT`] without progress.
async fn wait_until_done(app: &App, n: u64, started: Instant) -> anyhow::Result<OutboxCounts> {
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    let mut last_done = 0;
    let mut last_change = Instant::now();
    let mut last_print = Instant::now();
    loop {
        poll.tick().await;
        let c = app.store.outbox_counts()?;
        let done = c.sent + c.failed;
        if done >= n {
            return Ok(c);
        }
        if done != last_done {
            last_done = done;
            last_change = Instant::now();
        } else if last_change.elapsed() > STALL_LIMIT {
            bail!(
                "no progress for {} s (sent {}, failed {}, deferred {}, queued {}, sending {}): is the SMTP server at {} still up?",
                STALL_LIMIT.as_secs(),
                c.sent,
                c.failed,
                c.deferred,
                c.queued,
                c.sending,
                app.settings.smtp_url.as_deref().unwrap_or("?")
            );
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            eprintln!(
                "  {:>7.1} s: sent {} failed {} deferred {} ({:.0}/s)",
                started.elapsed().as_secs_f64(),
                c.sent,
                c.failed,
                c.deferred,
                super::rate(done, started.elapsed())
            );
        }
    }
}
