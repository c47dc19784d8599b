//! `donebot bench inbound`: how fast replies arriving by SMTP become dones, with every message
//! durable before its `250`.
//!
//! It starts a whole donebot in-process ([`Server::start`], real clock, loopback ports, a fresh
//! temporary data directory unless `--data` names one), creates one team and one member, and then
//! drives N realistic replies from that member (a few typed lines, the quoted prompt, a signature;
//! ~3 KB, unique Message-IDs) into donebot's SMTP listener over C concurrent SMTP sessions, each
//! sending many messages in turn. The client is a small SMTP client of its own on a separate
//! thread (as `smtp-source` is a separate process), so the server's threads do only server work.
//!
//! Two clocks, both started when the first session connects:
//! - *accepted*: until the last `250`, i.e. the receipt rate (each `250` only after the message
//!   is durable in the inbound log);
//! - *recorded*: until every message's dones are recorded (parse → match → trim → record);
//! - *searchable*: until the search index has caught up with them, the end-to-end figure printed
//!   last (a query for a word of every reply must then find every one).
//!
//! Afterwards it checks that exactly [`LINES`] dones per message were recorded, so a trimmer that
//! let quoted text or the signature through would fail the run rather than flatter it. Bounded:
//! every socket read has a timeout, every loop ends after N messages, and the wait for processing
//! gives up after [`STALL_LIMIT`] without progress.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::clock::SystemClock;
use crate::config::{Config, Settings};
use crate::server::Server;

/// No message was processed for this long: something is stuck; stop and say so.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);
/// A client read (greeting, a reply) that takes longer than this fails the run.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// The typed lines of every reply; each becomes one done.
pub const LINES: u64 = 3;
const MEMBER_EMAIL: &str = "ada.lovelace@example.org";

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub messages: u64,
    pub concurrency: usize,
    /// Data directory to use (kept afterwards; it must be new or empty); `None`: a temporary one,
    /// removed afterwards.
    pub data: Option<PathBuf>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub messages: u64,
    pub concurrency: usize,
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
                "sessions: {} concurrent SMTP sessions, avg message {} bytes",
                self.concurrency, self.message_bytes
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
    let team = app.create_team("Platform team", "UTC")?;
    app.add_member(&team.name, "Ada Lovelace", MEMBER_EMAIL, None)?;
    app.store.flush_async().await?;
    let to = format!("donebot@{}", app.settings.domain);

    eprintln!(
        "sending {} replies to {smtp} over {} sessions",
        opts.messages, opts.concurrency
    );
    let started = Instant::now();
    let client = {
        let (n, c, to) = (opts.messages, opts.concurrency, to.clone());
        std::thread::Builder::new()
            .name("bench-smtp-client".into())
            .spawn(move || drive(smtp, n, c, &to))
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
    let found = app
        .search
        .query(&storage::SearchQuery::team(team.id).words("billing"))?
        .total as u64;
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

/// What the client did.
struct Sent {
    last_250: Instant,
    bytes: usize,
}

/// Sends `n` replies over `c` concurrent sessions, on a runtime of its own (this thread).
fn drive(smtp: std::net::SocketAddr, n: u64, c: usize, to: &str) -> anyhow::Result<Sent> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the client runtime")?;
    rt.block_on(async {
        let next = Arc::new(AtomicU64::new(0));
        let mut sessions = tokio::task::JoinSet::new();
        for _ in 0..c {
            let (next, to) = (Arc::clone(&next), to.to_owned());
            sessions.spawn(async move { session(smtp, n, &next, &to).await });
        }
        let mut sent = Sent {
            last_250: Instant::now(),
            bytes: 0,
        };
        let mut first = true;
        while let Some(joined) = sessions.join_next().await {
            let one = joined.context("client session task failed")??;
            sent.bytes += one.bytes;
            if first || one.last_250 > sent.last_250 {
                sent.last_250 = one.last_250;
                first = false;
            }
        }
        Ok(sent)
    })
}

/// One SMTP session: EHLO, then MAIL/RCPT/DATA for message numbers taken from `next` until `n`.
async fn session(
    smtp: std::net::SocketAddr,
    n: u64,
    next: &AtomicU64,
    to: &str,
) -> anyhow::Result<Sent> {
    let stream = TcpStream::connect(smtp)
        .await
        .with_context(|| format!("cannot connect to {smtp}"))?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    expect(&mut read, &mut line, "220").await?;
    write.write_all(b"EHLO bench.example.org\r\n").await?;
    expect(&mut read, &mut line, "250").await?;
    let mut sent = Sent {
        last_250: Instant::now(),
        bytes: 0,
    };
    let day = Utc::now().format("%a, %-d %b %Y").to_string();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        let raw = reply_email(i, to, &day);
        sent.bytes += raw.len();
        write
            .write_all(format!("MAIL FROM:<{MEMBER_EMAIL}>\r\n").as_bytes())
            .await?;
        expect(&mut read, &mut line, "250").await?;
        write
            .write_all(format!("RCPT TO:<{to}>\r\n").as_bytes())
            .await?;
        expect(&mut read, &mut line, "250").await?;
        write.write_all(b"DATA\r\n").await?;
        expect(&mut read, &mut line, "354").await?;
        write.write_all(&dot_stuffed(&raw)).await?;
        expect(&mut read, &mut line, "250").await?;
        sent.last_250 = Instant::now();
    }
    write.write_all(b"QUIT\r\n").await?;
    let _ = expect(&mut read, &mut line, "221").await;
    Ok(sent)
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &mut String,
    code: &str,
) -> anyhow::Result<()> {
    loop {
        line.clear();
        let got = tokio::time::timeout(REPLY_TIMEOUT, read.read_line(line))
            .await
            .context("the server did not answer in time")??;
        if got == 0 {
            bail!("the server closed the connection (expected {code})");
        }
        if !line.starts_with(code) {
            bail!("expected {code}, the server said: {}", line.trim_end());
        }
        // "250-" continues, "250 " ends.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

/// The DATA payload: lines starting with "." doubled, ended by CRLF "." CRLF.
fn dot_stuffed(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 8);
    let mut at_line_start = true;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Reply number `i` as a mail client writes it: relay headers, three typed lines, the quoted
/// prompt under an "On … wrote:" line, and a signature. About 3 KB.
pub fn reply_email(i: u64, to: &str, day: &str) -> Vec<u8> {
    let typed = [
        format!("Reviewed Zoë's pull request #{i} for the billing export #ops"),
        "Paired with @grace on the flaky scheduler test; it was a DST edge case".to_owned(),
        "goal: ship the retry budget for outbound webhooks tomorrow".to_owned(),
    ];
    format!(
        "Return-Path: <{MEMBER_EMAIL}>\r\n\
Received: from mail-ed1-f41.example.org (mail-ed1-f41.example.org [192.0.2.41])\r\n\
\tby mx.donebot.localhost with ESMTPS id 4b7c2a1f{i:08x}\r\n\
\tfor <{to}>; {day} 18:{min:02}:{sec:02} +0000\r\n\
Received: by mail-ed1-f41.example.org with SMTP id a640c23a62f3a-ab2c{i:x}\r\n\
\tfor <{to}>; {day} 18:{min:02}:{sec:02} -0700 (PDT)\r\n\
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=20230601; t=1717430400;\r\n\
\th=to:subject:message-id:date:from:in-reply-to:references:mime-version:from:to:cc:subject:date;\r\n\
\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\
\tb=Kx3vYq9cLr1mWd0pT2fHs8nZbQ4eJt7uVi6oXa5gRk3lMy0wCz9dPh2sFj8vNe1qUx4t\r\n\
\t BrW6yAm7cHk0iLo5gSp3dTf9eZn2jVq8uXw1aRb4sMc6kNl0hOy7pQz3vGt5iJe9fKu2xD\r\n\
\t Wa1sLm8nBo4cQr6tYv0zXh3gEj5kPi7uMd9lFy2wNb4oTc6eRq8sVa0xHz1yJg3mKl5nOp==\r\n\
Authentication-Results: mx.donebot.localhost;\r\n\
\tdkim=pass header.i=@example.org header.s=20230601 header.b=Kx3vYq9c;\r\n\
\tspf=pass (mx.donebot.localhost: domain of {MEMBER_EMAIL} designates 192.0.2.41 as\r\n\
\t permitted sender) smtp.mailfrom={MEMBER_EMAIL};\r\n\
\tdmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from=example.org\r\n\
X-Received: by 2002:a17:907:9689:b0:ab2:c1e4:{i:x} with SMTP id\r\n\
\t gc9-20020a1709079689b0ab2c1e4c1d2mr{i:x}ejc.41; {day} 18:{min:02}:{sec:02} -0700 (PDT)\r\n\
X-Google-Smtp-Source: AGHT+IFq3bT0Yk9sEr2uWx5nMa7dLc1pVh8zRj4oKg6iNf0eBy{i:x}\r\n\
MIME-Version: 1.0\r\n\
References: <prompt.{i}@donebot.localhost>\r\n\
In-Reply-To: <prompt.{i}@donebot.localhost>\r\n\
From: Ada Lovelace <{MEMBER_EMAIL}>\r\n\
Date: {day} 18:{min:02}:{sec:02} -0700\r\n\
Message-ID: <CAJ{i:016x}bench.{i}@mail.example.org>\r\n\
Subject: Re: What did you get done today? (Platform team)\r\n\
To: Platform team <{to}>\r\n\
Content-Type: text/plain; charset=\"UTF-8\"\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
{t0}\r\n\
{t1}\r\n\
{t2}\r\n\
\r\n\
On {day} at 18:00, Platform team <{to}> wrote:\r\n\
> What did you get done today?\r\n\
>\r\n\
> Hi Ada Lovelace, just reply to this email with what you got done today: one\r\n\
> line per thing.\r\n\
> Start a line with \"goal:\" for something you plan, or \"blocker:\" for what is\r\n\
> in your way.\r\n\
> Tomorrow morning everyone in Platform team gets a digest.\r\n\
>\r\n\
> --\r\n\
> You get this because you are in Platform team on donebot.\r\n\
> Pause: reply \"pause\" (or \"pause until 2025-07-01\"). Stop: reply \"unsubscribe\".\r\n\
> Unsubscribe: http://127.0.0.1:8080/u/1/4f3c9a2b7e1d6c5a8b0f2e4d6c8a0b2e4f6a8c0e\r\n\
> Pause: http://127.0.0.1:8080/p/1/9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d\r\n\
\r\n\
-- \r\n\
Ada Lovelace\r\n\
Staff engineer, Platform team\r\n\
Analytical Engines Ltd. | +44 20 7946 0000 | https://engines.example.org\r\n\
\r\n\
This email and any attachments are confidential and intended solely for the\r\n\
addressee. If you received it in error, please tell the sender and delete it.\r\n\
Nothing in this message is an offer or acceptance of any contract.\r\n",
        min = i % 60,
        sec = (i / 60) % 60,
        t0 = typed[0],
        t1 = typed[1],
        t2 = typed[2],
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_about_3_kb_and_trims_to_its_typed_lines() {
        let raw = reply_email(7, "donebot@donebot.localhost", "Tue, 3 Jun 2025");
        assert!((2000..4000).contains(&raw.len()), "{} bytes", raw.len());
        let parsed = bots::email::parse::parse(&raw).expect("the reply parses");
        assert_eq!(parsed.auto, None);
        let text = bots::email::trim::trim_reply(&parsed.text);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len() as u64, LINES, "{text:?}");
        assert!(
            lines[0].starts_with("Reviewed Zoë's pull request #7"),
            "{text:?}"
        );
    }

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_ends_the_data() {
        assert_eq!(dot_stuffed(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(dot_stuffed(b".x"), b"..x\r\n.\r\n");
    }
}
