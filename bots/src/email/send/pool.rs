//! donebot's own pool of SMTP connections to one relay, built from lettre's connection-level
//! client (`AsyncSmtpConnection`) over sockets this module opens itself.
//!
//! It exists for one socket option: `TCP_NODELAY`. lettre writes the DATA body and the closing
//! `\r\n.\r\n` as two writes; with Nagle's algorithm on, the 5-byte terminator waits for the ACK of
//! the body, which the server delays by ~40 ms, so every message took ~45 ms whatever the
//! concurrency (docs/bench-outbox.md). lettre's own pool opens its sockets internally and offers no
//! way to set the option, so this module connects the `TcpStream`, sets `nodelay`, and hands it to
//! `AsyncSmtpConnection::connect_with_transport`; STARTTLS and implicit TLS are lettre's, over
//! that socket, with the same `TlsParameters` (certificate checks included).
//!
//! What it owns: opening a ready connection (greeting, EHLO, STARTTLS, AUTH, in lettre's order)
//! and keeping up to `max_idle` of them between sends. What it does not: bounding connections in
//! use, timeouts, or mapping errors for the outbox — [`super::SmtpRelay`] does those.
//!
//! It also pipelines (RFC 2920) where the relay offers `PIPELINING` (asked with one more `EHLO`
//! per connection, as lettre keeps no record of that keyword): `MAIL`, every `RCPT` and `DATA`
//! go out in one write and their replies are read in order, then the dot-stuffed body and its
//! terminator in one more write; two round trips a message instead of four. Without the keyword,
//! lettre's own one-command-at-a-time exchange runs.
//!
//! Invariant: a connection goes back to the idle list only after a send that succeeded; a
//! connection that saw an error, or whose send was abandoned by a timeout (the future is
//! dropped), is dropped with it — its next reply could belong to the previous command. Before
//! reuse, an idle connection must look quiet: no bytes and no EOF waiting on its socket (a server
//! that closed it, or said `421` and left, fails that check without a round trip).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead as FuturesRead, AsyncWrite as FuturesWrite};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
#[allow(deprecated)] // lettre's only public handle on an encrypted stream it built.
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::SendError;

/// An idle connection older than this is closed rather than reused (lettre's pool default too):
/// relays drop idle clients after a few minutes, and a quiet socket is weaker evidence the longer
/// it has been idle.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// How a new connection is secured.
#[derive(Clone)]
pub(super) enum Security {
    Plain,
    /// `STARTTLS` after the first EHLO; a relay that does not offer it is an error.
    StartTls(TlsParameters),
    /// TLS from the first byte.
    Implicit(TlsParameters),
}

/// Connections to one relay: how to open one, and the idle ones.
pub(super) struct Pool {
    host: String,
    port: u16,
    security: Security,
    hello: ClientId,
    credentials: Option<Credentials>,
    /// The per-send bound, for [`SendError::Timeout`] should lettre report a timeout itself.
    timeout: Duration,
    max_idle: usize,
    /// Most recently used last. The lock is held for a push, a pop or a sweep, never across an
    /// await.
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    conn: Connection,
    since: Instant,
}

/// One SMTP session, ready for `MAIL FROM`.
pub(super) struct Connection {
    smtp: AsyncSmtpConnection,
    /// The same socket lettre reads and writes through, kept to look at while idle.
    socket: Arc<TcpStream>,
    /// The relay offered `PIPELINING` (in its last `EHLO` reply, after any STARTTLS).
    pipelining: bool,
}

pub(super) struct PoolConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub hello: ClientId,
    pub credentials: Option<Credentials>,
    pub timeout: Duration,
    pub max_idle: usize,
}

impl Pool {
    pub(super) fn new(config: PoolConfig) -> Pool {
        Pool {
            host: config.host,
            port: config.port,
            security: config.security,
            hello: config.hello,
            credentials: config.credentials,
            timeout: config.timeout,
            max_idle: config.max_idle,
            idle: Mutex::new(Vec::with_capacity(config.max_idle)),
        }
    }

    /// An idle connection that still looks healthy, or a new one.
    pub(super) async fn checkout(&self) -> Result<Connection, SendError> {
        loop {
            let Some(idle) = self.idle_list().pop() else {
                break;
            };
            if idle.since.elapsed() <= MAX_IDLE && idle.conn.looks_healthy() {
                return Ok(idle.conn);
            }
            tracing::debug!(host = %self.host, "dropping an idle smtp connection");
        }
        self.connect().await
    }

    /// Puts back a connection whose last send succeeded; drops it when the idle list is full.
    pub(super) fn checkin(&self, conn: Connection) {
        if conn.smtp.has_broken() {
            return;
        }
        let mut idle = self.idle_list();
        idle.retain(|i| i.since.elapsed() <= MAX_IDLE);
        if idle.len() < self.max_idle {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    fn idle_list(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // A poisoned lock only means a panic between a push and a pop; the list is still a list
        // of whole connections.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects, then greeting, EHLO, STARTTLS and AUTH as lettre's own client does them.
    async fn connect(&self) -> Result<Connection, SendError> {
        let lost =
            |e: io::Error| SendError::Connection(format!("{}:{}: {e}", self.host, self.port));
        let smtp_err = |e| SendError::from_smtp(e, self.timeout);
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(lost)?;
        tcp.set_nodelay(true).map_err(lost)?;
        let socket = Arc::new(tcp);
        let plain: Box<dyn AsyncTokioStream> = Box::new(SharedTcp(Arc::clone(&socket)));
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Implicit(params) => {
                #[allow(deprecated)]
                let mut tls = AsyncNetworkStream::use_existing_tokio1(plain);
                tls.upgrade_tls(params.clone()).await.map_err(smtp_err)?;
                Box::new(Encrypted(tls))
            }
            Security::Plain | Security::StartTls(_) => plain,
        };
        let mut smtp = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(smtp_err)?;
        if let Security::StartTls(params) = &self.security {
            smtp.starttls(params.clone(), &self.hello)
                .await
                .map_err(smtp_err)?;
        }
        // lettre read the EHLO reply but keeps only the keywords it knows; ask again (before
        // AUTH, so an authenticated session is not reset) to learn whether the relay pipelines.
        let ehlo = smtp
            .command(Ehlo::new(self.hello.clone()))
            .await
            .map_err(smtp_err)?;
        let pipelining = offers(&ehlo, "PIPELINING");
        if let Some(credentials) = &self.credentials {
            smtp.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(smtp_err)?;
        }
        Ok(Connection {
            smtp,
            socket,
            pipelining,
        })
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("max_idle", &self.max_idle)
            .field("idle", &self.idle_list().len())
            .finish_non_exhaustive()
    }
}

/// Whether an `EHLO` reply lists `keyword` (one extension per line, keyword first).
fn offers(ehlo: &Response, keyword: &str) -> bool {
    ehlo.message().skip(1).any(|line| {
        line.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case(keyword))
    })
}

impl Connection {
    /// `MAIL FROM`, `RCPT TO`, `DATA` and the body (without its final CRLF: the terminator
    /// `\r\n.\r\n` is added here or by lettre, after dot-stuffing). Pipelined where the relay
    /// offers it; the first negative reply ends the exchange with its error, and the caller drops
    /// the connection (the replies to the rest of the group are unread).
    pub(super) async fn send(
        &mut self,
        envelope: &Envelope,
        body: &[u8],
    ) -> Result<Response, lettre::transport::smtp::Error> {
        let Some(parameters) = self.pipelined_mail_parameters(envelope, body) else {
            return self.smtp.send(envelope, body).await;
        };
        let mut group = Mail::new(envelope.from().cloned(), parameters).to_string();
        for to in envelope.to() {
            group.push_str(&Rcpt::new(to.clone(), vec![]).to_string());
        }
        group.push_str("DATA\r\n");
        // One write; the reply to MAIL, then one per RCPT, then DATA's 354.
        self.smtp.command(&group).await?;
        for _ in envelope.to() {
            self.smtp.read_response().await?;
        }
        self.smtp.read_response().await?;
        match std::str::from_utf8(body) {
            // The body and its terminator in one write.
            Ok(text) => self.smtp.command(data_body(text).as_str()).await,
            Err(_) => self.smtp.message(body).await,
        }
    }

    /// The `MAIL FROM` parameters for a pipelined send, as lettre chooses them; `None` when this
    /// send is not pipelined: the relay does not pipeline, or lacks an extension the message
    /// needs (lettre's own exchange then reports that).
    fn pipelined_mail_parameters(
        &self,
        envelope: &Envelope,
        body: &[u8],
    ) -> Option<Vec<MailParameter>> {
        if !self.pipelining {
            return None;
        }
        let info = self.smtp.server_info();
        let mut parameters = Vec::new();
        let non_ascii = |a: &lettre::Address| !AsRef::<str>::as_ref(a).is_ascii();
        if envelope.from().is_some_and(non_ascii) || envelope.to().iter().any(non_ascii) {
            if !info.supports_feature(Extension::SmtpUtfEight) {
                return None;
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !body.is_ascii() {
            if !info.supports_feature(Extension::EightBitMime) {
                return None;
            }
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        Some(parameters)
    }

    /// Not broken, and nothing waiting on the socket: an idle SMTP session has no unread bytes
    /// unless the server has sent something unasked (a `421` before hanging up) or closed it.
    fn looks_healthy(&self) -> bool {
        if self.smtp.has_broken() {
            return false;
        }
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        // Pending = no data and no EOF. The no-op waker is harmless: nothing waits on an idle
        // socket, and the next read registers its own.
        let mut cx = Context::from_waker(Waker::noop());
        self.socket.poll_peek(&mut cx, &mut buf).is_pending()
    }
}

/// A message's content as sent after `354`: every line that starts with `.` gets one more
/// (RFC 5321 4.5.2, as lettre's codec does it: a line starts after CRLF), then `CRLF . CRLF`.
/// One pass into a buffer of about the right size (formatting it line by line through
/// `fmt::Display` cost as much as building the message).
fn data_body(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 64);
    let mut line_start = true;
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line_start && line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        line_start = line.ends_with('\r');
    }
    out.push_str("\r\n.\r\n");
    out
}

/// The nodelay socket as lettre's stream, shared with the [`Connection`] that peeks at it.
#[derive(Debug)]
struct SharedTcp(Arc<TcpStream>);

impl AsyncTokioStream for SharedTcp {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale; polling again registers the waker.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Every write goes straight to the socket, and with nodelay straight to the wire.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A shared socket cannot be half-closed through `&TcpStream`; it closes when the
        // connection holding both handles is dropped, which follows every shutdown lettre does.
        Poll::Ready(Ok(()))
    }
}

/// lettre's TLS stream over [`SharedTcp`], presented to lettre again as a plain tokio stream so
/// the SMTP session (greeting included) starts encrypted.
#[allow(deprecated)]
#[derive(Debug)]
struct Encrypted(AsyncNetworkStream);

impl AsyncTokioStream for Encrypted {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

impl AsyncRead for Encrypted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(Pin::new(&mut self.0).poll_read(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Encrypted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::data_body;

    #[test]
    fn lines_starting_with_a_dot_get_another_and_the_terminator_follows() {
        assert_eq!(data_body("a\r\nb"), "a\r\nb\r\n.\r\n");
        assert_eq!(
            data_body(".a\r\n.\r\n..b\r\nc."),
            "..a\r\n..\r\n...b\r\nc.\r\n.\r\n"
        );
        assert_eq!(data_body(""), "\r\n.\r\n");
        // The same as line-by-line stuffing.
        let body = "x\r\n.\r\n.y\r\n\r\n.\r\nz";
        let by_line: Vec<String> = body
            .split("\r\n")
            .map(|l| {
                if l.starts_with('.') {
                    format!(".{l}")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        assert_eq!(
            data_body(body),
            format!("{}\r\n.\r\n", by_line.join("\r\n"))
        );
    }
}
