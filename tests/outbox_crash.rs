//! SIGKILL while the outbox is sending a batch: after a restart every message is delivered, and
//! the only duplicates are messages that were in flight, or delivered without a durable `sent`,
//! at the kill.
//!
//! The real binary enqueues 2,000 prompts and sends them (`donebot bench outbox --data DIR`) to a
//! real SMTP server in this process (mailin-embedded) that counts deliveries per Message-ID. After
//! a quarter of them arrived the process is SIGKILLed; `donebot serve` is then started on the same
//! data directory and finishes the batch.
//!
//! The bound asserted is the outbox's group-commit invariant (src/actors/outbox.rs): a send starts
//! only while the sends in flight plus the finished ones whose outcome is not yet durable are
//! fewer than twice `concurrency`. Every message delivered without a durable `sent` is one of
//! those at the kill. Hence: duplicates ≤ 2 × concurrency, and each duplicate is one whose durable
//! state at the kill was not `sent`. (Messages claimed ahead, `sending` but never handed to the
//! server, are re-sent after the restart too, but they are no duplicates.)

use std::collections::HashMap;
use std::net::TcpListener as StdTcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mailin_embedded::{Handler, Response, SslConfig};
use storage::Store;

const BIN: &str = env!("CARGO_BIN_EXE_donebot");
const MESSAGES: usize = 2_000;
const CONCURRENCY: usize = 8;
const SINK_THREADS: u32 = 32;
const KILL_AFTER: usize = MESSAGES / 4;
const WAIT: Duration = Duration::from_secs(120);

/// Accepts everything; reports each delivered Message-ID on a channel.
#[derive(Clone)]
struct CountingSink {
    delivered: mpsc::Sender<String>,
    data: Vec<u8>,
}

impl Handler for CountingSink {
    fn data_start(&mut self, _domain: &str, _from: &str, _8bit: bool, _to: &[String]) -> Response {
        self.data.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let raw = String::from_utf8_lossy(&self.data);
        let id = raw
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .map(|v| v.trim().trim_matches(['<', '>']).to_owned())
            .unwrap_or_default();
        let _ = self.delivered.send(id);
        Response::custom(250, "2.0.0 OK".to_owned())
    }
}

fn start_sink() -> (u16, mpsc::Receiver<String>) {
    let listener = StdTcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let mut server = mailin_embedded::Server::new(CountingSink {
        delivered: tx,
        data: Vec::new(),
    });
    server
        .with_name("sink.test")
        .with_ssl(SslConfig::None)
        .unwrap()
        // Two processes' pools (a killed one's sockets are closed by the kernel) and spare.
        .with_num_threads(SINK_THREADS)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve().map_err(|e| e.to_string());
    });
    (port, rx)
}

/// A child process that is SIGKILLed if the test ends without reaping it.
struct Proc(Option<Child>);

impl Proc {
    fn spawn(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(cwd).args(args).stdin(Stdio::null());
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
        for (k, _) in std::env::vars() {
            if k.starts_with("DONEBOT_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("RUST_LOG", "warn").envs(env.iter().copied());
        Proc(Some(cmd.spawn().expect("the donebot binary runs")))
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits (bounded) for the exit status.
    fn terminate(&mut self) -> ExitStatus {
        let mut child = self.0.take().expect("running");
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        // SAFETY: plain kill(2) on our own child, which has not been reaped yet.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(WAIT) {
            Ok(status) => status.unwrap(),
            Err(_) => {
                // SAFETY: as above; the waiting thread reaps it.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("donebot did not stop within {WAIT:?} of SIGTERM");
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Receives deliveries into `seen` until `done` says so; panics at `deadline`.
fn receive_until(
    rx: &mpsc::Receiver<String>,
    seen: &mut HashMap<String, usize>,
    deadline: Instant,
    what: &str,
    done: impl Fn(&HashMap<String, usize>) -> bool,
) {
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(id) => *seen.entry(id).or_default() += 1,
            Err(_) => panic!(
                "timed out waiting for {what}: {} distinct, {} deliveries",
                seen.len(),
                seen.values().sum::<usize>()
            ),
        }
    }
}

#[test]
fn sigkill_mid_batch_loses_nothing_and_resends_at_most_twice_the_concurrency() {
    sigkill_mid_batch(false);
}

/// The same while the prompts are still being written, as at a prompt time in the server: the
/// outbox sends from the first team on, most of it handed over by the enqueuer. Whatever arrived
/// before the kill is in the database after it, and the restart sends everything that is. (A
/// SIGKILL keeps what sled had written to its file; that the outbox flushes before it sends,
/// so that a power cut cannot lose the record of a message sent, is beyond a process test.)
#[test]
fn sigkill_while_prompts_are_written_and_sent_sends_only_what_is_durable() {
    sigkill_mid_batch(true);
}

fn sigkill_mid_batch(overlap: bool) {
    let (port, rx) = start_sink();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_arg = data.to_str().unwrap();
    let smtp = format!("127.0.0.1:{port}");
    let mut seen: HashMap<String, usize> = HashMap::new();

    // 1. Enqueue and start sending; SIGKILL once a quarter has arrived.
    let (messages, concurrency) = (MESSAGES.to_string(), CONCURRENCY.to_string());
    let mut args = vec![
        "--data",
        data_arg,
        "bench",
        "outbox",
        "--smtp",
        &smtp,
        "--messages",
        &messages,
        "--concurrency",
        &concurrency,
    ];
    if overlap {
        args.push("--overlap");
    }
    let mut bench = Proc::spawn(tmp.path(), &args, &[]);
    let deadline = Instant::now() + WAIT;
    receive_until(&rx, &mut seen, deadline, "the first deliveries", |s| {
        s.values().sum::<usize>() >= KILL_AFTER
    });
    bench.kill();
    // What the dead process had already handed over (its sockets are closed now).
    while let Ok(id) = rx.try_recv() {
        *seen.entry(id).or_default() += 1;
    }
    let before_restart = seen.values().sum::<usize>();
    assert!(
        before_restart < MESSAGES,
        "the kill came after the batch was done; nothing was tested"
    );

    // The durable state the restart will start from. Back to back, every message was enqueued
    // (and flushed) before the first was sent; overlapped, the kill may come before the last
    // team's prompts were written, but never before a message that was sent.
    let durable: HashMap<String, String> = {
        let store = Store::open(&data).unwrap();
        let all = store.outbox_list(None, MESSAGES + 1).unwrap();
        if !overlap {
            assert_eq!(
                all.len(),
                MESSAGES,
                "every enqueued message survived the kill"
            );
        }
        all.into_iter()
            .map(|m| (m.message_id, m.state.as_str().to_owned()))
            .collect()
    };
    assert!(
        seen.keys().all(|id| durable.contains_key(id)),
        "a message was sent before its enqueue was durable"
    );
    let total = durable.len();
    let not_sent = durable.values().filter(|s| *s != "sent").count();
    assert!(not_sent >= total - before_restart.min(total));

    // 2. Restart the server on the same data directory; it finishes the batch.
    let url = format!("smtp://{smtp}");
    let mut serve = Proc::spawn(
        tmp.path(),
        &["--data", data_arg, "serve"],
        &[
            ("DONEBOT_EMAIL__SMTP_URL", url.as_str()),
            ("DONEBOT_WEB__LISTEN", "127.0.0.1:0"),
            ("DONEBOT_INBOUND_SMTP__LISTEN", ""),
            ("DONEBOT_OUTBOX__CONCURRENCY", concurrency.as_str()),
        ],
    );
    let deadline = Instant::now() + WAIT;
    receive_until(&rx, &mut seen, deadline, "every message", |s| {
        s.len() >= total
    });
    assert!(serve.terminate().success(), "graceful stop exits 0");
    while let Ok(id) = rx.try_recv() {
        *seen.entry(id).or_default() += 1;
    }

    // Every message arrived; the duplicates are few and each was not durably `sent`.
    assert_eq!(seen.len(), total);
    assert!(seen.keys().all(|id| durable.contains_key(id)), "only ours");
    let duplicates: Vec<(&String, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    let extra: usize = duplicates.iter().map(|(_, n)| *n - 1).sum();
    eprintln!(
        "killed after {before_restart} deliveries; {not_sent} not durably sent; {extra} duplicates"
    );
    assert!(
        extra <= 2 * CONCURRENCY,
        "{extra} duplicates > twice the concurrency {CONCURRENCY}: {duplicates:?}"
    );
    for (id, _) in &duplicates {
        assert_ne!(
            durable[*id], "sent",
            "{id} was durably sent, yet sent again"
        );
    }

    // And the store agrees: all sent, nothing left in flight.
    let store = Store::open(&data).unwrap();
    let c = store.outbox_counts().unwrap();
    assert_eq!(
        (c.sent, c.queued, c.sending, c.deferred, c.failed),
        (total as u64, 0, 0, 0, 0)
    );
}
