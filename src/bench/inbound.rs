//! `donebot bench inbound`: how fast replies arriving by SMTP become dones, with every message
//! durable before its `250`, on realistic traffic.
//!
//! It starts a whole donebot in-process ([`Server::start`], real clock, loopback ports, a fresh
//! temporary data directory unless `--data` names one), creates `--teams` teams with `--members`
//! members spread over them in turn (each added as an operator adds one, welcome email included),
//! and gives every member today's prompt as the team actor does (`ops::new_prompt`: its reply
//! token, its Message-ID). Then it drives N replies into donebot's SMTP listener over C concurrent
//! SMTP sessions, each sending many messages in turn; reply `i` comes from member `i mod members`
//! to that member's `reply+TOKEN@domain`, threaded to the prompt (see [`super::reply`]), so the
//! real matching path runs: token verified, prompt and member looked up, the reply recorded by
//! that member's team actor. The client runs on a separate thread (as `smtp-source` is a separate
//! process), so the server's threads do only server work.
//!
//! Three clocks, all started when the first session connects:
//! - *accepted*: until the last `250`, i.e. the receipt rate (each `250` only after the message
//!   is durable in the inbound spool);
//! - *recorded*: until every message's dones are recorded (parse → match → trim → record);
//! - *searchable*: until the search index has caught up with them, the end-to-end figure printed
//!   last (a query for a word of every reply must then find every one).
//!
//! Afterwards it checks that exactly [`LINES`] dones per message were recorded, so a trimmer that
//! let quoted text or the signature through would fail the run rather than flatter it. Bounded:
//! every socket read has a timeout, every loop ends after N messages, and the waits give up after
//! [`STALL_LIMIT`] without progress. The prompts themselves are stored without their emails (the
//! outbox is `donebot bench outbox`'s subject); only the welcome emails go out, as `.eml` files,
//! and the clocks start after they have.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;

use super::reply::{LINES, Replier};
use crate::app::App;
use crate::clock::SystemClock;
use crate::config::{Config, Settings};
use crate::domain::render;
use crate::ops;
use crate::server::Server;

/// No message was processed for this long: something is stuck; stop and say so.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub messages: u64,
    pub concurrency: usize,
    /// Teams, and members spread over them in turn (each gets a prompt and replies to it).
    pub teams: usize,
    pub members: usize,
    /// Where to write the first reply as a file for `smtp-source -F` (LF line ends; it adds CR).
    pub sample: Option<PathBuf>,
    /// Data directory to use (kept afterwards; it must be new or empty); `None`: a temporary one,
    /// removed afterwards.
    pub data: Option<PathBuf>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub messages: u64,
    pub concurrency: usize,
    pub teams: usize,
    pub members: usize,
    /// Until the last `250`.
    pub accepted: Duration,
    /// Until the last message's dones were recorded.
    pub processed: Duration,
    /// Until the search index had caught up with them (and found every message).
    pub searchable: Duration,
    pub dones: i64,
    pub message_bytes: usize,
    pub peak_rss_kib: Option<u64>,
}

impl Report {
    /// The lines `donebot bench inbound` prints; the last one is the figure.
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!(
                "sessions: {} concurrent SMTP sessions, avg message {} bytes, replies from {} members in {} teams",
                self.concurrency, self.message_bytes, self.members, self.teams
            ),
            format!(
                "accepted: {} messages in {:.2} s = {:.0} messages/s (until the last 250; each durable before it)",
                self.messages,
                self.accepted.as_secs_f64(),
                super::rate(self.messages, self.accepted)
            ),
            format!(
                "recorded: {} messages in {:.2} s = {:.0} messages/s (parsed, matched, trimmed, dones stored)",
                self.messages,
                self.processed.as_secs_f64(),
                super::rate(self.messages, self.processed)
            ),
            format!("dones recorded: {}", self.dones),
            super::rss_line(self.peak_rss_kib),
            // End to end: received, durable, processed, and found by search.
            format!(
                "inbound: {} messages in {:.2} s = {:.0} messages/s",
                self.messages,
                self.searchable.as_secs_f64(),
                super::rate(self.messages, self.searchable)
            ),
        ]
    }
}

/// Runs the benchmark in its own actix system. Progress goes to stderr.
pub fn run(opts: Options) -> anyhow::Result<Report> {
    let data = opts.data.clone();
    super::run_on(
        "inbound",
        opts.messages,
        opts.concurrency,
        data.as_deref(),
        |dir| async move { run_in(&opts, &dir).await },
    )
}

fn settings(dir: &Path) -> anyhow::Result<Settings> {
    let mut config = Config {
        data_dir: dir.to_owned(),
        ..Config::default()
    };
    config.web.listen = "127.0.0.1:0".into();
    config.inbound_smtp.listen = "127.0.0.1:0".into();
    // No outgoing SMTP: the member's welcome email goes to an .eml file in the data directory.
    config.email.smtp_url = None;
    // The replies carry the Authentication-Results of the MTA in front (mx.<domain>), as mail
    // without a reply token must; all sessions come from one address.
    config.inbound.authserv_id = Some("mx.donebot.localhost".into());
    config.inbound_smtp.max_sessions_per_ip = config.inbound_smtp.max_sessions;
    Ok(config.validate("donebot bench inbound")?)
}

async fn run_in(opts: &Options, dir: &Path) -> anyhow::Result<Report> {
    let server = Server::start(settings(dir)?, Arc::new(SystemClock)).await?;
    let result = load(opts, &server).await;
    server.stop().await;
    result
}

async fn load(opts: &Options, server: &Server) -> anyhow::Result<Report> {
    let app = &server.app;
    if !app.store.pending_inbound()?.is_empty() || app.store.counter("dones.recorded")? != 0 {
        bail!("the benchmark needs a fresh data directory (this one has inbound mail or dones)");
    }
    let smtp = server
        .smtp_addr
        .context("the SMTP listener did not start")?;
    if opts.teams == 0 || opts.members < opts.teams {
        bail!("--teams must be at least 1 and --members at least --teams");
    }
    eprintln!(
        "creating {} teams with {} members and their prompts",
        opts.teams, opts.members
    );
    let (teams, repliers) = populate(app, opts.teams, opts.members).await?;
    let day = Utc::now().format("%a, %-d %b %Y").to_string();
    if let Some(path) = &opts.sample {
        let raw = super::reply::reply_email(0, &repliers[0], &day);
        // smtp-source -F reads lines and ends each with CRLF itself.
        let lf = String::from_utf8_lossy(&raw).replace("\r\n", "\n");
        std::fs::write(path, lf).with_context(|| format!("cannot write {}", path.display()))?;
    }

    eprintln!(
        "sending {} replies to {smtp} over {} sessions",
        opts.messages, opts.concurrency
    );
    let started = Instant::now();
    let client = {
        let (n, c, repliers) = (opts.messages, opts.concurrency, Arc::new(repliers));
        std::thread::Builder::new()
            .name("bench-smtp-client".into())
            .spawn(move || super::reply::drive(smtp, n, c, repliers, day))
            .context("cannot start the client thread")?
    };
    let processed = wait_processed(server, opts.messages, started).await?;
    // Searchable: the index has caught up with every done recorded, and finds each message.
    let search = app.search.clone();
    let caught_up = tokio::task::spawn_blocking(move || search.wait_caught_up(STALL_LIMIT))
        .await
        .context("search wait task failed")??;
    if !caught_up {
        bail!(
            "the search index did not catch up within {} s",
            STALL_LIMIT.as_secs()
        );
    }
    let searchable = started.elapsed();
    let mut found = 0;
    for team in &teams {
        found += app
            .search
            .query(&storage::SearchQuery::team(*team).words("billing"))?
            .total as u64;
    }
    if found != opts.messages {
        bail!(
            "search finds {found} of the {} replies' dones for \"billing\"",
            opts.messages
        );
    }
    let sent = tokio::task::spawn_blocking(move || client.join())
        .await
        .context("client join task failed")?
        .map_err(|_| anyhow::anyhow!("the SMTP client thread panicked"))??;
    let dones = app.store.counter("dones.recorded")?;
    let expected = i64::try_from(opts.messages * LINES).unwrap_or(i64::MAX);
    if dones != expected {
        bail!(
            "{dones} dones recorded for {} messages, expected {expected}: the trimmer kept quoted text or lost lines",
            opts.messages
        );
    }
    Ok(Report {
        messages: opts.messages,
        concurrency: opts.concurrency,
        teams: opts.teams,
        members: opts.members,
        accepted: sent.last_250.saturating_duration_since(started),
        processed,
        searchable,
        dones,
        message_bytes: sent.bytes / usize::try_from(opts.messages).unwrap_or(usize::MAX).max(1),
        peak_rss_kib: super::peak_rss_kib(),
    })
}

/// Waits until every message was recorded (or refused, which fails the run). Bounded by
/// [`STALL_LIMIT`] without progress.
async fn wait_processed(server: &Server, n: u64, started: Instant) -> anyhow::Result<Duration> {
    let metrics = &server.app.metrics;
    let mut poll = tokio::time::interval(Duration::from_millis(5));
    let (mut last, mut last_change, mut last_print) = (0, Instant::now(), Instant::now());
    loop {
        poll.tick().await;
        let recorded = metrics.replies_received.load(Ordering::Relaxed);
        let refused = metrics.replies_refused.load(Ordering::Relaxed);
        if refused > 0 {
            bail!("{refused} replies were refused; see `donebot inbound list --failed`");
        }
        if recorded >= n {
            return Ok(started.elapsed());
        }
        if recorded != last {
            (last, last_change) = (recorded, Instant::now());
        } else if last_change.elapsed() > STALL_LIMIT {
            bail!(
                "no reply processed for {} s ({recorded} of {n} recorded, {} accepted)",
                STALL_LIMIT.as_secs(),
                metrics.inbound_accepted.load(Ordering::Relaxed)
            );
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            eprintln!(
                "  {:>6.1} s: accepted {} recorded {recorded}",
                started.elapsed().as_secs_f64(),
                metrics.inbound_accepted.load(Ordering::Relaxed)
            );
        }
    }
}

/// Creates `teams` teams and `members` members, member `j` in team `j mod teams`, and today's
/// prompt for each (stored as the team actor stores it, without its email). Waits until the
/// welcome emails are written, so that they do not run inside the measurement. Returns the teams'
/// ids and, for each member, what a reply needs.
async fn populate(
    app: &App,
    teams: usize,
    members: usize,
) -> anyhow::Result<(Vec<storage::TeamId>, Vec<Replier>)> {
    let now = app.now();
    let day = now.date_naive();
    let mut created = Vec::with_capacity(teams);
    for t in 0..teams {
        created.push(app.create_team(&format!("Team {t}"), "UTC")?);
    }
    let ctx = render::Ctx {
        settings: &app.settings,
        signer: &app.signer,
        now,
    };
    let mut prompts = Vec::with_capacity(members);
    let mut repliers = Vec::with_capacity(members);
    let ids = app.store.new_prompt_ids(members)?;
    for (j, id) in (0..members).zip(ids) {
        let team = &created[j % teams];
        let (name, email) = (format!("Member {j}"), format!("member-{j}@example.org"));
        let member = app.add_member(&team.name, &name, &email, None)?;
        let mut prompt = ops::new_prompt(&ctx, id, team, &member, day, now)?;
        // The address the prompt's Reply-To names; the server verifies the token (a wrong one
        // is refused, and a refusal fails the run).
        let token = app.signer.reply_token(prompt.prompt.id, member.id, day);
        let reply_to = format!("reply+{token}@{}", app.settings.domain);
        let prompt_message_id = prompt
            .prompt
            .deliveries
            .iter()
            .find_map(|d| d.message_id.clone())
            .context("a prompt without a Message-ID")?;
        prompt.messages.clear();
        prompts.push(prompt);
        repliers.push(Replier {
            name,
            email,
            team: team.name.clone(),
            reply_to,
            prompt_message_id,
        });
    }
    let stored = app.store.create_prompts(prompts, now)?;
    if stored.iter().any(|(_, new)| !new) {
        bail!("a member already had today's prompt: the data directory was not fresh");
    }
    app.store.flush_async().await?;
    wait_welcomes_sent(app, members as u64).await?;
    Ok((created.iter().map(|t| t.id).collect(), repliers))
}

/// Waits until `n` emails have left the outbox; bounded by [`STALL_LIMIT`] without progress.
async fn wait_welcomes_sent(app: &App, n: u64) -> anyhow::Result<()> {
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        poll.tick().await;
        let c = app.store.outbox_counts()?;
        let done = c.sent + c.failed;
        if done >= n {
            return Ok(());
        }
        if done != last {
            (last, last_change) = (done, Instant::now());
        } else if last_change.elapsed() > STALL_LIMIT {
            bail!(
                "the welcome emails stopped leaving the outbox ({c:?}, {} s without progress)",
                STALL_LIMIT.as_secs()
            );
        }
    }
}
