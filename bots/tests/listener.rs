//! End-to-end tests of the inbound SMTP listener: `serve` runs on 127.0.0.1:0 and is driven by raw
//! TCP conversations (to assert exact replies and their order) and by lettre's client (through
//! `Transport`, to prove a real MTA-side client gets through).
//!
//! The sink is a real actix actor that forwards each `InboundMail` to the test together with a
//! oneshot for its answer, so a test decides when and how the inbound log "answers". Nothing
//! sleeps: waits are on sockets and channels, each test under an overall timeout.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use actix::prelude::*;
use bots::bus::{InboundAccepted, InboundMail, InboundRefused};
use bots::email::listener::{ListenerConfig, serve};
use bots::email::message;
use bots::email::send::{SendError, SmtpOptions, Transport};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

const TEST_LIMIT: Duration = Duration::from_secs(30);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("test exceeded its time limit")
}

// --- the sink: an actor whose answers the test gives ------------------------------------------

type Answer = Result<InboundAccepted, InboundRefused>;

struct Delivery {
    mail: InboundMail,
    answer: oneshot::Sender<Answer>,
}

impl Delivery {
    fn accept(self, id: u64) -> InboundMail {
        let _ = self.answer.send(Ok(InboundAccepted { id }));
        self.mail
    }

    fn refuse(self, why: InboundRefused) -> InboundMail {
        let _ = self.answer.send(Err(why));
        self.mail
    }
}

struct Sink {
    deliveries: mpsc::UnboundedSender<Delivery>,
}

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<InboundMail> for Sink {
    type Result = ResponseFuture<Answer>;

    fn handle(&mut self, mail: InboundMail, _ctx: &mut Context<Self>) -> Self::Result {
        let (answer, answered) = oneshot::channel();
        let _ = self.deliveries.send(Delivery { mail, answer });
        Box::pin(async move {
            answered
                .await
                .unwrap_or_else(|_| Err(InboundRefused::Transient("test dropped it".into())))
        })
    }
}

/// An actor that is gone as soon as it starts: sending to it fails with a mailbox error.
struct GoneSink;

impl Actor for GoneSink {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<InboundMail> for GoneSink {
    type Result = Answer;
    fn handle(&mut self, _mail: InboundMail, _ctx: &mut Context<Self>) -> Answer {
        Ok(InboundAccepted { id: 0 })
    }
}

// --- the server under test ----------------------------------------------------------------------

struct Mx {
    addr: SocketAddr,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<io::Result<()>>,
}

impl Mx {
    async fn start(edit: impl FnOnce(&mut ListenerConfig)) -> Mx {
        let (tx, deliveries) = mpsc::unbounded_channel();
        let sink = Sink { deliveries: tx }.start().recipient();
        Self::start_with(edit, sink, deliveries).await
    }

    async fn start_with(
        edit: impl FnOnce(&mut ListenerConfig),
        sink: Recipient<InboundMail>,
        deliveries: mpsc::UnboundedReceiver<Delivery>,
    ) -> Mx {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut cfg = ListenerConfig::new("donebot.test", "mx.donebot.test");
        edit(&mut cfg);
        let (shutdown, signal) = watch::channel(false);
        let server = tokio::spawn(serve(listener, cfg, sink, signal));
        Mx {
            addr,
            deliveries,
            shutdown,
            server,
        }
    }

    async fn next_delivery(&mut self) -> Delivery {
        self.deliveries.recv().await.expect("sink closed")
    }

    async fn stop(self) {
        self.shutdown.send(true).unwrap();
        self.server.await.unwrap().unwrap();
    }
}

/// A raw SMTP client that reads whole (possibly multi-line) replies.
struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let mut client = Client::connect_raw(addr).await;
        let greeting = client.reply().await;
        assert!(greeting.starts_with("220 mx.donebot.test"), "{greeting}");
        client
    }

    async fn connect_raw(addr: SocketAddr) -> Client {
        Client {
            stream: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        }
    }

    async fn write(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream
            .get_mut()
            .write_all(bytes.as_ref())
            .await
            .unwrap();
    }

    /// The next reply, its lines joined with "\n"; "" when the server closed the connection.
    async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line).await.unwrap() == 0 {
                return lines.join("\n");
            }
            let line = line.trim_end_matches("\r\n").to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    async fn cmd(&mut self, command: &str) -> String {
        self.write(format!("{command}\r\n")).await;
        self.reply().await
    }

    /// Nothing has arrived from the server: no buffered bytes and none readable right now.
    fn nothing_received(&mut self) -> bool {
        let mut probe = [0u8; 64];
        self.stream.buffer().is_empty()
            && matches!(
                self.stream.get_ref().try_read(&mut probe),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock
            )
    }

    async fn start_transaction(&mut self, rcpt: &str) {
        assert!(self.cmd("EHLO client.test").await.starts_with("250-"));
        assert_eq!(
            self.cmd("MAIL FROM:<alice@example.org>").await,
            "250 2.1.0 OK"
        );
        assert_eq!(self.cmd(&format!("RCPT TO:<{rcpt}>")).await, "250 2.1.5 OK");
        assert!(self.cmd("DATA").await.starts_with("354 "));
    }
}

// --- tests --------------------------------------------------------------------------------------

#[actix_rt::test]
async fn accepted_mail_reaches_the_sink_before_250() {
    bounded(async {
        let mut mx = Mx::start(|_| {}).await;
        let mut client = Client::connect(mx.addr).await;

        let ehlo = client.cmd("EHLO client.test").await;
        for capability in [
            "PIPELINING",
            "8BITMIME",
            "SIZE 26214400",
            "ENHANCEDSTATUSCODES",
        ] {
            assert!(ehlo.contains(capability), "{ehlo}");
        }
        assert_eq!(
            client
                .cmd("MAIL FROM:<alice@example.org> SIZE=200 BODY=8BITMIME")
                .await,
            "250 2.1.0 OK"
        );
        assert_eq!(
            client.cmd("RCPT TO:<reply+tok3n@DoneBot.TEST>").await,
            "250 2.1.5 OK"
        );
        assert!(client.cmd("DATA").await.starts_with("354 "));
        client
            .write(
                "Subject: done\r\n\r\n..a line that began with a dot\r\nZoë\r\n\
                 bare lf\n.\r\nstill the message\r\n.\r\n",
            )
            .await;

        let delivery = mx.next_delivery().await;
        assert_eq!(delivery.mail.via, "smtp");
        assert_eq!(delivery.mail.mail_from, "alice@example.org");
        assert_eq!(
            delivery.mail.rcpt_to,
            vec!["reply+tok3n@DoneBot.TEST".to_owned()]
        );
        assert_eq!(
            delivery.mail.raw,
            "Subject: done\r\n\r\n.a line that began with a dot\r\nZoë\r\n\
             bare lf\n\r\nstill the message\r\n"
                .as_bytes(),
            "dot-unstuffed; a '.' after a bare LF does not end the message"
        );
        assert!(
            client.nothing_received(),
            "no reply before the sink answered"
        );

        delivery.accept(7);
        assert_eq!(client.reply().await, "250 2.0.0 OK queued as 7");
        assert_eq!(
            client.cmd("QUIT").await,
            "221 2.0.0 mx.donebot.test closing connection"
        );
        assert_eq!(client.reply().await, "", "closed after QUIT");
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn null_sender_and_postmaster_are_accepted() {
    bounded(async {
        let mut mx = Mx::start(|_| {}).await;
        let mut client = Client::connect(mx.addr).await;
        assert_eq!(client.cmd("HELO client.test").await, "250 mx.donebot.test");
        assert_eq!(client.cmd("MAIL FROM:<>").await, "250 2.1.0 OK");
        assert_eq!(client.cmd("RCPT TO:<Postmaster>").await, "250 2.1.5 OK");
        assert!(client.cmd("DATA").await.starts_with("354 "));
        client.write("\r\n.\r\n").await;
        let mail = mx.next_delivery().await.accept(1);
        assert_eq!(
            (mail.mail_from.as_str(), mail.raw.as_slice()),
            ("", &b"\r\n"[..])
        );
        assert_eq!(client.reply().await, "250 2.0.0 OK queued as 1");
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn relaying_to_another_domain_is_denied() {
    bounded(async {
        let mut mx = Mx::start(|_| {}).await;
        let mut client = Client::connect(mx.addr).await;
        client.cmd("EHLO client.test").await;
        client.cmd("MAIL FROM:<alice@example.org>").await;
        for rcpt in [
            "bob@example.org",
            "x@sub.donebot.test",
            "x@donebot.test.evil",
        ] {
            let reply = client.cmd(&format!("RCPT TO:<{rcpt}>")).await;
            assert!(
                reply.starts_with("550 5.7.1 relay denied"),
                "{rcpt}: {reply}"
            );
        }
        assert_eq!(client.cmd("RCPT TO:<x@donebot.test>").await, "250 2.1.5 OK");
        assert!(client.cmd("DATA").await.starts_with("354 "));
        client.write("hi\r\n.\r\n").await;
        let mail = mx.next_delivery().await.accept(2);
        assert_eq!(mail.rcpt_to, vec!["x@donebot.test".to_owned()]);
        assert_eq!(client.reply().await, "250 2.0.0 OK queued as 2");
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn oversized_messages_get_552_and_never_reach_the_sink() {
    bounded(async {
        let mut mx = Mx::start(|cfg| cfg.max_message_bytes = 1000).await;
        let mut client = Client::connect(mx.addr).await;
        client.cmd("EHLO client.test").await;
        let declared = client.cmd("MAIL FROM:<alice@example.org> SIZE=1001").await;
        assert_eq!(declared, "552 5.3.4 message exceeds 1000 bytes");

        client.start_transaction("x@donebot.test").await;
        let line = format!("{}\r\n", "x".repeat(98));
        for _ in 0..50 {
            client.write(&line).await;
        }
        client.write(".\r\n").await;
        assert_eq!(client.reply().await, "552 5.3.4 message exceeds 1000 bytes");
        // The 552 is written after the sink would have been asked, so an empty sink is conclusive.
        assert!(mx.deliveries.try_recv().is_err());

        // A message of exactly the limit still goes through.
        client.start_transaction("x@donebot.test").await;
        for _ in 0..10 {
            client.write(&line).await;
        }
        client.write(".\r\n").await;
        assert_eq!(mx.next_delivery().await.accept(3).raw.len(), 1000);
        assert_eq!(client.reply().await, "250 2.0.0 OK queued as 3");
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn sink_refusals_become_451_and_550() {
    bounded(async {
        let mut mx = Mx::start(|_| {}).await;
        let mut client = Client::connect(mx.addr).await;

        client.start_transaction("x@donebot.test").await;
        client.write("one\r\n.\r\n").await;
        mx.next_delivery()
            .await
            .refuse(InboundRefused::Transient("inbound log busy\r\n".into()));
        assert_eq!(client.reply().await, "451 4.3.0 inbound log busy");

        client.start_transaction("x@donebot.test").await;
        client.write("two\r\n.\r\n").await;
        mx.next_delivery().await.refuse(InboundRefused::Permanent(
            "not a reply we understand".into(),
        ));
        assert_eq!(client.reply().await, "550 5.6.0 not a reply we understand");

        // The sink drops the question without answering: still a temporary failure.
        client.start_transaction("x@donebot.test").await;
        client.write("three\r\n.\r\n").await;
        drop(mx.next_delivery().await);
        assert!(client.reply().await.starts_with("451 4.3.0 "));
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn a_sink_that_is_gone_gets_451() {
    bounded(async {
        let (_unused, deliveries) = mpsc::unbounded_channel();
        let mx = Mx::start_with(|_| {}, GoneSink.start().recipient(), deliveries).await;
        let mut client = Client::connect(mx.addr).await;
        client.start_transaction("x@donebot.test").await;
        client.write("hello\r\n.\r\n").await;
        assert_eq!(
            client.reply().await,
            "451 4.3.0 temporarily unable to accept the message"
        );
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn pipelined_commands_are_answered_in_order() {
    bounded(async {
        let mut mx = Mx::start(|_| {}).await;
        let mut client = Client::connect(mx.addr).await;
        client
            .write(
                "EHLO client.test\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<a@donebot.test>\r\n\
                 RCPT TO:<b@example.org>\r\nRCPT TO:<c@donebot.test>\r\nDATA\r\n",
            )
            .await;
        assert!(client.reply().await.starts_with("250-mx.donebot.test"));
        assert_eq!(client.reply().await, "250 2.1.0 OK");
        assert_eq!(client.reply().await, "250 2.1.5 OK");
        assert!(client.reply().await.starts_with("550 5.7.1"));
        assert_eq!(client.reply().await, "250 2.1.5 OK");
        assert!(client.reply().await.starts_with("354 "));

        client
            .write("body\r\n.\r\nNOOP\r\nRSET\r\nVRFY bob\r\nQUIT\r\n")
            .await;
        let mail = mx.next_delivery().await.accept(4);
        assert_eq!(
            mail.rcpt_to,
            vec!["a@donebot.test".to_owned(), "c@donebot.test".to_owned()]
        );
        assert_eq!(client.reply().await, "250 2.0.0 OK queued as 4");
        assert_eq!(client.reply().await, "250 2.0.0 OK");
        assert_eq!(client.reply().await, "250 2.0.0 OK");
        assert!(client.reply().await.starts_with("252 2.5.0"));
        assert!(client.reply().await.starts_with("221 2.0.0"));
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn malformed_and_out_of_order_commands_get_5xx() {
    bounded(async {
        let mx = Mx::start(|cfg| {
            cfg.max_line_bytes = 100;
            cfg.max_recipients = 2;
        })
        .await;
        let mut client = Client::connect(mx.addr).await;
        assert!(
            client
                .cmd("MAIL FROM:<a@example.org>")
                .await
                .starts_with("503 5.5.1")
        );
        assert!(client.cmd("EHLO").await.starts_with("501 "));
        assert!(client.cmd("FROB x").await.starts_with("500 5.5.2"));
        assert!(client.cmd("").await.starts_with("500 5.5.2"));
        assert!(client.cmd("STARTTLS").await.starts_with("502 5.5.1"));
        client.write(b"\xff\xfe\r\n").await;
        assert!(client.reply().await.starts_with("500 "));
        let long = format!("NOOP {}", "x".repeat(300));
        assert_eq!(client.cmd(&long).await, "500 5.5.0 line too long");
        assert!(client.cmd("EHLO client.test").await.starts_with("250-"));
        assert!(
            client
                .cmd("RCPT TO:<a@donebot.test>")
                .await
                .starts_with("503 5.5.1")
        );
        assert!(client.cmd("DATA").await.starts_with("503 5.5.1"));
        assert!(
            client
                .cmd("MAIL FROM:alice@example.org")
                .await
                .starts_with("501 ")
        );
        assert!(
            client
                .cmd("MAIL FROM:<a@example.org> SIZE=big")
                .await
                .starts_with("501 ")
        );
        assert!(
            client
                .cmd("MAIL FROM:<a@example.org> AUTH=<>")
                .await
                .starts_with("555 ")
        );
        assert_eq!(
            client.cmd("MAIL FROM:<a@example.org>").await,
            "250 2.1.0 OK"
        );
        assert!(
            client
                .cmd("MAIL FROM:<a@example.org>")
                .await
                .starts_with("503 5.5.1")
        );
        assert!(client.cmd("RCPT TO:<no domain>").await.starts_with("501 "));
        assert_eq!(client.cmd("RCPT TO:<a@donebot.test>").await, "250 2.1.5 OK");
        assert_eq!(client.cmd("RCPT TO:<b@donebot.test>").await, "250 2.1.5 OK");
        assert_eq!(
            client.cmd("RCPT TO:<c@donebot.test>").await,
            "452 4.5.3 too many recipients"
        );
        assert!(client.cmd("DATA now").await.starts_with("501 "));
        assert!(client.cmd("NOOP").await.starts_with("250 "));
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn too_many_bad_commands_close_the_session() {
    bounded(async {
        let mx = Mx::start(|_| {}).await;
        let mut client = Client::connect(mx.addr).await;
        for _ in 0..19 {
            assert!(client.cmd("FROB").await.starts_with("500 "));
        }
        assert!(client.cmd("FROB").await.starts_with("500 "));
        assert!(client.reply().await.starts_with("421 4.7.0"));
        assert_eq!(client.reply().await, "", "closed");
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn idle_clients_are_dropped_with_421() {
    bounded(async {
        let mx = Mx::start(|cfg| cfg.timeout = Duration::from_millis(200)).await;
        let mut client = Client::connect(mx.addr).await;
        assert_eq!(
            client.reply().await,
            "421 4.4.2 mx.donebot.test idle timeout"
        );
        assert_eq!(client.reply().await, "");
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn connections_beyond_the_limit_get_421() {
    bounded(async {
        let mx = Mx::start(|cfg| cfg.max_connections = 1).await;
        let mut first = Client::connect(mx.addr).await;
        let mut second = Client::connect_raw(mx.addr).await;
        assert_eq!(
            second.reply().await,
            "421 4.3.2 mx.donebot.test too many connections"
        );
        assert!(first.cmd("QUIT").await.starts_with("221 "));
        assert_eq!(first.reply().await, "");
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn one_address_gets_at_most_its_share_of_sessions() {
    bounded(async {
        let mx = Mx::start(|cfg| cfg.max_sessions_per_ip = 2).await;
        let mut first = Client::connect(mx.addr).await;
        let _second = Client::connect(mx.addr).await;
        let mut third = Client::connect_raw(mx.addr).await;
        assert_eq!(
            third.reply().await,
            "421 4.3.2 mx.donebot.test too many connections from your address"
        );
        assert_eq!(third.reply().await, "");
        // A session that ends gives its slot back (bounded poll: the slot is freed when the
        // session's task ends, just after the client sees the close).
        assert!(first.cmd("QUIT").await.starts_with("221 "));
        assert_eq!(first.reply().await, "");
        loop {
            let mut again = Client::connect_raw(mx.addr).await;
            let greeting = again.reply().await;
            if greeting.starts_with("220 ") {
                break;
            }
            assert!(greeting.contains("from your address"), "{greeting}");
        }
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn a_busy_session_is_closed_at_its_deadline() {
    bounded(async {
        // Idle timeout far away; the session deadline short: a client that keeps talking (a
        // slow drip of NOOPs) is still cut off.
        let mx = Mx::start(|cfg| cfg.session_timeout = Duration::from_millis(300)).await;
        let mut client = Client::connect(mx.addr).await;
        let last = loop {
            let reply = client.cmd("NOOP").await;
            if !reply.starts_with("250 ") {
                break reply;
            }
        };
        assert_eq!(last, "421 4.4.2 mx.donebot.test session time limit reached");
        assert_eq!(client.reply().await, "");
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn the_end_of_data_is_found_after_an_over_long_line() {
    bounded(async {
        let mut mx = Mx::start(|_| {}).await;
        let mut client = Client::connect(mx.addr).await;
        client.start_transaction("reply+abc@donebot.test").await;
        let long = "x".repeat(ListenerConfig::DEFAULT_MAX_LINE_BYTES + 10);
        client
            .write(format!("Subject: hi\r\n\r\n{long}\r\n.\r\n"))
            .await;
        assert_eq!(client.reply().await, "500 5.5.0 line too long");
        // The session goes on: the next message is delivered.
        client.start_transaction("reply+abc@donebot.test").await;
        client.write("Subject: ok\r\n\r\nshort\r\n.\r\n").await;
        let delivery = mx.next_delivery().await;
        let mail = delivery.accept(7);
        assert_eq!(mail.raw, b"Subject: ok\r\n\r\nshort\r\n");
        assert_eq!(client.reply().await, "250 2.0.0 OK queued as 7");
        mx.stop().await;
    })
    .await;
}

#[actix_rt::test]
async fn shutdown_lets_data_finish_and_turns_away_the_rest() {
    bounded(async {
        let mut mx = Mx::start(|_| {}).await;
        let mut idle = Client::connect(mx.addr).await;
        assert!(idle.cmd("EHLO idle.test").await.starts_with("250-"));
        let mut sending = Client::connect(mx.addr).await;
        sending.start_transaction("x@donebot.test").await;
        sending.write("first half\r\n").await;

        mx.shutdown.send(true).unwrap();

        // A session waiting for a command is told at once.
        assert_eq!(
            idle.reply().await,
            "421 4.3.2 mx.donebot.test shutting down"
        );
        assert_eq!(idle.reply().await, "");
        // A session inside DATA finishes, is answered, and only then turned away.
        sending.write("second half\r\n.\r\n").await;
        let mail = mx.next_delivery().await.accept(5);
        assert_eq!(mail.raw, b"first half\r\nsecond half\r\n");
        assert_eq!(sending.reply().await, "250 2.0.0 OK queued as 5");
        assert_eq!(
            sending.cmd("NOOP").await,
            "421 4.3.2 mx.donebot.test shutting down"
        );

        mx.server.await.unwrap().unwrap();
        assert!(
            TcpStream::connect(mx.addr).await.is_err(),
            "no longer accepting"
        );
    })
    .await;
}

#[actix_rt::test]
async fn lettre_sees_sink_answers_as_smtp_replies() {
    bounded(async {
        let mut mx = Mx::start(|_| {}).await;
        let transport = Transport::new(
            Some(&format!("smtp://{}", mx.addr)),
            std::path::Path::new("/nonexistent"),
            SmtpOptions {
                timeout: Duration::from_secs(10),
                pool_size: 1,
                hello_name: Some("client.test".to_owned()),
            },
        )
        .unwrap();
        let email = message::OutgoingEmail {
            from: "Alice <alice@example.org>".to_owned(),
            to: "reply+tok3n@donebot.test".to_owned(),
            reply_to: None,
            subject: "Re: what did you get done?".to_owned(),
            text: "Shipped the listener.\r\n.\r\nDone ✅\r\n".to_owned(),
            html: None,
            message_id: "m1@example.org".to_owned(),
            in_reply_to: Some("prompt-1@donebot.test".to_owned()),
            return_path: None,
            headers: vec![],
            date: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        };
        let built = message::build(&email).unwrap();
        let send = |built: message::BuiltEmail, transport: std::sync::Arc<Transport>| {
            tokio::spawn(async move {
                transport
                    .send(&built.envelope_from, &built.envelope_to, &built.raw)
                    .await
            })
        };
        let transport = std::sync::Arc::new(transport);

        let sending = send(built.clone(), transport.clone());
        let mail = mx.next_delivery().await.accept(11);
        assert_eq!(
            mail.raw, built.raw,
            "the listener stored exactly what lettre was given"
        );
        assert_eq!(mail.mail_from, "alice@example.org");
        assert_eq!(
            sending.await.unwrap().unwrap().reply,
            "250 2.0.0 OK queued as 11"
        );

        let sending = send(built.clone(), transport.clone());
        mx.next_delivery()
            .await
            .refuse(InboundRefused::Transient("disk busy".into()));
        let err: SendError = sending.await.unwrap().unwrap_err();
        assert!(err.is_transient());
        assert_eq!(err.code(), Some(451));
        assert_eq!(err.to_string(), "451 4.3.0 disk busy");

        let sending = send(built.clone(), transport.clone());
        mx.next_delivery()
            .await
            .refuse(InboundRefused::Permanent("unknown reply token".into()));
        let err = sending.await.unwrap().unwrap_err();
        assert!(err.is_permanent());
        assert_eq!(err.to_string(), "550 5.6.0 unknown reply token");
        mx.stop().await;
    })
    .await;
}
