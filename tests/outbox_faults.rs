//! The outbox against a misbehaving mail server: every way a delivery can go wrong ends with each
//! message `sent` or `failed` (with the server's reply kept), none lost, none delivered twice.
//!
//! The peer is a real SMTP server (mailin-embedded) with replies scripted by recipient, behind a
//! loopback TCP proxy that injects network faults by message: it hangs up in the middle of DATA,
//! or stops forwarding altogether (a server that stops answering). Time is a `ManualClock`: the
//! test reaches each retry by moving the clock, and waits on the app's events, never on a sleep.
//!
//! Every peer listens on 127.0.0.1:0; the whole test runs under one timeout. mailin has no stop
//! call: its threads end with the test process.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener as StdTcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bots::email::message::OutgoingEmail;
use chrono::{TimeZone, Utc};
use donebot::clock::ManualClock;
use donebot::config::Config;
use donebot::events::Event;
use donebot::server::Server;
use mailin_embedded::{Handler, Response, SslConfig};
use storage::{OutboxKind, OutboxState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, broadcast, watch};

const TEST_LIMIT: Duration = Duration::from_secs(60);

// --- the mail server: replies scripted by recipient -----------------------------------------

/// `rcpt-450-once@...` answers RCPT with 450 the first time only; `data-554@...` answers the end
/// of DATA with 554 every time; anything else is accepted. Accepted messages are logged by
/// Message-ID.
#[derive(Clone, Default)]
struct ScriptedMx {
    delivered: Arc<Mutex<Vec<String>>>,
    failed_once: Arc<Mutex<HashSet<String>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

fn text(code: u16) -> String {
    match code {
        421 => "4.3.2 service shutting down",
        450 => "4.2.1 mailbox busy",
        451 => "4.3.0 local error, try later",
        550 => "5.1.1 no such user here",
        554 => "5.6.0 content rejected",
        _ => "scripted reply",
    }
    .to_owned()
}

impl ScriptedMx {
    /// The code scripted for `address` at `stage`, if it applies to this attempt.
    fn scripted(&self, address: &str, stage: &str) -> Option<u16> {
        let local = address.split('@').next()?;
        let rest = local.strip_prefix(stage)?.strip_prefix('-')?;
        let (code, once) = match rest.strip_suffix("-once") {
            Some(code) => (code, true),
            None => (rest, false),
        };
        let code = code.parse().ok()?;
        if once && !self.failed_once.lock().unwrap().insert(address.to_owned()) {
            return None;
        }
        Some(code)
    }
}

impl Handler for ScriptedMx {
    fn rcpt(&mut self, to: &str) -> Response {
        match self.scripted(to, "rcpt") {
            Some(code) => Response::custom(code, text(code)),
            None => mailin_embedded::response::OK,
        }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let to = std::mem::take(&mut self.to);
        if let Some(code) = to.iter().find_map(|t| self.scripted(t, "data")) {
            // mailin stays in DATA after an error reply unless told otherwise (see
            // bots/tests/send.rs); a real server ends the transaction and still sends the code.
            let mut r = Response::custom(code, text(code));
            r.is_error = false;
            return r;
        }
        let raw = String::from_utf8_lossy(&self.data).into_owned();
        let id = raw
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or("?")
            .trim()
            .to_owned();
        self.delivered.lock().unwrap().push(id);
        Response::custom(250, "2.0.0 OK queued".to_owned())
    }
}

fn start_mx(mx: ScriptedMx) -> u16 {
    let listener = StdTcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut server = mailin_embedded::Server::new(mx);
    server
        .with_name("mx.test")
        .with_ssl(SslConfig::None)
        .unwrap()
        .with_num_threads(16)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve().map_err(|e| e.to_string());
    });
    port
}

// --- the network between: faults injected by a header in the message --------------------------

/// `X-Test-Fault: drop` (first time seen): the proxy closes both sides in the middle of DATA.
/// `X-Test-Fault: stall` (first time seen): it stops forwarding and holds both sockets open until
/// the test ends, like a server that stopped answering.
#[derive(Clone, Default)]
struct Faults {
    dropped: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    /// Notified when the stall begins.
    stall_began: Arc<Notify>,
}

enum Verdict {
    Forward,
    Drop,
    Stall,
}

impl Faults {
    fn judge(&self, window: &[u8]) -> Verdict {
        let seen = |marker: &[u8]| window.windows(marker.len()).any(|w| w == marker);
        if seen(b"X-Test-Fault: drop") && !self.dropped.swap(true, Ordering::SeqCst) {
            Verdict::Drop
        } else if seen(b"X-Test-Fault: stall") && !self.stalled.swap(true, Ordering::SeqCst) {
            self.stall_began.notify_one();
            Verdict::Stall
        } else {
            Verdict::Forward
        }
    }
}

async fn proxy(listener: TcpListener, upstream: u16, faults: Faults, end: watch::Receiver<bool>) {
    while let Ok((client, _)) = listener.accept().await {
        let faults = faults.clone();
        let mut end = end.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                return;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let (mut from_client, mut from_server) = ([0u8; 16384], [0u8; 16384]);
            // The tail of the previous read, so a marker split across two reads is still seen.
            let mut tail: Vec<u8> = Vec::new();
            loop {
                tokio::select! {
                    n = cr.read(&mut from_client) => {
                        let Ok(n @ 1..) = n else { return };
                        tail.extend_from_slice(&from_client[..n]);
                        match faults.judge(&tail) {
                            Verdict::Forward => {}
                            Verdict::Drop => return,
                            Verdict::Stall => {
                                let _held = (cr, cw, sr, sw);
                                let _ = end.changed().await;
                                return;
                            }
                        }
                        let keep = tail.len().saturating_sub(32);
                        tail.drain(..keep);
                        if sw.write_all(&from_client[..n]).await.is_err() { return; }
                    }
                    n = sr.read(&mut from_server) => {
                        let Ok(n @ 1..) = n else { return };
                        if cw.write_all(&from_server[..n]).await.is_err() { return; }
                    }
                    _ = end.changed() => return,
                }
            }
        });
    }
}

// --- donebot ------------------------------------------------------------------------------------

fn email(to: &str, n: usize, fault: Option<&str>) -> OutgoingEmail {
    OutgoingEmail {
        from: "donebot <donebot@done.example.com>".to_owned(),
        to: to.to_owned(),
        reply_to: None,
        subject: "What did you get done today?".to_owned(),
        text: "Reply with a line for each thing you got done.\n".to_owned(),
        html: None,
        message_id: format!("fault-{n}@done.example.com"),
        in_reply_to: None,
        return_path: None,
        headers: fault
            .map(|f| vec![("X-Test-Fault".to_owned(), f.to_owned())])
            .unwrap_or_default(),
        date: Utc.with_ymd_and_hms(2026, 4, 15, 22, 0, 0).unwrap(),
    }
}

/// The first outcome event of `id` among those received, or waits for more.
async fn outcomes(
    events: &mut broadcast::Receiver<Event>,
    want: &HashSet<u64>,
    pick: impl Fn(&Event) -> Option<(u64, &'static str)>,
) -> HashMap<u64, &'static str> {
    let mut got = HashMap::new();
    while got.len() < want.len() {
        match events.recv().await {
            Ok(e) => {
                if let Some((id, what)) = pick(&e).filter(|(id, _)| want.contains(id)) {
                    got.entry(id).or_insert(what);
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => panic!("missed {n} events"),
            Err(broadcast::error::RecvError::Closed) => panic!("event stream closed"),
        }
    }
    got
}

fn outcome(e: &Event) -> Option<(u64, &'static str)> {
    match e {
        Event::EmailSent { outbox, .. } => Some((*outbox, "sent")),
        Event::EmailDeferred { outbox, .. } => Some((*outbox, "deferred")),
        Event::EmailFailed { outbox, .. } => Some((*outbox, "failed")),
        _ => None,
    }
}

#[actix_rt::test]
async fn every_fault_ends_sent_or_failed_and_nothing_is_lost_or_doubled() {
    let mx = ScriptedMx::default();
    let delivered = mx.delivered.clone();
    let mx_port = start_mx(mx);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    let (end_tx, end_rx) = watch::channel(false);
    tokio::spawn(proxy(listener, mx_port, Faults::default(), end_rx));

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    config.web.listen = "127.0.0.1:0".into();
    config.inbound_smtp.listen = "127.0.0.1:0".into();
    config.email.domain = "done.example.com".into();
    config.email.smtp_url = Some(format!("smtp://127.0.0.1:{proxy_port}"));
    config.email.timeout_secs = 1;
    config.outbox.first_retry_seconds = 1;
    config.outbox.concurrency = 4;
    let t0 = Utc.with_ymd_and_hms(2026, 4, 15, 22, 0, 0).unwrap();
    let clock = ManualClock::new(t0);
    let server = Server::start(config.validate("test").unwrap(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let store = server.app.store.clone();
    let mut events = server.app.events.subscribe();

    // (recipient, fault, first outcome, final state)
    let script: &[(&str, Option<&str>, &str, &str)] = &[
        ("ok-1@example.org", None, "sent", "sent"),
        ("ok-2@example.org", None, "sent", "sent"),
        ("rcpt-421-once@example.org", None, "deferred", "sent"),
        ("rcpt-450-once@example.org", None, "deferred", "sent"),
        ("data-451-once@example.org", None, "deferred", "sent"),
        ("rcpt-550@example.org", None, "failed", "failed"),
        ("data-554@example.org", None, "failed", "failed"),
        ("dropped@example.org", Some("drop"), "deferred", "sent"),
        ("stalled@example.org", Some("stall"), "deferred", "sent"),
    ];
    let mut ids = Vec::new();
    for (n, (to, fault, _, _)) in script.iter().enumerate() {
        let (id, new) = donebot::ops::enqueue_email(
            &store,
            None,
            &email(to, n, *fault),
            format!("fault-test:{n}"),
            OutboxKind::Prompt,
            None,
            None,
            t0,
        )
        .unwrap();
        assert!(new);
        ids.push(id);
    }
    server.app.actors.wake_outbox();

    tokio::time::timeout(TEST_LIMIT, async {
        // First attempts: 2xx sent, 5xx failed at once, 4xx and network faults deferred.
        let all: HashSet<u64> = ids.iter().copied().collect();
        let first = outcomes(&mut events, &all, outcome).await;
        for ((to, _, want, _), id) in script.iter().zip(&ids) {
            assert_eq!(first[id], *want, "{to}: first attempt");
        }

        // Past every retry time: the ticker wakes the outbox, the deferred ones go out.
        let deferred: HashSet<u64> = script
            .iter()
            .zip(&ids)
            .filter(|((_, _, first, _), _)| *first == "deferred")
            .map(|(_, id)| *id)
            .collect();
        clock.advance(chrono::Duration::minutes(10));
        let second = outcomes(&mut events, &deferred, outcome).await;
        assert!(second.values().all(|o| *o == "sent"), "{second:?}");
    })
    .await
    .expect("every message reached sent or failed in time");

    for ((to, _, first, last), id) in script.iter().zip(&ids) {
        let m = store.outbox_message(*id).unwrap();
        assert_eq!(m.state.as_str(), *last, "{to}");
        let attempts = if *first == "deferred" { 2 } else { 1 };
        assert_eq!(m.attempts, attempts, "{to}");
    }
    let counts = store.outbox_counts().unwrap();
    assert_eq!(
        (
            counts.sent,
            counts.failed,
            counts.queued,
            counts.deferred,
            counts.sending
        ),
        (7, 2, 0, 0, 0)
    );

    // The permanent failures keep the server's reply, for `outbox list --state failed`.
    let failed: HashMap<String, String> = store
        .outbox_list(Some("failed"), 10)
        .unwrap()
        .into_iter()
        .map(|m| match m.state {
            OutboxState::Failed { reply, .. } => (m.envelope_to.join(","), reply),
            other => panic!("listed as failed: {other:?}"),
        })
        .collect();
    assert_eq!(
        failed["rcpt-550@example.org"],
        "550 5.1.1 no such user here"
    );
    assert_eq!(failed["data-554@example.org"], "554 5.6.0 content rejected");

    // Each sent message reached the server exactly once; the failed ones never did.
    let delivered = delivered.lock().unwrap().clone();
    let mut want: Vec<String> = script
        .iter()
        .enumerate()
        .filter(|(_, (_, _, _, last))| *last == "sent")
        .map(|(n, _)| format!("<fault-{n}@done.example.com>"))
        .collect();
    let mut got = delivered.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "delivered once each: {delivered:?}");

    let _ = end_tx.send(true);
    tokio::time::timeout(TEST_LIMIT, server.stop())
        .await
        .expect("donebot stops in time");
}

/// A graceful stop while a send hangs: the message in flight ends with its outcome recorded
/// (`deferred` after the SMTP timeout), and the messages claimed ahead of the connections but
/// never handed to them go back to `queued` without an attempt counted. Nothing stays `sending`.
#[actix_rt::test]
async fn a_graceful_stop_returns_the_read_ahead_and_records_what_was_in_flight() {
    let mx_port = start_mx(ScriptedMx::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    let (end_tx, end_rx) = watch::channel(false);
    let faults = Faults::default();
    tokio::spawn(proxy(listener, mx_port, faults.clone(), end_rx));

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    config.web.listen = "127.0.0.1:0".into();
    config.inbound_smtp.listen = "127.0.0.1:0".into();
    config.email.domain = "done.example.com".into();
    config.email.smtp_url = Some(format!("smtp://127.0.0.1:{proxy_port}"));
    config.email.timeout_secs = 1;
    // One connection: the first round claims all six (the connection's one and a read-ahead of
    // at least 256 claimed messages).
    config.outbox.concurrency = 1;
    let t0 = Utc.with_ymd_and_hms(2026, 4, 15, 22, 0, 0).unwrap();
    let server = Server::start(
        config.validate("test").unwrap(),
        Arc::new(ManualClock::new(t0)),
    )
    .await
    .unwrap();
    let store = server.app.store.clone();

    let ids: Vec<u64> = (0..6)
        .map(|n| {
            let fault = (n == 0).then_some("stall");
            let (id, new) = donebot::ops::enqueue_email(
                &store,
                None,
                &email(&format!("ok-{n}@example.org"), n, fault),
                format!("drain-test:{n}"),
                OutboxKind::Prompt,
                None,
                None,
                t0,
            )
            .unwrap();
            assert!(new);
            id
        })
        .collect();
    server.app.actors.wake_outbox();

    tokio::time::timeout(TEST_LIMIT, faults.stall_began.notified())
        .await
        .expect("the first message reached the server and hangs there");
    let c = store.outbox_counts().unwrap();
    assert_eq!(
        (c.sending, c.queued),
        (6, 0),
        "one in flight, five read ahead"
    );

    tokio::time::timeout(TEST_LIMIT, server.stop())
        .await
        .expect("donebot stops in time");

    let hung = store.outbox_message(ids[0]).unwrap();
    assert!(
        matches!(hung.state, OutboxState::Deferred { .. }),
        "{:?}",
        hung.state
    );
    assert_eq!(hung.attempts, 1);
    for id in &ids[1..] {
        let m = store.outbox_message(*id).unwrap();
        assert_eq!((m.state, m.attempts), (OutboxState::Queued, 0), "{id}");
    }
    let c = store.outbox_counts().unwrap();
    assert_eq!(
        (c.sending, c.queued, c.deferred, c.sent, c.failed),
        (0, 5, 1, 0, 0)
    );
    let _ = end_tx.send(true);
}
