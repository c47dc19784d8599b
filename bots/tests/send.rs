//! End-to-end tests of the outgoing path: `message::build` makes the MIME, `Transport::send` hands
//! it to a real SMTP server (mailin-embedded, with per-recipient scripted replies) or to raw TCP
//! peers that misbehave on purpose, or writes it to an `.eml` directory.
//!
//! Every peer listens on 127.0.0.1:0 and every test runs under an overall timeout. mailin-embedded
//! has no stop call: each test's server lives on two detached pool threads that block in `accept`
//! and end with the test process; the client side (the transport's pool) is dropped with each
//! test's runtime, which closes its connections and frees those threads.

use std::net::TcpListener as StdTcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bots::email::message::{self, BuiltEmail, MessageError, OutgoingEmail};
use bots::email::send::{SendError, SmtpOptions, Transport};
use chrono::{TimeZone, Utc};
use mailin_embedded::{Handler, Response, Server, SslConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const TEST_LIMIT: Duration = Duration::from_secs(30);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("test exceeded its time limit")
}

// --- a real SMTP server with scripted replies -------------------------------------------------

#[derive(Debug, Clone, Default)]
struct Received {
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

#[derive(Debug, Default)]
struct MxLog {
    /// `EHLO`s seen: the pool says it twice per connection (lettre's, then its own to read the
    /// extension list lettre does not keep), so connections are half of it.
    ehlos: usize,
    messages: Vec<Received>,
}

impl MxLog {
    fn connections(&self) -> usize {
        self.ehlos / 2
    }
}

/// Replies are chosen by the recipient's local part: `rcpt-450@...` answers RCPT with 450,
/// `data-554@...` answers the end of DATA with 554; anything else is accepted.
#[derive(Clone)]
struct ScriptedMx {
    log: Arc<Mutex<MxLog>>,
    current: Received,
}

fn scripted_text(code: u16) -> &'static str {
    match code {
        421 => "4.3.2 service shutting down",
        450 => "4.2.1 mailbox busy",
        451 => "4.3.0 local error, try later",
        550 => "5.1.1 no such user here",
        554 => "5.6.0 content rejected",
        _ => "scripted reply",
    }
}

/// The scripted reply to the final "." of DATA.
///
/// mailin keeps its state machine in DATA after an error reply there (so lettre's following
/// QUIT would be read as message text and never answered); a real server ends the transaction.
/// Clearing `is_error` makes mailin move on while still sending the 4xx/5xx code.
fn scripted_data_end(code: u16) -> Response {
    let mut response = Response::custom(code, scripted_text(code).to_owned());
    response.is_error = false;
    response
}

fn scripted_code(address: &str, stage: &str) -> Option<u16> {
    let local = address.split('@').next()?;
    local.strip_prefix(stage)?.strip_prefix('-')?.parse().ok()
}

impl Handler for ScriptedMx {
    fn helo(&mut self, _ip: std::net::IpAddr, _domain: &str) -> Response {
        self.log.lock().unwrap().ehlos += 1;
        mailin_embedded::response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        match scripted_code(to, "rcpt") {
            Some(code) => Response::custom(code, scripted_text(code).to_owned()),
            None => mailin_embedded::response::OK,
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Received {
            from: from.to_owned(),
            to: to.to_vec(),
            data: Vec::new(),
        };
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let received = std::mem::take(&mut self.current);
        let code = received.to.iter().find_map(|to| scripted_code(to, "data"));
        self.log.lock().unwrap().messages.push(received);
        match code {
            Some(code) => scripted_data_end(code),
            None => Response::custom(250, "2.0.0 OK queued as 42".to_owned()),
        }
    }
}

fn start_mx() -> (u16, Arc<Mutex<MxLog>>) {
    let listener = StdTcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(MxLog::default()));
    let handler = ScriptedMx {
        log: Arc::clone(&log),
        current: Received::default(),
    };
    let mut server = Server::new(handler);
    server
        .with_name("mx.test")
        .with_ssl(SslConfig::None)
        .unwrap()
        .with_num_threads(2)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        // serve() only returns on a start-up error; the test then fails on its first send.
        let _ = server.serve().map_err(|e| e.to_string());
    });
    (port, log)
}

fn options(timeout: Duration) -> SmtpOptions {
    SmtpOptions {
        timeout,
        pool_size: 2,
        hello_name: Some("donebot.test".to_owned()),
    }
}

fn smtp(url: &str, timeout: Duration) -> Transport {
    Transport::new(Some(url), Path::new("/nonexistent"), options(timeout)).unwrap()
}

fn email(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        from: "donebot <donebot@example.com>".to_owned(),
        to: to.to_owned(),
        reply_to: Some("reply+tok3n@example.com".to_owned()),
        subject: "What did you get done today? ✅".to_owned(),
        text: "Hi Zoë,\r\n\r\nReply to this email.\r\n.\r\n..leading dots survive\r\n".to_owned(),
        html: Some("<p>Hi Zoë,</p><p>Reply to this email.</p>".to_owned()),
        message_id: "prompt-17.team-3@example.com".to_owned(),
        in_reply_to: Some("digest-9@example.com".to_owned()),
        return_path: None,
        headers: vec![
            ("Auto-Submitted".to_owned(), "auto-generated".to_owned()),
            ("Precedence".to_owned(), "bulk".to_owned()),
            (
                "List-Unsubscribe".to_owned(),
                "<https://donebot.example.com/u/abc>, <mailto:unsubscribe@example.com>".to_owned(),
            ),
            (
                "List-Unsubscribe-Post".to_owned(),
                "List-Unsubscribe=One-Click".to_owned(),
            ),
            (
                "List-Id".to_owned(),
                "team-3 <team-3.example.com>".to_owned(),
            ),
            ("X-Donebot-Kind".to_owned(), "prompt".to_owned()),
        ],
        date: Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap(),
    }
}

async fn send_to(transport: &Transport, to: &str) -> Result<BuiltEmail, SendError> {
    let built = message::build(&email(to)).unwrap();
    transport
        .send(&built.envelope_from, &built.envelope_to, &built.raw)
        .await?;
    Ok(built)
}

#[tokio::test]
async fn delivers_exact_bytes() {
    bounded(async {
        let (port, log) = start_mx();
        let transport = smtp(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(10));
        let built = message::build(&email("someone@example.org")).unwrap();

        let receipt = transport
            .send(&built.envelope_from, &built.envelope_to, &built.raw)
            .await
            .unwrap();
        assert_eq!(receipt.reply, "250 2.0.0 OK queued as 42");
        transport
            .send(&built.envelope_from, &built.envelope_to, &built.raw)
            .await
            .unwrap();

        let log = log.lock().unwrap();
        assert_eq!(log.messages.len(), 2);
        let got = &log.messages[0];
        assert_eq!(got.from, "donebot@example.com");
        assert_eq!(got.to, vec!["someone@example.org".to_owned()]);
        assert_eq!(
            got.data, built.raw,
            "the server stored exactly the built bytes"
        );
        assert_eq!(log.messages[1].data, built.raw);
        // That the second send reused the connection: sequential_sends_share_one_connection.
    })
    .await;
}

#[tokio::test]
async fn temporary_replies_are_transient_with_their_code() {
    bounded(async {
        let (port, log) = start_mx();
        let transport = smtp(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(10));
        for (to, code) in [
            ("rcpt-421@example.org", 421),
            ("rcpt-450@example.org", 450),
            ("rcpt-451@example.org", 451),
            ("data-421@example.org", 421),
            ("data-450@example.org", 450),
            ("data-451@example.org", 451),
        ] {
            let err = send_to(&transport, to).await.unwrap_err();
            assert!(err.is_transient() && !err.is_permanent(), "{to}: {err:?}");
            assert_eq!(err.code(), Some(code), "{to}");
        }
        // The DATA-stage ones did reach the server; a later good message still gets through.
        send_to(&transport, "ok@example.org").await.unwrap();
        assert_eq!(log.lock().unwrap().messages.len(), 4);
    })
    .await;
}

#[tokio::test]
async fn permanent_replies_are_permanent_with_the_reply_text() {
    bounded(async {
        let (port, _log) = start_mx();
        let transport = smtp(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(10));
        for (to, code, text) in [
            ("rcpt-550@example.org", 550, "550 5.1.1 no such user here"),
            ("rcpt-554@example.org", 554, "554 5.6.0 content rejected"),
            ("data-550@example.org", 550, "550 5.1.1 no such user here"),
            ("data-554@example.org", 554, "554 5.6.0 content rejected"),
        ] {
            let err = send_to(&transport, to).await.unwrap_err();
            assert!(err.is_permanent() && !err.is_transient(), "{to}: {err:?}");
            assert_eq!(err.code(), Some(code), "{to}");
            assert_eq!(err.to_string(), text, "{to}");
        }
    })
    .await;
}

#[tokio::test]
async fn sequential_sends_share_one_connection() {
    bounded(async {
        let (port, log) = start_mx();
        let transport = smtp(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(10));
        for _ in 0..3 {
            send_to(&transport, "someone@example.org").await.unwrap();
        }
        let log = log.lock().unwrap();
        assert_eq!(log.messages.len(), 3);
        assert_eq!(
            log.connections(),
            1,
            "a finished send returns its connection"
        );
    })
    .await;
}

#[tokio::test]
async fn a_rejected_send_does_not_return_its_connection() {
    bounded(async {
        let (port, log) = start_mx();
        let transport = smtp(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(10));
        send_to(&transport, "ok@example.org").await.unwrap();
        send_to(&transport, "rcpt-450@example.org")
            .await
            .unwrap_err();
        send_to(&transport, "ok@example.org").await.unwrap();
        assert_eq!(log.lock().unwrap().connections(), 2);
    })
    .await;
}

#[tokio::test]
async fn concurrent_sends_open_at_most_pool_size_connections() {
    bounded(async {
        let (port, log) = start_mx();
        let transport = smtp(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(10));
        let send = || send_to(&transport, "someone@example.org");
        let results = tokio::join!(send(), send(), send(), send(), send(), send());
        for result in <[_; 6]>::from(results) {
            result.unwrap();
        }
        let log = log.lock().unwrap();
        assert_eq!(log.messages.len(), 6);
        assert!(
            (1..=2).contains(&log.connections()),
            "pool_size is 2: {} connections",
            log.connections()
        );
    })
    .await;
}

/// A peer that takes each connection through one message and accepts it; on the first
/// connection it then says `421` and hangs up, the way a relay ends an idle or used-up session.
/// Reports each hang-up on `closed`.
async fn one_message_then_421(
    listener: TcpListener,
    closed: tokio::sync::mpsc::UnboundedSender<usize>,
) {
    for connection in 0.. {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        write.write_all(b"220 relay.test ESMTP\r\n").await.unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if read.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            let reply: &[u8] = match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                Some("EHLO") => b"250-relay.test\r\n250 8BITMIME\r\n",
                Some("DATA") => b"354 go ahead\r\n",
                Some("QUIT") => b"221 bye\r\n",
                _ => b"250 OK\r\n",
            };
            write.write_all(reply).await.unwrap();
            if reply.starts_with(b"354") {
                while line != ".\r\n" {
                    line.clear();
                    assert_ne!(read.read_line(&mut line).await.unwrap(), 0);
                }
                write.write_all(b"250 2.0.0 queued\r\n").await.unwrap();
                if connection == 0 {
                    write.write_all(b"421 4.4.2 closing\r\n").await.unwrap();
                    break;
                }
            }
        }
        drop((read, write));
        let _ = closed.send(connection);
    }
}

#[tokio::test]
async fn an_idle_connection_the_server_closed_is_not_reused() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(one_message_then_421(listener, closed_tx));
        let transport = smtp(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(10));
        send_to(&transport, "someone@example.org").await.unwrap();
        assert_eq!(closed.recv().await, Some(0), "the relay hung up");
        // The pooled connection has a 421 and an EOF waiting: it is dropped, a new one is used.
        send_to(&transport, "someone@example.org").await.unwrap();
    })
    .await;
}

/// A relay that offers PIPELINING and answers `MAIL` only once the `RCPT` and `DATA` of its group
/// have arrived too: a client that waited for each reply before the next command would wait
/// here until its timeout. Sends every message's content, un-dot-stuffed, on `messages`; refuses
/// a recipient named `rcpt-550@…`.
async fn pipelining_relay(
    listener: TcpListener,
    messages: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
) {
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        write.write_all(b"220 pipe.test ESMTP\r\n").await.unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if read.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                Some("EHLO") => {
                    let ehlo = b"250-pipe.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
                    write.write_all(ehlo).await.unwrap();
                }
                Some("MAIL") => {
                    let (mut rcpt, mut data) = (String::new(), String::new());
                    read.read_line(&mut rcpt).await.unwrap();
                    read.read_line(&mut data).await.unwrap();
                    assert!(rcpt.starts_with("RCPT TO:<"), "{rcpt:?}");
                    assert_eq!(data, "DATA\r\n");
                    if rcpt.contains("rcpt-550") {
                        // RFC 2920: the rest of the group is answered in order, DATA refused.
                        let replies =
                            b"250 OK\r\n550 5.1.1 no such user\r\n554 no valid recipients\r\n";
                        write.write_all(replies).await.unwrap();
                        continue;
                    }
                    let replies = b"250 OK\r\n250 OK\r\n354 go ahead\r\n";
                    write.write_all(replies).await.unwrap();
                    let mut content = Vec::new();
                    loop {
                        line.clear();
                        assert_ne!(read.read_line(&mut line).await.unwrap(), 0);
                        if line == ".\r\n" {
                            break;
                        }
                        let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                        content.extend_from_slice(unstuffed.as_bytes());
                    }
                    write.write_all(b"250 2.0.0 queued\r\n").await.unwrap();
                    let _ = messages.send(content);
                }
                Some("QUIT") => write.write_all(b"221 bye\r\n").await.unwrap(),
                _ => write.write_all(b"500 unexpected\r\n").await.unwrap(),
            }
        }
    }
}

#[tokio::test]
async fn a_relay_that_pipelines_gets_each_group_in_one_go_and_the_exact_bytes() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, mut received) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(pipelining_relay(listener, tx));
        // A short timeout: a client that does not pipeline waits on this relay until it.
        let transport = smtp(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(5));
        let raw = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: dots\r\n\r\n.starts with a dot\r\n..two\r\nZo\xc3\xab\r\n.\r\nend\r\n";
        let to = ["b@example.org".to_owned()];
        for _ in 0..2 {
            let receipt = transport.send("a@example.org", &to, raw).await.unwrap();
            assert_eq!(receipt.reply, "250 2.0.0 queued");
            assert_eq!(received.recv().await.unwrap(), raw.to_vec());
        }
        let err = transport
            .send("a@example.org", &["rcpt-550@example.org".to_owned()], raw)
            .await
            .unwrap_err();
        assert!(err.is_permanent(), "{err:?}");
        assert_eq!(err.code(), Some(550));
        // The refused group's connection is dropped, never reused; the next send still works.
        transport.send("a@example.org", &to, raw).await.unwrap();
        assert_eq!(received.recv().await.unwrap(), raw.to_vec());
    })
    .await;
}

/// A peer that speaks just enough SMTP to get to DATA, reads one line of it and hangs up.
async fn hang_up_during_data(listener: TcpListener) {
    let (stream, _) = listener.accept().await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 flaky.test ESMTP\r\n").await.unwrap();
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await.unwrap() == 0 {
            return;
        }
        let reply: &[u8] = match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
            Some("EHLO") => b"250-flaky.test\r\n250 8BITMIME\r\n",
            Some("DATA") => b"354 go ahead\r\n",
            _ => b"250 OK\r\n",
        };
        write.write_all(reply).await.unwrap();
        if reply.starts_with(b"354") {
            line.clear();
            let _ = read.read_line(&mut line).await;
            return; // drops both halves: the connection is gone mid-DATA
        }
    }
}

#[tokio::test]
async fn connection_dropped_during_data_is_transient() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = tokio::spawn(hang_up_during_data(listener));
        let transport = smtp(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(10));
        let err = send_to(&transport, "someone@example.org")
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(matches!(err, SendError::Connection(_)), "{err:?}");
        assert_eq!(err.code(), None);
        peer.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn silent_server_times_out_as_transient() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (accepted_tx, accepted_rx) = tokio::sync::oneshot::channel();
        // Accepts, never says a word, and keeps the socket open until the test ends.
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = accepted_tx.send(());
            let _held = stream;
            std::future::pending::<()>().await;
        });
        let timeout = Duration::from_millis(300);
        let transport = smtp(&format!("smtp://127.0.0.1:{port}"), timeout);
        let err = send_to(&transport, "someone@example.org")
            .await
            .unwrap_err();
        accepted_rx.await.unwrap();
        assert!(
            matches!(err, SendError::Timeout(t) if t == timeout),
            "{err:?}"
        );
        assert!(err.is_transient());
    })
    .await;
}

#[tokio::test]
async fn refused_connection_is_transient() {
    bounded(async {
        let port = {
            let listener = StdTcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let transport = smtp(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(10));
        let err = send_to(&transport, "someone@example.org")
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(matches!(err, SendError::Connection(_)), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn tls_handshake_failure_is_transient() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // A plain-text server where the client expects TLS from the first byte.
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = stream.write_all(b"220 plain.test ESMTP\r\n").await;
            let mut sink = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut sink).await;
        });
        let transport = smtp(
            &format!("smtps://127.0.0.1:{port}"),
            Duration::from_secs(10),
        );
        let err = send_to(&transport, "someone@example.org")
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(matches!(err, SendError::Connection(_)), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn required_starttls_on_a_server_without_it_is_transient() {
    bounded(async {
        let (port, log) = start_mx();
        let url = format!("smtp://127.0.0.1:{port}?tls=starttls");
        let transport = smtp(&url, Duration::from_secs(10));
        let err = send_to(&transport, "someone@example.org")
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Unsupported(_)), "{err:?}");
        assert!(
            err.is_transient(),
            "the relay's configuration, not the message, is at fault"
        );
        assert!(
            log.lock().unwrap().messages.is_empty(),
            "nothing sent in plain text"
        );
    })
    .await;
}

#[tokio::test]
async fn malformed_envelope_is_permanent_without_connecting() {
    bounded(async {
        let (port, log) = start_mx();
        let transport = smtp(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(10));
        let built = message::build(&email("someone@example.org")).unwrap();
        for (from, to) in [
            ("donebot@example.com", vec!["not an address".to_owned()]),
            ("donebot@example.com", vec![]),
            ("no-at-sign", vec!["someone@example.org".to_owned()]),
        ] {
            let err = transport.send(from, &to, &built.raw).await.unwrap_err();
            assert!(matches!(err, SendError::Envelope(_)), "{err:?}");
            assert!(err.is_permanent());
        }
        assert_eq!(log.lock().unwrap().connections(), 0);
    })
    .await;
}

#[test]
fn invalid_smtp_url_is_reported_with_the_key() {
    let err = Transport::new(
        Some("smtp://127.0.0.1:25x"),
        Path::new("/nonexistent"),
        SmtpOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "smtp_url: invalid port \"25x\" (expected a number 1-65535)"
    );
}

// --- the .eml directory ------------------------------------------------------------------------

#[tokio::test]
async fn eml_dir_gets_an_exact_parseable_file() {
    bounded(async {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("outbox").join("eml");
        let transport = Transport::new(None, &dir, SmtpOptions::default()).unwrap();
        assert!(dir.is_dir(), "created at start-up");
        std::fs::remove_dir(&dir).unwrap();

        let built = message::build(&email("someone@example.org")).unwrap();
        let first = transport
            .send(&built.envelope_from, &built.envelope_to, &built.raw)
            .await
            .unwrap();
        let second = transport
            .send(&built.envelope_from, &built.envelope_to, &built.raw)
            .await
            .unwrap();
        assert_ne!(first.reply, second.reply, "a resend never overwrites");

        let path = Path::new(&first.reply);
        assert_eq!(path.parent(), Some(dir.as_path()), "recreated when missing");
        let name = path.file_name().unwrap().to_str().unwrap();
        let (millis, rest) = name.split_once('-').unwrap();
        assert!(millis.parse::<u64>().is_ok(), "{name}");
        assert_eq!(rest, "prompt-17.team-3@example.com.eml");

        let bytes = std::fs::read(path).unwrap();
        assert_eq!(bytes, built.raw);
        let parsed = mailparse::parse_mail(&bytes).unwrap();
        assert_eq!(parsed.ctype.mimetype, "multipart/alternative");

        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "no temporary files left behind: {names:?}");
        assert!(
            names
                .iter()
                .all(|n| n.ends_with(".eml") && !n.starts_with('.'))
        );
    })
    .await;
}

// --- message::build ----------------------------------------------------------------------------

#[test]
fn a_return_path_is_the_envelope_sender_and_not_a_header() {
    let mut e = email("zoe@example.org");
    e.return_path = Some("bounce+abc123@example.com".into());
    let built = message::build(&e).unwrap();
    assert_eq!(built.envelope_from, "bounce+abc123@example.com");
    let raw = String::from_utf8(built.raw).unwrap();
    assert!(!raw.contains("bounce+abc123"), "{raw}");
    assert!(raw.contains("From: donebot <donebot@example.com>"), "{raw}");
    e.return_path = Some("not an address".into());
    assert!(matches!(
        message::build(&e),
        Err(message::MessageError::InvalidAddress {
            field: "return_path",
            ..
        })
    ));
}

#[test]
fn built_message_has_donebots_headers() {
    let built = message::build(&email("Zoë Example <zoe@example.org>")).unwrap();
    assert_eq!(built.envelope_from, "donebot@example.com");
    assert_eq!(built.envelope_to, vec!["zoe@example.org".to_owned()]);
    assert!(built.raw.ends_with(b"\r\n"));
    assert!(
        built.raw.windows(2).all(|w| w[1] != b'\n' || w[0] == b'\r'),
        "CRLF line endings only"
    );

    let parsed = mailparse::parse_mail(&built.raw).unwrap();
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case(name))
            .map(|h| h.get_value())
    };
    assert_eq!(
        header("Message-ID").as_deref(),
        Some("<prompt-17.team-3@example.com>")
    );
    assert_eq!(
        header("In-Reply-To").as_deref(),
        Some("<digest-9@example.com>")
    );
    assert_eq!(
        header("References").as_deref(),
        Some("<digest-9@example.com>")
    );
    assert_eq!(
        header("Date").as_deref(),
        Some("Tue, 02 Jan 2024 03:04:05 +0000")
    );
    assert_eq!(
        header("Subject").as_deref(),
        Some("What did you get done today? ✅")
    );
    assert_eq!(
        header("Reply-To").as_deref(),
        Some("reply+tok3n@example.com")
    );
    assert_eq!(header("Auto-Submitted").as_deref(), Some("auto-generated"));
    assert_eq!(header("Precedence").as_deref(), Some("bulk"));
    assert_eq!(
        header("List-Unsubscribe").as_deref(),
        Some("<https://donebot.example.com/u/abc>, <mailto:unsubscribe@example.com>")
    );
    assert_eq!(
        header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(
        header("List-Id").as_deref(),
        Some("team-3 <team-3.example.com>")
    );
    assert_eq!(header("X-Donebot-Kind").as_deref(), Some("prompt"));
}

#[test]
fn text_and_html_make_multipart_alternative_text_first() {
    let email = email("someone@example.org");
    let built = message::build(&email).unwrap();
    let parsed = mailparse::parse_mail(&built.raw).unwrap();
    assert_eq!(parsed.ctype.mimetype, "multipart/alternative");
    assert_eq!(parsed.subparts.len(), 2);
    let (text, html) = (&parsed.subparts[0], &parsed.subparts[1]);
    assert_eq!(text.ctype.mimetype, "text/plain");
    assert_eq!(text.ctype.charset.to_ascii_lowercase(), "utf-8");
    assert_eq!(text.get_body().unwrap(), email.text);
    assert_eq!(html.ctype.mimetype, "text/html");
    assert_eq!(html.get_body().unwrap(), email.html.clone().unwrap());
}

#[test]
fn text_only_is_a_single_text_part() {
    let mut email = email("someone@example.org");
    email.html = None;
    email.in_reply_to = None;
    let built = message::build(&email).unwrap();
    let parsed = mailparse::parse_mail(&built.raw).unwrap();
    assert_eq!(parsed.ctype.mimetype, "text/plain");
    assert!(parsed.subparts.is_empty());
    assert_eq!(parsed.get_body().unwrap(), email.text);
    assert!(
        parsed
            .headers
            .iter()
            .all(|h| h.get_key_ref() != "In-Reply-To")
    );
}

#[test]
fn invalid_fields_are_named_in_the_error() {
    let field_of = |edit: &dyn Fn(&mut OutgoingEmail)| {
        let mut email = email("someone@example.org");
        edit(&mut email);
        message::build(&email).unwrap_err()
    };
    for (edit, field) in [
        (
            &(|e: &mut OutgoingEmail| e.from = "not an address".into())
                as &dyn Fn(&mut OutgoingEmail),
            "from",
        ),
        (&|e: &mut OutgoingEmail| e.to = "a@b@c".into(), "to"),
        (
            &|e: &mut OutgoingEmail| e.reply_to = Some("<>".into()),
            "reply_to",
        ),
    ] {
        match field_of(edit) {
            MessageError::InvalidAddress { field: got, .. } => assert_eq!(got, field),
            other => panic!("expected InvalidAddress for {field}, got {other:?}"),
        }
    }
    assert!(matches!(
        field_of(&|e| e.message_id = "<x@y>".into()),
        MessageError::InvalidMessageId {
            field: "message_id",
            ..
        }
    ));
    assert!(matches!(
        field_of(&|e| e.in_reply_to = Some("no-domain".into())),
        MessageError::InvalidMessageId {
            field: "in_reply_to",
            ..
        }
    ));
    assert_eq!(
        field_of(&|e| e.subject = "two\r\nBcc: x@y".into()),
        MessageError::MultilineSubject
    );
    assert!(matches!(
        field_of(&|e| e.headers.push(("From".into(), "x@y".into()))),
        MessageError::InvalidHeader { name, .. } if name == "From"
    ));
    assert!(matches!(
        field_of(&|e| e.headers.push(("X-Evil".into(), "a\r\nBcc: x@y".into()))),
        MessageError::InvalidHeader { name, .. } if name == "X-Evil"
    ));
    let err = field_of(&|e| e.to = "nobody".into());
    assert!(
        err.to_string()
            .starts_with("to: invalid address \"nobody\""),
        "{err}"
    );
}

/// RFC 6376 "relaxed" body canonicalization.
fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let mut lines: Vec<String> = text
        .split("\r\n")
        .map(|l| {
            let collapsed: Vec<&str> = l.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
            let leading = if l.starts_with([' ', '\t']) && !collapsed.is_empty() {
                " "
            } else {
                ""
            };
            format!("{leading}{}", collapsed.join(" "))
        })
        .collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut out = lines.join("\r\n").into_bytes();
    if !out.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn dkim_signs_the_headers_and_the_exact_body() {
    use message::{DkimConfig, DkimSigningAlgorithm, DkimSigningKey};
    use sha2::Digest;
    let key = data_encoding::BASE64.encode(&[7u8; 32]);
    let key = DkimSigningKey::new(&key, DkimSigningAlgorithm::Ed25519).unwrap();
    let config = DkimConfig::default_config("donebot".into(), "example.com".into(), key);
    let built =
        message::build_signed(&email("Zoë Example <zoe@example.org>"), Some(&config)).unwrap();
    let parsed = mailparse::parse_mail(&built.raw).unwrap();
    let sig = parsed
        .headers
        .iter()
        .find(|h| h.get_key_ref().eq_ignore_ascii_case("DKIM-Signature"))
        .map(|h| h.get_value())
        .expect("a DKIM-Signature header");
    let tags: std::collections::HashMap<String, String> = sig
        .split(';')
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.split_whitespace().collect::<String>(),
            )
        })
        .collect();
    assert_eq!(tags["v"], "1");
    assert_eq!(tags["a"], "ed25519-sha256");
    assert_eq!(tags["d"], "example.com");
    assert_eq!(tags["s"], "donebot");
    let signed: Vec<String> = tags["h"]
        .split(':')
        .map(|h| h.to_ascii_lowercase())
        .collect();
    for h in ["from", "subject", "to", "date"] {
        assert!(signed.contains(&h.to_string()), "{h} is signed: {signed:?}");
    }
    // The body hash covers exactly the body that goes on the wire.
    let split = built.raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body_hash = sha2::Sha256::digest(relaxed_body(&built.raw[split..]));
    assert_eq!(tags["bh"], data_encoding::BASE64.encode(&body_hash));
    assert!(!tags["b"].is_empty());
    // Unsigned when no key is configured.
    let plain = message::build(&email("zoe@example.org")).unwrap();
    assert!(!String::from_utf8_lossy(&plain.raw).contains("DKIM-Signature"));
}
