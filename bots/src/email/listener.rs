//! donebot's inbound SMTP server: accepts replies addressed to donebot's domain and hands each
//! message to the inbound log (the `sink`) before acknowledging it.
//!
//! It speaks the RFC 5321 subset a sending MTA needs (EHLO/HELO, MAIL with SIZE and BODY, RCPT,
//! DATA with dot-unstuffing, RSET, NOOP, QUIT, VRFY) and advertises PIPELINING, 8BITMIME, SIZE and
//! ENHANCEDSTATUSCODES. It is deliberately not a relay, has no AUTH and no STARTTLS, and never
//! parses the message: the bytes go to the sink exactly as received (after unstuffing).
//!
//! Invariant: `250` after DATA is sent only once the sink has answered `Ok`, i.e. the message is
//! durable; every other outcome (sink refused, sink gone, too slow, shutdown) gets a 4xx/5xx so the
//! sender keeps its copy. Limits are enforced while reading, so no input makes a session buffer more
//! than `max_message_bytes + max_line_bytes`, and no input panics. No client holds the listener:
//! sessions are bounded in all and per client address, each line has an idle timeout and each
//! session a deadline for the whole conversation; an over-long line is discarded without losing
//! track of where DATA ends.
//!
//! Why not a maintained SMTP server crate (December 2026)? The candidates lack what donebot needs:
//! - `mailin-embedded` (0.8, our tests' relay sink): its handler's `data_end` must answer
//!   synchronously on a thread per connection, so `250` cannot wait for the asynchronous spool
//!   sync without blocking a thread per session; no per-address session limit, no session
//!   deadline (only a socket timeout per read), and it answers pipelined commands one by one.
//! - `samotop` (0.13): unmaintained since 2021 (async-std), no per-address limits or session
//!   deadline.
//! - `smtpbis` / `smtp-server` crates: parsers or examples without limits, timeouts or shutdown.
//!
//! Writing the RFC 5321 subset ourselves (about 700 lines with its tests) is the smaller risk.
//!
//! Shutdown follows mini-redis: when the watch flips to `true` (or its sender is dropped) the accept
//! loop stops, sessions waiting for a command answer `421` and close, sessions inside DATA get up
//! to `timeout` to finish and be answered, and [`serve`] returns once every session has ended.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::bus::{InboundMail, InboundRefused};

/// Limits and names of the listener. [`ListenerConfig::new`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Only `RCPT TO` addresses at this domain (case-insensitive) are accepted, plus the bare
    /// `<postmaster>` RFC 5321 requires; anything else is `550 5.7.1 relay denied`.
    pub domain: String,
    /// Bytes of message content (after unstuffing); beyond it DATA is answered `552`.
    pub max_message_bytes: usize,
    /// `RCPT TO`s per transaction; beyond it `452`.
    pub max_recipients: usize,
    /// Bytes in one command or DATA line, CRLF included; beyond it `500`.
    pub max_line_bytes: usize,
    /// Idle time allowed per command or DATA line, and for the sink's answer; then `421`.
    pub timeout: Duration,
    /// Concurrent sessions; a connection beyond it is answered `421` and closed.
    pub max_connections: usize,
    /// Concurrent sessions from one client address; beyond it `421` and closed.
    pub max_sessions_per_ip: usize,
    /// The longest a whole session may last, however busy; then `421` and closed.
    pub session_timeout: Duration,
    /// The name in the greeting and in replies.
    pub hostname: String,
}

impl ListenerConfig {
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;
    pub const DEFAULT_MAX_RECIPIENTS: usize = 50;
    pub const DEFAULT_MAX_LINE_BYTES: usize = 10_000;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
    pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
    pub const DEFAULT_MAX_SESSIONS_PER_IP: usize = 16;
    pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10 * 60);

    pub fn new(domain: impl Into<String>, hostname: impl Into<String>) -> Self {
        ListenerConfig {
            domain: domain.into(),
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            max_recipients: Self::DEFAULT_MAX_RECIPIENTS,
            max_line_bytes: Self::DEFAULT_MAX_LINE_BYTES,
            timeout: Self::DEFAULT_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_sessions_per_ip: Self::DEFAULT_MAX_SESSIONS_PER_IP,
            session_timeout: Self::DEFAULT_SESSION_TIMEOUT,
            hostname: hostname.into(),
        }
    }
}

/// After this many rejected commands in one session the client is disconnected.
const MAX_BAD_COMMANDS: usize = 20;

/// Serves SMTP on `listener` until `shutdown` becomes `true` (or its sender is dropped), then
/// waits for the open sessions as described in the module doc.
pub async fn serve(
    listener: TcpListener,
    cfg: ListenerConfig,
    sink: Recipient<InboundMail>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let cfg = Arc::new(cfg);
    let permits = Arc::new(Semaphore::new(cfg.max_connections));
    let per_ip = PerAddress::default();
    let mut sessions = JoinSet::new();
    let session_shutdown = shutdown.clone();
    loop {
        tokio::select! {
            biased;
            () = stop_requested(&mut shutdown) => break,
            Some(joined) = sessions.join_next(), if !sessions.is_empty() => {
                if let Err(e) = joined {
                    tracing::warn!(error = %e, "smtp session task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match (
                    Arc::clone(&permits).try_acquire_owned(),
                    per_ip.take(peer.ip(), cfg.max_sessions_per_ip),
                ) {
                    (Ok(permit), Some(slot)) => {
                        // Each reply is one write answering a command: send it now (Nagle would
                        // hold it back while an earlier reply waits for its delayed ACK).
                        if let Err(e) = stream.set_nodelay(true) {
                            tracing::debug!(%peer, error = %e, "smtp: cannot set TCP_NODELAY");
                        }
                        let session = Session::new(stream, peer, &cfg, &sink, &session_shutdown);
                        sessions.spawn(async move {
                            session.run().await;
                            drop((permit, slot));
                        });
                    }
                    (permit, slot) => {
                        let what = if permit.is_ok() {
                            "too many connections from your address"
                        } else {
                            "too many connections"
                        };
                        drop((permit, slot));
                        tracing::info!(%peer, "smtp: {what}, refusing");
                        let reply = format!("421 4.3.2 {} {what}\r\n", cfg.hostname);
                        let limit = cfg.timeout;
                        sessions.spawn(async move {
                            let mut stream = stream;
                            let _ = tokio::time::timeout(limit, stream.write_all(reply.as_bytes()))
                                .await;
                        });
                    }
                },
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "smtp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!(
        sessions = sessions.len(),
        "smtp listener stopped accepting; draining"
    );
    while let Some(joined) = sessions.join_next().await {
        if let Err(e) = joined {
            tracing::warn!(error = %e, "smtp session task failed");
        }
    }
    Ok(())
}

/// One line read from the peer.
enum Line {
    /// A whole line, terminator included.
    Complete,
    /// Longer than the limit; read to its end and discarded. `crlf`: it ended with CRLF (so a
    /// "." on the next line still ends DATA).
    TooLong { crlf: bool },
    /// The peer closed the connection (a partial last line is dropped).
    Eof,
}

/// Reads up to and including `\n` into `buf` (cleared first), never holding more than `max` bytes.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
    buf: &mut Vec<u8>,
) -> io::Result<Line> {
    buf.clear();
    let mut overflow = false;
    // The last byte read of an overflowed line, to tell "\r\n" from a bare "\n" at its end.
    let mut last = None;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let used = chunk.len();
        let crlf = match chunk {
            [.., b'\r', b'\n'] => true,
            [b'\n'] => last == Some(b'\r') || buf.last() == Some(&b'\r'),
            _ => false,
        };
        if !overflow && buf.len() + used <= max {
            buf.extend_from_slice(chunk);
        } else {
            overflow = true;
            buf.clear();
        }
        last = chunk.last().copied();
        reader.consume(used);
        if done {
            return Ok(if overflow {
                Line::TooLong { crlf }
            } else {
                Line::Complete
            });
        }
    }
}

/// How a DATA phase ended.
enum DataEnd {
    Message(Vec<u8>),
    TooBig,
    LineTooLong,
    /// Closed, timed out or out of shutdown grace: the session ends without a DATA reply.
    Abort(Option<String>),
}

/// The envelope being collected between MAIL and DATA.
#[derive(Default)]
struct Transaction {
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

struct Session {
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    peer: SocketAddr,
    cfg: Arc<ListenerConfig>,
    sink: Recipient<InboundMail>,
    shutdown: watch::Receiver<bool>,
    greeted: bool,
    tx: Transaction,
    bad_commands: usize,
    line: Vec<u8>,
    /// The end of the session's time (`session_timeout` after it started).
    deadline: tokio::time::Instant,
}

/// What the command loop does after a reply.
enum Next {
    Continue,
    Close,
}

impl Session {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        cfg: &Arc<ListenerConfig>,
        sink: &Recipient<InboundMail>,
        shutdown: &watch::Receiver<bool>,
    ) -> Session {
        let (read, write) = stream.into_split();
        Session {
            reader: BufReader::new(read),
            writer: BufWriter::new(write),
            peer,
            cfg: Arc::clone(cfg),
            sink: sink.clone(),
            shutdown: shutdown.clone(),
            greeted: false,
            tx: Transaction::default(),
            bad_commands: 0,
            line: Vec::new(),
            deadline: tokio::time::Instant::now() + cfg.session_timeout,
        }
    }

    async fn run(mut self) {
        if let Err(e) = self.converse().await {
            tracing::debug!(peer = %self.peer, error = %e, "smtp session ended with an error");
        }
        let _ = self.writer.shutdown().await;
    }

    async fn converse(&mut self) -> io::Result<()> {
        let host = self.cfg.hostname.clone();
        if *self.shutdown.borrow() {
            return self
                .send_now(&format!("421 4.3.2 {host} shutting down"))
                .await;
        }
        self.reply(&format!("220 {host} ESMTP donebot")).await?;
        loop {
            self.flush_if_idle().await?;
            let deadline = self.read_deadline();
            let read = tokio::select! {
                biased;
                () = stop_requested(&mut self.shutdown) => None,
                read = tokio::time::timeout_at(
                    deadline,
                    read_line(&mut self.reader, self.cfg.max_line_bytes, &mut self.line),
                ) => Some(read),
            };
            let Some(read) = read else {
                return self
                    .send_now(&format!("421 4.3.2 {host} shutting down"))
                    .await;
            };
            let next = match read {
                Err(_elapsed) => return self.send_now(&self.timed_out()).await,
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Line::Eof)) => return Ok(()),
                Ok(Ok(Line::TooLong { .. })) => self.bad("500 5.5.0 line too long").await?,
                Ok(Ok(Line::Complete)) => self.command().await?,
            };
            if let Next::Close = next {
                return self.writer.flush().await;
            }
        }
    }

    /// Handles the command in `self.line`.
    async fn command(&mut self) -> io::Result<Next> {
        let line = std::mem::take(&mut self.line);
        let result = self.dispatch(&line).await;
        self.line = line;
        result
    }

    async fn dispatch(&mut self, line: &[u8]) -> io::Result<Next> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(line) = std::str::from_utf8(line) else {
            return self.bad("500 5.5.2 command is not valid UTF-8").await;
        };
        let (verb, arg) = match line.split_once(' ') {
            Some((verb, arg)) => (verb, arg.trim()),
            None => (line, ""),
        };
        let host = self.cfg.hostname.clone();
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if arg.is_empty() => self.bad("501 5.5.4 domain name required").await,
            "EHLO" => {
                self.greeted = true;
                self.tx = Transaction::default();
                let max = self.cfg.max_message_bytes;
                self.reply(&format!(
                    "250-{host} hello {arg}\r\n250-PIPELINING\r\n250-8BITMIME\r\n\
                     250-SIZE {max}\r\n250 ENHANCEDSTATUSCODES"
                ))
                .await
            }
            "HELO" => {
                self.greeted = true;
                self.tx = Transaction::default();
                self.reply(&format!("250 {host}")).await
            }
            "MAIL" => self.mail(arg).await,
            "RCPT" => self.rcpt(arg).await,
            "DATA" if !arg.is_empty() => self.bad("501 5.5.4 DATA takes no argument").await,
            "DATA" => self.data().await,
            "RSET" => {
                self.tx = Transaction::default();
                self.reply("250 2.0.0 OK").await
            }
            "NOOP" => self.reply("250 2.0.0 OK").await,
            "VRFY" => {
                self.reply("252 2.5.0 cannot VRFY user, but will accept message")
                    .await
            }
            "QUIT" => {
                self.reply(&format!("221 2.0.0 {host} closing connection"))
                    .await?;
                Ok(Next::Close)
            }
            "EXPN" | "HELP" | "TURN" | "ETRN" | "AUTH" | "STARTTLS" | "BDAT" => {
                self.bad("502 5.5.1 command not implemented").await
            }
            _ => self.bad("500 5.5.2 command not recognized").await,
        }
    }

    async fn mail(&mut self, arg: &str) -> io::Result<Next> {
        if !self.greeted {
            return self.bad("503 5.5.1 send EHLO first").await;
        }
        if self.tx.mail_from.is_some() {
            return self.bad("503 5.5.1 nested MAIL command").await;
        }
        let Some((address, params)) = parse_path(arg, "FROM:") else {
            return self.bad("501 5.5.4 syntax: MAIL FROM:<address>").await;
        };
        if !address.is_empty() && !plausible_address(address) {
            return self.bad("501 5.1.7 bad sender address syntax").await;
        }
        for param in params.split_ascii_whitespace() {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(size) if size > self.cfg.max_message_bytes as u64 => {
                        let max = self.cfg.max_message_bytes;
                        return self
                            .reply(&format!("552 5.3.4 message exceeds {max} bytes"))
                            .await;
                    }
                    Ok(_) => {}
                    Err(_) => return self.bad("501 5.5.4 bad SIZE value").await,
                },
                "BODY" if ["7BIT", "8BITMIME"].contains(&value.to_ascii_uppercase().as_str()) => {}
                _ => return self.bad("555 5.5.4 unsupported MAIL parameter").await,
            }
        }
        self.tx.mail_from = Some(address.to_owned());
        self.reply("250 2.1.0 OK").await
    }

    async fn rcpt(&mut self, arg: &str) -> io::Result<Next> {
        if self.tx.mail_from.is_none() {
            return self.bad("503 5.5.1 need MAIL before RCPT").await;
        }
        let Some((address, params)) = parse_path(arg, "TO:") else {
            return self.bad("501 5.5.4 syntax: RCPT TO:<address>").await;
        };
        if !params.is_empty() {
            return self.bad("555 5.5.4 unsupported RCPT parameter").await;
        }
        let local_postmaster = address.eq_ignore_ascii_case("postmaster");
        if !local_postmaster && !plausible_address(address) {
            return self.bad("501 5.1.3 bad recipient address syntax").await;
        }
        let ours = local_postmaster
            || address
                .rsplit_once('@')
                .is_some_and(|(_, domain)| domain.eq_ignore_ascii_case(&self.cfg.domain));
        if !ours {
            let domain = self.cfg.domain.clone();
            return self
                .reply(&format!(
                    "550 5.7.1 relay denied: this server accepts mail for {domain} only"
                ))
                .await;
        }
        if self.tx.rcpt_to.len() >= self.cfg.max_recipients {
            return self.reply("452 4.5.3 too many recipients").await;
        }
        self.tx.rcpt_to.push(address.to_owned());
        self.reply("250 2.1.5 OK").await
    }

    async fn data(&mut self) -> io::Result<Next> {
        if self.tx.rcpt_to.is_empty() {
            return self.bad("503 5.5.1 need RCPT before DATA").await;
        }
        self.reply("354 end data with <CR><LF>.<CR><LF>").await?;
        let tx = std::mem::take(&mut self.tx);
        let raw = match self.read_data().await? {
            DataEnd::Message(raw) => raw,
            DataEnd::TooBig => {
                let max = self.cfg.max_message_bytes;
                return self
                    .reply(&format!("552 5.3.4 message exceeds {max} bytes"))
                    .await;
            }
            DataEnd::LineTooLong => return self.reply("500 5.5.0 line too long").await,
            DataEnd::Abort(reply) => {
                if let Some(reply) = reply {
                    self.send_now(&reply).await?;
                }
                return Ok(Next::Close);
            }
        };
        let mail = InboundMail {
            via: "smtp",
            mail_from: tx.mail_from.unwrap_or_default(),
            rcpt_to: tx.rcpt_to,
            raw,
        };
        let size = mail.raw.len();
        let answer = tokio::time::timeout(self.cfg.timeout, self.sink.send(mail)).await;
        let reply = match answer {
            Ok(Ok(Ok(accepted))) => {
                tracing::info!(peer = %self.peer, id = accepted.id, size, "smtp: message accepted");
                format!("250 2.0.0 OK queued as {}", accepted.id)
            }
            Ok(Ok(Err(InboundRefused::Transient(why)))) => {
                tracing::info!(peer = %self.peer, reason = %why, "smtp: message deferred");
                format!("451 4.3.0 {}", one_line(&why))
            }
            Ok(Ok(Err(InboundRefused::Permanent(why)))) => {
                tracing::info!(peer = %self.peer, reason = %why, "smtp: message refused");
                format!("550 5.6.0 {}", one_line(&why))
            }
            Ok(Err(e)) => {
                tracing::warn!(peer = %self.peer, error = %e, "smtp: inbound log unavailable");
                "451 4.3.0 temporarily unable to accept the message".to_owned()
            }
            Err(_elapsed) => {
                tracing::warn!(peer = %self.peer, "smtp: inbound log did not answer in time");
                "451 4.3.0 temporarily unable to accept the message".to_owned()
            }
        };
        self.reply(&reply).await
    }

    /// Reads DATA lines up to the lone "." and unstuffs them, holding at most
    /// `max_message_bytes`. Inside DATA a shutdown does not interrupt; it starts a grace period
    /// of `timeout` after which the session is cut with `421`.
    async fn read_data(&mut self) -> io::Result<DataEnd> {
        let host = self.cfg.hostname.clone();
        let grace = shutdown_grace(self.shutdown.clone(), self.cfg.timeout);
        tokio::pin!(grace);
        let mut raw = Vec::new();
        let (mut too_big, mut too_long) = (false, false);
        // "\r\n.\r\n" ends DATA; a "." after a bare LF does not (no SMTP smuggling).
        let mut after_crlf = true;
        loop {
            // A line already in the buffer needs no wait, so no timer and no shutdown check:
            // a message usually arrives in a few reads of many lines each. (Nothing is left to
            // flush either while the client's data is buffered.)
            let read = if self.buffered_line() {
                Ok(Ok(Line::Complete))
            } else {
                self.flush_if_idle().await?;
                let deadline = self.read_deadline();
                tokio::select! {
                    () = &mut grace => {
                        return Ok(DataEnd::Abort(Some(format!("421 4.3.2 {host} shutting down"))));
                    }
                    read = tokio::time::timeout_at(
                        deadline,
                        read_line(&mut self.reader, self.cfg.max_line_bytes, &mut self.line),
                    ) => read,
                }
            };
            match read {
                Err(_elapsed) => return Ok(DataEnd::Abort(Some(self.timed_out()))),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Line::Eof)) => return Ok(DataEnd::Abort(None)),
                Ok(Ok(Line::TooLong { crlf })) => {
                    too_long = true;
                    after_crlf = crlf;
                }
                Ok(Ok(Line::Complete)) => {
                    let line = self.line.as_slice();
                    if after_crlf && line == b".\r\n" {
                        break;
                    }
                    after_crlf = line.ends_with(b"\r\n");
                    let line = line.strip_prefix(b".").unwrap_or(line);
                    if raw.len() + line.len() > self.cfg.max_message_bytes {
                        too_big = true;
                    }
                    if !too_big && !too_long {
                        raw.extend_from_slice(line);
                    }
                }
            }
            if too_big || too_long {
                raw = Vec::new();
            }
        }
        Ok(if too_big {
            DataEnd::TooBig
        } else if too_long {
            DataEnd::LineTooLong
        } else {
            DataEnd::Message(raw)
        })
    }

    /// Takes a whole line from what is already buffered into `self.line`, as [`read_line`]
    /// would; `false` (nothing taken) if the buffer holds no whole line, or one too long (which
    /// `read_line` then handles).
    fn buffered_line(&mut self) -> bool {
        let buffered = self.reader.buffer();
        let Some(end) = buffered.iter().position(|&b| b == b'\n') else {
            return false;
        };
        if end + 1 > self.cfg.max_line_bytes {
            return false;
        }
        self.line.clear();
        self.line.extend_from_slice(&buffered[..=end]);
        self.reader.consume(end + 1);
        true
    }

    /// When the next line must have arrived: the idle timeout, or the session's deadline.
    fn read_deadline(&self) -> tokio::time::Instant {
        (tokio::time::Instant::now() + self.cfg.timeout).min(self.deadline)
    }

    /// The reply when a read timed out: idle, or out of session time.
    fn timed_out(&self) -> String {
        let host = &self.cfg.hostname;
        if tokio::time::Instant::now() >= self.deadline {
            format!("421 4.4.2 {host} session time limit reached")
        } else {
            format!("421 4.4.2 {host} idle timeout")
        }
    }

    /// Queues a reply; it is flushed when the client has nothing more pipelined.
    async fn reply(&mut self, text: &str) -> io::Result<Next> {
        self.writer.write_all(text.as_bytes()).await?;
        self.writer.write_all(b"\r\n").await?;
        Ok(Next::Continue)
    }

    /// Counts a rejected command; too many and the session is closed.
    async fn bad(&mut self, text: &str) -> io::Result<Next> {
        self.reply(text).await?;
        self.bad_commands += 1;
        if self.bad_commands >= MAX_BAD_COMMANDS {
            let host = self.cfg.hostname.clone();
            self.reply(&format!("421 4.7.0 {host} too many errors"))
                .await?;
            return Ok(Next::Close);
        }
        Ok(Next::Continue)
    }

    /// Writes a final reply and flushes it.
    async fn send_now(&mut self, text: &str) -> io::Result<()> {
        self.reply(text).await?;
        self.writer.flush().await
    }

    /// RFC 2920: replies may wait while the client has more commands in flight.
    async fn flush_if_idle(&mut self) -> io::Result<()> {
        if self.reader.buffer().is_empty() {
            self.writer.flush().await?;
        }
        Ok(())
    }
}

/// Sessions per client address. A slot is given back when dropped.
#[derive(Default, Clone)]
struct PerAddress(Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>);

struct AddressSlot {
    counts: PerAddress,
    ip: std::net::IpAddr,
}

impl PerAddress {
    /// A slot for `ip`, unless it has `max` sessions already.
    fn take(&self, ip: std::net::IpAddr, max: usize) -> Option<AddressSlot> {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Completes once shutdown is signalled (or can no longer be, its sender being gone).
async fn stop_requested(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send; drop it here rather than hold it in a select.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Completes `timeout` after shutdown is signalled; never completes otherwise.
async fn shutdown_grace(mut shutdown: watch::Receiver<bool>, timeout: Duration) {
    stop_requested(&mut shutdown).await;
    tokio::time::sleep(timeout).await;
}

/// Splits `FROM:<addr> PARAMS` (keyword case-insensitive) into the address and the parameters.
/// A source route (`<@a,@b:user@c>`) is dropped, as RFC 5321 asks.
fn parse_path<'a>(arg: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start().strip_prefix('<')?;
    let (path, params) = rest.split_once('>')?;
    let address = match path.strip_prefix('@') {
        Some(routed) => routed.split_once(':')?.1,
        None => path,
    };
    Some((address, params.trim()))
}

/// `local@domain` with no whitespace, controls or brackets; the sink parses further.
fn plausible_address(address: &str) -> bool {
    let clean = !address
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>'));
    clean
        && address
            .rsplit_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
}

/// A reason from the sink, safe to put in a reply line: one line, whitespace collapsed.
fn one_line(text: &str) -> String {
    let line = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match line.char_indices().nth(200) {
        Some((cut, _)) => line[..cut].to_owned(),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths() {
        assert_eq!(
            parse_path("FROM:<a@b> SIZE=10", "FROM:"),
            Some(("a@b", "SIZE=10"))
        );
        assert_eq!(parse_path("from: <>", "FROM:"), Some(("", "")));
        assert_eq!(parse_path("TO:<@r1,@r2:u@d>", "TO:"), Some(("u@d", "")));
        assert_eq!(parse_path("TO:u@d", "TO:"), None);
        assert_eq!(parse_path("T", "TO:"), None);
        assert_eq!(parse_path("FRÖM:<a@b>", "FROM:"), None);
    }

    #[tokio::test]
    async fn an_over_long_line_remembers_whether_it_ended_with_crlf() {
        // Every split of the terminator across reads ("\r" | "\n") with a 3-byte buffer.
        for (input, crlf) in [
            (&b"0123456789\r\n"[..], true),
            (&b"012345678\r\n"[..], true),
            (&b"01234567\r\n"[..], true),
            (&b"0123456789\n"[..], false),
            (&b"01234567\r9\n"[..], false),
        ] {
            let mut reader = BufReader::with_capacity(3, input);
            let mut buf = Vec::new();
            let line = read_line(&mut reader, 4, &mut buf).await.unwrap();
            assert!(
                matches!(line, Line::TooLong { crlf: c } if c == crlf),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[tokio::test]
    async fn read_line_discards_long_lines_without_buffering_them() {
        let input: &[u8] = b"short\r\n0123456789abcdef\r\nnext\r\ntail";
        let mut reader = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        assert!(matches!(
            read_line(&mut reader, 8, &mut buf).await.unwrap(),
            Line::Complete
        ));
        assert_eq!(buf, b"short\r\n");
        assert!(matches!(
            read_line(&mut reader, 8, &mut buf).await.unwrap(),
            Line::TooLong { crlf: true }
        ));
        assert!(buf.len() <= 8);
        assert!(matches!(
            read_line(&mut reader, 8, &mut buf).await.unwrap(),
            Line::Complete
        ));
        assert_eq!(buf, b"next\r\n");
        assert!(matches!(
            read_line(&mut reader, 8, &mut buf).await.unwrap(),
            Line::Eof
        ));
    }
}
