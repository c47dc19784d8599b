//! The outgoing mail transport: hands encoded messages to an SMTP relay through donebot's own
//! connection pool ([`pool`], lettre's SMTP client over sockets opened here) or, with no relay
//! configured, writes them as `.eml` files for a human or a test to read.
//!
//! This module owns the `smtp_url` syntax, the bound on connections in use and the mapping of every
//! way a delivery attempt can fail onto one question the outbox can act on: would trying again
//! help? ([`SendError::is_transient`] / [`SendError::is_permanent`], after lettre's own error.) It
//! does not retry, queue or remember anything: the outbox owns that state.
//!
//! Why not lettre's `AsyncSmtpTransport` pool: it cannot be given a `TCP_NODELAY` socket, and
//! lettre writes the DATA body and the final `\r\n.\r\n` separately, so with Nagle on every
//! message waited ~40 ms for a delayed ACK (~325 messages/s at concurrency 16 on loopback; see
//! docs/bench-outbox.md). [`pool`] opens the socket, sets nodelay and hands it to lettre.
//!
//! Invariants: every [`Transport::send`] is bounded by [`SmtpOptions::timeout`] (connect, greeting,
//! TLS, AUTH, commands and the DATA reply, all inside one deadline); a connection goes back to the
//! pool only after a send that succeeded, so one abandoned mid-command (timeout) or left in an
//! unknown state (error) never answers the next message with the previous one's reply. An `.eml`
//! file is either absent or complete: it is written under a temporary name, fsynced, then linked
//! into place.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::TlsParameters;
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::Semaphore;

mod pool;

use pool::{Pool, PoolConfig, Security};

/// How the SMTP client behaves; the defaults suit a relay on the same network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpOptions {
    /// Bound on one whole delivery attempt: connect, greeting, commands and the DATA reply.
    pub timeout: Duration,
    /// Most connections in use at once, and most kept idle in the pool between sends.
    pub pool_size: u32,
    /// The name sent with `EHLO`; `None` uses this machine's hostname.
    pub hello_name: Option<String>,
}

impl Default for SmtpOptions {
    fn default() -> Self {
        SmtpOptions {
            timeout: Duration::from_secs(120),
            pool_size: 4,
            hello_name: None,
        }
    }
}

/// Transport security of an SMTP relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP: only for a relay on loopback or a trusted network.
    None,
    /// Plain TCP upgraded with `STARTTLS`, which must succeed.
    StartTls,
    /// TLS from the first byte (`smtps`, usually port 465).
    Implicit,
}

/// A parsed `smtp_url`. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// `(user, password)`, percent-decoded.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish()
    }
}

/// Why a [`Transport`] could not be set up from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("smtp_url: {0}")]
    InvalidUrl(String),
    #[error("smtp: {0}")]
    InvalidOption(String),
    #[error("smtp_url: cannot set up TLS for {host:?}: {reason}")]
    Tls { host: String, reason: String },
    #[error("eml_dir: cannot create {path}: {source}")]
    EmlDir { path: PathBuf, source: io::Error },
}

/// Parses `smtp://[user:pass@]host[:port][?tls=starttls|none]`, `smtp+starttls://...` and
/// `smtps://...`. Default ports: 25, 587 and 465.
pub fn parse_smtp_url(url: &str) -> Result<SmtpUrl, TransportError> {
    let bad = |reason: String| TransportError::InvalidUrl(reason);
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected smtp://, smtp+starttls:// or smtps://".to_owned()))?;
    let (mut tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "smtp" => (TlsMode::None, 25),
        "smtp+starttls" => (TlsMode::StartTls, 587),
        "smtps" => (TlsMode::Implicit, 465),
        other => {
            return Err(bad(format!(
                "unknown scheme {other:?} (expected smtp, smtp+starttls or smtps)"
            )));
        }
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(bad("unexpected path after the host".to_owned()));
    }
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, rest),
    };
    let credentials = match userinfo {
        None => None,
        Some(userinfo) => {
            let (user, pass) = userinfo
                .split_once(':')
                .ok_or_else(|| bad("credentials must be user:password".to_owned()))?;
            let user = percent_decode(user).ok_or_else(|| bad("bad %-escape in user".into()))?;
            let pass =
                percent_decode(pass).ok_or_else(|| bad("bad %-escape in password".into()))?;
            if user.is_empty() {
                return Err(bad("empty user name".to_owned()));
            }
            Some((user, pass))
        }
    };
    let (host, port) = split_host_port(hostport).map_err(bad)?;
    let port = match port {
        None => default_port,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad(format!("invalid port {port:?} (expected a number 1-65535)")))?,
    };
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        match pair.split_once('=') {
            Some(("tls", "starttls")) if tls != TlsMode::Implicit => tls = TlsMode::StartTls,
            Some(("tls", "none")) if scheme.eq_ignore_ascii_case("smtp") => tls = TlsMode::None,
            _ => {
                return Err(bad(format!(
                    "unsupported option {pair:?} (expected tls=starttls or tls=none)"
                )));
            }
        }
    }
    Ok(SmtpUrl {
        host,
        port,
        tls,
        credentials,
    })
}

fn split_host_port(hostport: &str) -> Result<(String, Option<&str>), String> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| "unclosed [ in IPv6 host".to_owned())?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("unexpected {after:?} after the host")),
            },
        }
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_');
    if host.is_empty() || !host.chars().all(valid) {
        return Err(format!("invalid host {host:?}"));
    }
    Ok((host.to_owned(), port))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What the transport got back for a delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// The server's final reply (`250 2.0.0 OK queued as ...`), or the path of the `.eml` file.
    pub reply: String,
}

/// Why a message was not delivered. `Display` gives the remote reply where there is one.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server answered a command with a 4xx or 5xx reply.
    #[error("{code} {text}")]
    Rejected { code: u16, text: String },
    /// The envelope cannot be sent anywhere: a malformed address, no recipient.
    #[error("invalid envelope: {0}")]
    Envelope(String),
    /// The relay lacks something this exchange needs: STARTTLS, a usable AUTH mechanism,
    /// SMTPUTF8. Transient, because it is the relay's (or the config's) state, not the message's,
    /// that an operator fixes; the outbox's own deadline bounds the retries.
    #[error("the mail server cannot take this message as configured: {0}")]
    Unsupported(String),
    /// No complete exchange within [`SmtpOptions::timeout`].
    #[error("no answer from the mail server within {0:?}")]
    Timeout(Duration),
    /// The connection could not be made or was lost: refused, reset, closed, TLS failure, garbage.
    #[error("mail server connection failed: {0}")]
    Connection(String),
    /// Writing the `.eml` file failed.
    #[error("cannot write {path}: {source}")]
    Eml { path: PathBuf, source: io::Error },
}

impl SendError {
    /// Trying the same message again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SendError::Rejected { code, .. } => (400..500).contains(code),
            SendError::Timeout(_)
            | SendError::Connection(_)
            | SendError::Unsupported(_)
            | SendError::Eml { .. } => true,
            SendError::Envelope(_) => false,
        }
    }

    /// Trying the same message again will fail the same way.
    pub fn is_permanent(&self) -> bool {
        !self.is_transient()
    }

    /// The SMTP reply code, when the server gave one.
    pub fn code(&self) -> Option<u16> {
        match self {
            SendError::Rejected { code, .. } => Some(*code),
            _ => None,
        }
    }

    fn from_smtp(err: smtp::Error, timeout: Duration) -> SendError {
        if let Some(code) = err.status() {
            let text = std::error::Error::source(&err)
                .map(ToString::to_string)
                .unwrap_or_default();
            return SendError::Rejected {
                code: code.into(),
                text,
            };
        }
        if err.is_timeout() {
            SendError::Timeout(timeout)
        } else if err.is_client() {
            SendError::Unsupported(err.to_string())
        } else {
            // Network, connection, TLS, a malformed or truncated reply, a shut-down pool.
            SendError::Connection(err.to_string())
        }
    }
}

/// Where outgoing mail goes.
#[derive(Debug)]
pub enum Transport {
    Smtp(SmtpRelay),
    /// No relay: each message becomes `<dir>/<unix-millis>-<message id>.eml`.
    EmlDir(PathBuf),
}

/// An SMTP relay behind donebot's connection pool.
pub struct SmtpRelay {
    url: SmtpUrl,
    opts: SmtpOptions,
    /// Boxed: the TLS and AUTH settings would make every `Transport` as large as this relay.
    pool: Box<Pool>,
    /// The pool caps idle connections only; this caps connections in use.
    permits: Semaphore,
}

impl fmt::Debug for SmtpRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpRelay")
            .field("url", &self.url)
            .field("opts", &self.opts)
            .field("pool", &self.pool)
            .finish()
    }
}

impl Transport {
    /// `smtp_url: None` writes `.eml` files into `eml_dir` (created if missing); otherwise see
    /// [`parse_smtp_url`]. Needs no runtime: connections are opened by the first sends.
    pub fn new(
        smtp_url: Option<&str>,
        eml_dir: &Path,
        opts: SmtpOptions,
    ) -> Result<Transport, TransportError> {
        let Some(smtp_url) = smtp_url else {
            std::fs::create_dir_all(eml_dir).map_err(|source| TransportError::EmlDir {
                path: eml_dir.to_owned(),
                source,
            })?;
            return Ok(Transport::EmlDir(eml_dir.to_owned()));
        };
        let url = parse_smtp_url(smtp_url)?;
        if opts.pool_size == 0 {
            return Err(TransportError::InvalidOption(
                "pool_size must be at least 1".to_owned(),
            ));
        }
        let tls_params = || {
            TlsParameters::new(url.host.clone()).map_err(|e| TransportError::Tls {
                host: url.host.clone(),
                reason: e.to_string(),
            })
        };
        let security = match url.tls {
            TlsMode::None => Security::Plain,
            TlsMode::StartTls => Security::StartTls(tls_params()?),
            TlsMode::Implicit => Security::Implicit(tls_params()?),
        };
        let pool = Box::new(Pool::new(PoolConfig {
            host: url.host.clone(),
            port: url.port,
            security,
            hello: opts
                .hello_name
                .clone()
                .map(ClientId::Domain)
                .unwrap_or_default(),
            credentials: url
                .credentials
                .as_ref()
                .map(|(user, pass)| Credentials::new(user.clone(), pass.clone())),
            timeout: opts.timeout,
            max_idle: opts.pool_size as usize,
        }));
        Ok(Transport::Smtp(SmtpRelay {
            permits: Semaphore::new(opts.pool_size as usize),
            url,
            opts,
            pool,
        }))
    }

    /// Delivers `raw` (RFC 5322 bytes ending with CRLF, as [`super::message::build`] makes them)
    /// to `envelope_to`. An empty `envelope_from` is the null sender `<>`.
    pub async fn send(
        &self,
        envelope_from: &str,
        envelope_to: &[String],
        raw: &[u8],
    ) -> Result<SendReceipt, SendError> {
        let envelope = envelope(envelope_from, envelope_to)?;
        match self {
            Transport::Smtp(relay) => relay.send(&envelope, raw).await,
            Transport::EmlDir(dir) => write_eml(dir.clone(), raw.to_vec()).await,
        }
    }
}

fn envelope(from: &str, to: &[String]) -> Result<Envelope, SendError> {
    let parse = |a: &str| {
        a.parse::<Address>()
            .map_err(|e| SendError::Envelope(format!("{a:?}: {e}")))
    };
    let from = match from {
        "" => None,
        from => Some(parse(from)?),
    };
    let to = to.iter().map(|a| parse(a)).collect::<Result<Vec<_>, _>>()?;
    Envelope::new(from, to).map_err(|e| SendError::Envelope(e.to_string()))
}

impl SmtpRelay {
    async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<SendReceipt, SendError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::Connection("transport closed".to_owned()))?;
        // lettre ends DATA with "\r\n.\r\n" itself; without this the server would store one
        // extra empty line after a message that already ends with CRLF.
        let body = raw.strip_suffix(b"\r\n").unwrap_or(raw);
        let attempt = async {
            let mut conn = self.pool.checkout().await?;
            // On an error `conn` is dropped here, never checked in.
            let response = conn
                .send(envelope, body)
                .await
                .map_err(|e| SendError::from_smtp(e, self.opts.timeout))?;
            self.pool.checkin(conn);
            Ok(response)
        };
        match tokio::time::timeout(self.opts.timeout, attempt).await {
            Ok(Ok(response)) => {
                let code: u16 = response.code().into();
                let text = response.message().collect::<Vec<_>>().join(" ");
                Ok(SendReceipt {
                    reply: format!("{code} {text}"),
                })
            }
            Ok(Err(err)) => Err(err),
            Err(_elapsed) => {
                // Dropping `attempt` dropped its connection mid-exchange.
                tracing::info!(host = %self.url.host, "smtp send timed out; connection dropped");
                Err(SendError::Timeout(self.opts.timeout))
            }
        }
    }
}

static EML_COUNTER: AtomicU64 = AtomicU64::new(0);

async fn write_eml(dir: PathBuf, raw: Vec<u8>) -> Result<SendReceipt, SendError> {
    let target = dir.clone();
    tokio::task::spawn_blocking(move || write_eml_blocking(&dir, &raw))
        .await
        .map_err(|e| SendError::Eml {
            path: target,
            source: io::Error::other(e.to_string()),
        })?
}

fn write_eml_blocking(dir: &Path, raw: &[u8]) -> Result<SendReceipt, SendError> {
    let fail = |path: &Path| {
        let path = path.to_owned();
        move |source| SendError::Eml { path, source }
    };
    std::fs::create_dir_all(dir).map_err(fail(dir))?;
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let counter = EML_COUNTER.fetch_add(1, Ordering::Relaxed);
    let stem = match message_id(raw) {
        Some(id) => format!("{millis}-{id}"),
        None => format!("{millis}-{counter}"),
    };
    let tmp = dir.join(format!(".{stem}.{}-{counter}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(fail(&tmp))?;
        file.write_all(raw).map_err(fail(&tmp))?;
        file.sync_all().map_err(fail(&tmp))?;
        // hard_link never replaces an existing file, unlike rename: a resend in the same
        // millisecond gets a suffix instead of overwriting the first copy.
        let mut attempt = 0u32;
        loop {
            let name = match attempt {
                0 => format!("{stem}.eml"),
                n => format!("{stem}-{n}.eml"),
            };
            let path = dir.join(name);
            match std::fs::hard_link(&tmp, &path) {
                Ok(()) => return Ok(path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => {
                    attempt += 1;
                }
                Err(e) => return Err(fail(&path)(e)),
            }
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    let path = result?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail(dir))?;
    Ok(SendReceipt {
        reply: path.display().to_string(),
    })
}

/// The `Message-ID` of `raw`, reduced to characters safe in a file name.
fn message_id(raw: &[u8]) -> Option<String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let value = head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("message-id")
            .then_some(value)
    })?;
    let id: String = value
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | '@' | '+' => c,
            _ => '_',
        })
        .take(100)
        .collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_smtp_with_default_port() {
        let url = parse_smtp_url("smtp://127.0.0.1").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.tls, url.credentials),
            ("127.0.0.1", 25, TlsMode::None, None)
        );
    }

    #[test]
    fn parses_starttls_forms_and_credentials() {
        let url = parse_smtp_url("smtp://mx.example.com:2525?tls=starttls").unwrap();
        assert_eq!((url.port, url.tls), (2525, TlsMode::StartTls));
        let url = parse_smtp_url("smtp+starttls://u%40x:p%3Aw@mx.example.com").unwrap();
        assert_eq!((url.port, url.tls), (587, TlsMode::StartTls));
        assert_eq!(url.credentials, Some(("u@x".to_owned(), "p:w".to_owned())));
        let url = parse_smtp_url("smtps://user:secret@[::1]:4650").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.tls),
            ("::1", 4650, TlsMode::Implicit)
        );
        assert!(!format!("{url:?}").contains("secret"));
    }

    #[test]
    fn rejects_bad_urls_with_the_reason() {
        let err = |u: &str| parse_smtp_url(u).unwrap_err().to_string();
        assert_eq!(
            err("smtp://host:25x"),
            "smtp_url: invalid port \"25x\" (expected a number 1-65535)"
        );
        assert!(err("http://host").contains("unknown scheme \"http\""));
        assert!(err("host:25").contains("expected smtp://"));
        assert!(err("smtp://host?tls=maybe").contains("unsupported option \"tls=maybe\""));
        assert!(err("smtps://host?tls=none").contains("unsupported option"));
        assert!(err("smtp://user@host").contains("user:password"));
        assert!(err("smtp://:25").contains("invalid host"));
        assert!(!err("smtp://u:hunter2@host:x").contains("hunter2"));
    }

    #[test]
    fn classifies_errors() {
        let rejected = |code| SendError::Rejected {
            code,
            text: "x".into(),
        };
        assert!(rejected(451).is_transient() && !rejected(451).is_permanent());
        assert!(rejected(550).is_permanent() && !rejected(550).is_transient());
        assert!(SendError::Envelope("x".into()).is_permanent());
        assert!(SendError::Timeout(Duration::from_secs(1)).is_transient());
        assert_eq!(rejected(554).to_string(), "554 x");
    }

    #[test]
    fn message_id_is_sanitised_for_file_names() {
        let raw = b"Subject: x\r\nMessage-ID: <a/b..c@d e>\r\n\r\nbody\r\n";
        assert_eq!(message_id(raw).as_deref(), Some("a_b..c@d_e"));
        assert_eq!(message_id(b"Subject: x\r\n\r\nMessage-ID: <no>\r\n"), None);
    }
}
