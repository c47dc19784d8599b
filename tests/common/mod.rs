//! What the end-to-end tests share: a real SMTP server to receive donebot's mail (mailin-embedded),
//! a donebot started in-process on loopback ports with a manual clock, and bounded waits on its
//! event stream. Nothing here sleeps: every wait is on a channel or an event, under a timeout.
//!
//! mailin-embedded has no stop call: each sink lives on detached threads blocked in `accept` until
//! the test process ends (nextest runs each test in its own process; under `cargo test` they end
//! with the test binary).

#![allow(dead_code)]

pub mod memory;
pub mod process;
pub mod web;

use std::net::TcpListener as StdTcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use donebot::clock::ManualClock;
use donebot::config::{Config, Settings};
use donebot::events::Event;
use donebot::server::Server;
use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mailin_embedded::{Handler, Response, SslConfig};
use mailparse::MailHeaderMap;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

/// The longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// donebot's own domain in the tests.
pub const DOMAIN: &str = "done.example.com";

/// `[inbound_http] raw_secret` of the test server: `POST /inbound/email` needs it as bearer.
pub const RAW_SECRET: &str = "test-raw-secret-0123456789";

/// `[inbound] authserv_id` of the test server: its MTA's `Authentication-Results` count.
pub const AUTHSERV_ID: &str = "mx.done.example.com";

pub const NEW_YORK: Tz = chrono_tz::America::New_York;

/// A local wall-clock time in `tz` as UTC (test times are never ambiguous).
pub fn local(tz: Tz, date: &str, h: u32, m: u32) -> DateTime<Utc> {
    let date: NaiveDate = date.parse().expect("test date");
    tz.from_local_datetime(&date.and_hms_opt(h, m, 0).expect("test time"))
        .single()
        .expect("unambiguous test time")
        .to_utc()
}

// --- the SMTP sink: a real SMTP server we did not write ------------------------------------------

/// One message as the sink received it.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Clone)]
struct Forward {
    tx: mpsc::UnboundedSender<Received>,
    current: Received,
}

impl Handler for Forward {
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
        let _ = self.tx.send(std::mem::take(&mut self.current));
        mailin_embedded::response::OK
    }
}

/// An SMTP server on 127.0.0.1 that forwards every message it accepts.
pub struct Sink {
    pub port: u16,
    rx: mpsc::UnboundedReceiver<Received>,
}

impl Sink {
    pub fn start() -> Sink {
        let listener = StdTcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut server = mailin_embedded::Server::new(Forward {
            tx,
            current: Received::default(),
        });
        server
            .with_name("sink.test")
            .with_ssl(SslConfig::None)
            .unwrap()
            .with_num_threads(2)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            // serve() only returns on a start-up error; the test then times out waiting for mail.
            let _ = server.serve().map_err(|e| e.to_string());
        });
        Sink { port, rx }
    }

    /// The next message, parsed.
    pub async fn next(&mut self) -> Mail {
        let received = tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("no mail reached the SMTP sink in time")
            .expect("the SMTP sink stopped");
        Mail::new(received.data, received.to)
    }

    /// The next message, which must be of donebot's `kind` (X-Donebot-Kind).
    pub async fn next_of(&mut self, kind: &str) -> Mail {
        let mail = self.next().await;
        assert_eq!(
            mail.header("X-Donebot-Kind").as_deref(),
            Some(kind),
            "expected a {kind} email, got {:?}",
            mail.header("Subject")
        );
        mail
    }

    /// Nothing more has arrived (so far).
    pub fn assert_empty(&mut self) {
        if let Ok(m) = self.rx.try_recv() {
            panic!(
                "unexpected mail: {}",
                String::from_utf8_lossy(&m.data[..m.data.len().min(400)])
            );
        }
    }
}

/// A received or written message with its headers and text part at hand.
#[derive(Debug, Clone)]
pub struct Mail {
    pub raw: Vec<u8>,
    pub envelope_to: Vec<String>,
}

impl Mail {
    pub fn new(raw: Vec<u8>, envelope_to: Vec<String>) -> Mail {
        mailparse::parse_mail(&raw).expect("donebot's mail parses");
        Mail { raw, envelope_to }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let parsed = mailparse::parse_mail(&self.raw).expect("parsed before");
        parsed.headers.get_first_value(name)
    }

    /// The text/plain part, decoded.
    pub fn text(&self) -> String {
        fn find(part: &mailparse::ParsedMail) -> Option<String> {
            if part.ctype.mimetype == "text/plain" {
                return part.get_body().ok();
            }
            part.subparts.iter().find_map(find)
        }
        let parsed = mailparse::parse_mail(&self.raw).expect("parsed before");
        find(&parsed).expect("a text/plain part")
    }

    /// The address inside `Reply-To: "Team" <reply+TOKEN@domain>`.
    pub fn reply_to(&self) -> String {
        bare(&self.header("Reply-To").expect("a Reply-To header"))
    }

    /// The one-click unsubscribe URL of the List-Unsubscribe header.
    pub fn unsubscribe_url(&self) -> String {
        let h = self
            .header("List-Unsubscribe")
            .expect("a List-Unsubscribe header");
        h.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string()
    }
}

/// `Name <a@b>` → `a@b`.
pub fn bare(addr: &str) -> String {
    match (addr.rfind('<'), addr.rfind('>')) {
        (Some(a), Some(b)) if a < b => addr[a + 1..b].trim().to_string(),
        _ => addr.trim().to_string(),
    }
}

// --- donebot in-process --------------------------------------------------------------------------

/// Settings for a test server: loopback ports chosen by the OS, `smtp_port` as the relay or none
/// (then mail is written as `.eml` files).
pub fn settings(data: &Path, smtp_port: Option<u16>) -> Settings {
    let mut c = Config {
        data_dir: data.to_path_buf(),
        ..Config::default()
    };
    c.web.listen = "127.0.0.1:0".into();
    c.inbound_smtp.listen = "127.0.0.1:0".into();
    c.email.domain = DOMAIN.into();
    c.email.smtp_url = smtp_port.map(|p| format!("smtp://127.0.0.1:{p}"));
    c.email.timeout_secs = 10;
    c.inbound_http.raw_secret = Some(RAW_SECRET.into());
    c.inbound.authserv_id = Some(AUTHSERV_ID.into());
    c.validate("test").expect("valid test config")
}

/// A running donebot, its clock, its events and an authenticated HTTP client.
pub struct Donebot {
    pub server: Server,
    pub clock: ManualClock,
    pub events: broadcast::Receiver<Event>,
    pub http: reqwest::Client,
    pub token: String,
}

impl Donebot {
    /// Starts donebot on `data` at `now`. Must run inside an actix system.
    pub async fn start(data: &Path, smtp_port: Option<u16>, now: DateTime<Utc>) -> Donebot {
        Self::start_with(data, smtp_port, now, |_| {}).await
    }

    /// [`Donebot::start`] with the test settings changed by `edit` first.
    pub async fn start_with(
        data: &Path,
        smtp_port: Option<u16>,
        now: DateTime<Utc>,
        edit: impl Fn(&mut Settings),
    ) -> Donebot {
        let clock = ManualClock::new(now);
        // Right after a stop in this process, sled may still hold its file lock for a moment: its
        // background threads drop their handles on the database asynchronously. Retry (bounded).
        let server = tokio::time::timeout(WAIT, async {
            loop {
                let mut settings = settings(data, smtp_port);
                edit(&mut settings);
                match Server::start(settings, Arc::new(clock.clone())).await {
                    Ok(server) => return server,
                    Err(e)
                        if matches!(
                            e.downcast_ref::<storage::StorageError>(),
                            Some(storage::StorageError::Locked { .. })
                        ) =>
                    {
                        tokio::task::yield_now().await
                    }
                    Err(e) => panic!("donebot starts: {e:#}"),
                }
            }
        })
        .await
        .expect("the data directory is released in time");
        let events = server.app.events.subscribe();
        let token = match &server.first_admin_token {
            Some(t) => t.clone(),
            None => donebot::ops::create_token(&server.app.store, true, "test", now).unwrap(),
        };
        let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
        Donebot {
            server,
            clock,
            events,
            http,
            token,
        }
    }

    pub async fn stop(self) {
        tokio::time::timeout(Duration::from_secs(60), self.server.stop())
            .await
            .expect("donebot stops in time");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.web_addr)
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub fn smtp_port(&self) -> u16 {
        self.server.smtp_addr.expect("inbound SMTP is on").port()
    }

    /// POSTs a raw message to `/inbound/email` (with the raw secret); it must be accepted
    /// (durable) with 200. Returns the inbound record's id.
    pub async fn post_inbound(&self, envelope_from: &str, envelope_to: &str, raw: Vec<u8>) -> u64 {
        let resp = self
            .http
            .post(self.url("/inbound/email"))
            .bearer_auth(RAW_SECRET)
            .header("X-Envelope-From", envelope_from)
            .header("X-Envelope-To", envelope_to)
            .body(raw)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(resp.status().as_u16(), 200);
        let v: Value = resp.json().await.expect("a JSON answer");
        v["id"].as_u64().expect("the inbound record's id")
    }

    /// Waits for the outcome of inbound record `id`: `Ok(outcome)` or `Err(error)`.
    pub async fn inbound_outcome(&mut self, id: u64) -> Result<String, String> {
        self.wait_for("the inbound outcome", |e| match e {
            Event::InboundProcessed { inbound, outcome } if *inbound == id => {
                Some(Ok(outcome.clone()))
            }
            Event::InboundFailed { inbound, error } if *inbound == id => Some(Err(error.clone())),
            _ => None,
        })
        .await
    }

    /// `POST path` with a JSON body (or none); returns status and JSON answer.
    pub async fn post(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the API answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `DELETE path`; returns status and JSON answer.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .delete(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .patch(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("the API answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn create_team(&self, name: &str, tz: &str) -> u64 {
        let (status, v) = self
            .post(
                "/api/v1/teams",
                Some(serde_json::json!({ "name": name, "timezone": tz })),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_u64().expect("a team id")
    }

    pub async fn add_member(&self, team: u64, name: &str, email: &str) -> u64 {
        let (status, v) = self
            .post(
                &format!("/api/v1/teams/{team}/members"),
                Some(serde_json::json!({ "name": name, "email": email })),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_u64().expect("a member id")
    }

    /// The dones of a team on a day, as the API lists them.
    pub async fn dones(&self, team: u64, date: &str) -> Vec<Value> {
        let (status, v) = self
            .get(&format!(
                "/api/v1/teams/{team}/dones?date={date}&limit=1000"
            ))
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["next"], Value::Null, "one page holds a day's dones here");
        v["items"].as_array().expect("a list").clone()
    }

    pub async fn member(&self, team: u64, member: u64) -> Value {
        let (status, v) = self.get(&format!("/api/v1/teams/{team}/members")).await;
        assert_eq!(status, 200, "{v}");
        v["items"]
            .as_array()
            .expect("a list")
            .iter()
            .find(|m| m["id"].as_u64() == Some(member))
            .expect("the member is listed")
            .clone()
    }

    /// Waits for the first event that `want` picks, skipping others.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut want: impl FnMut(&Event) -> Option<T>,
    ) -> T {
        let events = &mut self.events;
        let found = tokio::time::timeout(WAIT, async {
            loop {
                match events.recv().await {
                    Ok(e) => {
                        if let Some(t) = want(&e) {
                            return t;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => panic!("event stream closed"),
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
    }

    /// Moves the clock and waits until every team actor has handled the tick (the team's
    /// scheduling cursor has reached the new time).
    pub async fn set_clock(&self, at: DateTime<Utc>) {
        self.clock.set(at);
        let store = &self.server.app.store;
        let teams: Vec<u64> = store.teams().unwrap().iter().map(|t| t.id).collect();
        tokio::time::timeout(WAIT, async {
            loop {
                let done = teams.iter().all(|id| {
                    store
                        .cursor(&format!("team.{id}"))
                        .unwrap()
                        .is_some_and(|c| c >= at)
                });
                if done {
                    return;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the team actors handled the tick in time");
    }
}

/// Hands `raw` to an SMTP server on 127.0.0.1:`port` with lettre; returns the final reply code.
pub async fn smtp_send(port: u16, from: &str, to: &str, raw: &[u8]) -> Result<u16, String> {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .timeout(Some(WAIT))
        .build();
    let envelope = Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
    match transport.send_raw(&envelope, raw).await {
        Ok(resp) => Ok(u16::from(resp.code())),
        Err(e) => Err(e.to_string()),
    }
}

/// A reply as a mail client writes it: typed lines, a signature, then the quoted prompt.
pub fn reply_mail(from: &str, to: &str, message_id: &str, typed: &str, date: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: What did you get done today?\r\nDate: {date}\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{typed}\r\n\r\n-- \r\nAda Lovelace\r\nAnalytical Engines Ltd.\r\n\r\nOn Wed, Apr 15, 2026 at 6:00 PM donebot <{to}> wrote:\r\n> What did you get done today?\r\n>\r\n> Hi Ada, just reply to this email with what you got done.\r\n"
    )
    .replace("\r\n", "\n")
    .replace('\n', "\r\n")
    .into_bytes()
}

/// Every `.eml` file in `dir`, oldest first (the names start with the time written).
pub fn eml_files(dir: &Path) -> Vec<Mail> {
    let mut paths: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths
        .into_iter()
        .map(|p| Mail::new(std::fs::read(p).unwrap(), Vec::new()))
        .collect()
}

/// `raw` as the operator's MTA passes it on after checking its DKIM signature: with an
/// `Authentication-Results` header of [`AUTHSERV_ID`] saying `dkim=pass` for its From domain.
/// (Mail without a reply token counts only from an authenticated sender.)
pub fn authenticated(raw: Vec<u8>) -> Vec<u8> {
    let (headers, _) = mailparse::parse_headers(&raw).expect("a message");
    let from = headers.get_first_value("From").expect("a From header");
    let from = bare(&from);
    let (_, domain) = from.rsplit_once('@').expect("an address");
    let mut out = format!("Authentication-Results: {AUTHSERV_ID}; dkim=pass header.d={domain}\r\n")
        .into_bytes();
    out.extend(raw);
    out
}

/// A minimal plain-text message.
pub fn plain_mail(from: &str, to: &str, message_id: &str, body: &str) -> Vec<u8> {
    plain_mail_with(from, to, message_id, "", body)
}

/// A minimal plain-text message with extra header lines (each ending in CRLF).
pub fn plain_mail_with(
    from: &str,
    to: &str,
    message_id: &str,
    extra_headers: &str,
    body: &str,
) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: hi\r\nMessage-ID: <{message_id}>\r\n{extra_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}
