//! Configuration: one typed struct read from `config.toml` (or the embedded defaults), overridden by
//! `DONEBOT_SECTION__KEY` environment variables, and validated once at start-up into [`Settings`],
//! whose fields cannot be wrong later (a parsed address, a parsed zone, a parsed schedule).
//!
//! Every error names where the value came from (the file, or the environment variable itself) and
//! the key it is about: `config.toml: [web] listen: invalid socket address "x"`,
//! `environment variable DONEBOT_OUTBOX__CONCURRENCY: [outbox] concurrency: expected a whole
//! number, got "eight"`.
//!
//! `DONEBOT_LOG` is not a key: like `RUST_LOG`, it sets the log filter (see `main.rs`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// `config.toml` as written. Defaults here match the documented `config.toml` in the repository.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    pub web: WebConfig,
    pub email: EmailConfig,
    pub inbound_smtp: InboundSmtpConfig,
    pub inbound_http: InboundHttpConfig,
    /// The tables of the chat channels (`[telegram]`, ...), taken out before the rest is read and
    /// handed to each channel's registry entry (`crate::channels::REGISTRY`) as JSON.
    #[serde(skip)]
    pub channels: toml::Table,
    pub inbound: InboundConfig,
    pub schedule: ScheduleConfig,
    pub outbox: OutboxConfig,
    pub log: LogConfig,
    /// Which keys the environment set: `"[outbox] concurrency"` → `DONEBOT_OUTBOX__CONCURRENCY`,
    /// so that an error about such a key names the variable, not the file.
    #[serde(skip)]
    pub env_keys: BTreeMap<String, String>,
}

/// `[log]`: how log lines look. Their level is `RUST_LOG` or `DONEBOT_LOG` (default `info`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// One line of text per event (coloured only on a terminal, and not with `NO_COLOR`), or one
/// JSON object per line for a log collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    pub listen: String,
    /// The address people reach the web UI at; used in links inside emails. Defaults to
    /// `http://<listen>`.
    pub base_url: Option<String>,
    /// `GET /metrics` accepts this bearer token (for a Prometheus scraper) besides admin tokens.
    pub metrics_token: Option<String>,
    /// `POST /api/v1/backups` writes backups only into this directory (by name); unset: off.
    pub backup_dir: Option<PathBuf>,
    /// Email addresses of the server's admins on the web (they manage every team).
    pub admins: Vec<String>,
    /// How long a web sign-in lasts.
    pub session_days: u32,
    /// Addresses of reverse proxies in front of donebot: for a request from one of them the
    /// client is the last address in `X-Forwarded-For` that is not a trusted proxy.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// The domain of donebot's own addresses (`reply+TOKEN@domain`); inbound SMTP accepts only it.
    pub domain: String,
    /// `From` of every message; defaults to `donebot <donebot@DOMAIN>`.
    pub from: Option<String>,
    /// `smtp://host:port`, `smtps://user:pass@host`; unset: write `.eml` files to `DATA/outbox-eml/`.
    pub smtp_url: Option<String>,
    pub timeout_secs: u64,
    /// DKIM: the selector (`s=`) of the public key published at `<selector>._domainkey.<domain>`.
    pub dkim_selector: Option<String>,
    /// DKIM: the private key file: an RSA key in PKCS#1 PEM, or an Ed25519 key as base64 of its
    /// 32 bytes.
    pub dkim_key_file: Option<PathBuf>,
    /// DKIM: `rsa` (rsa-sha256) or `ed25519` (ed25519-sha256).
    pub dkim_algorithm: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundSmtpConfig {
    /// Address of the built-in SMTP listener; empty to disable it.
    pub listen: String,
    pub max_message_bytes: usize,
    /// Concurrent SMTP sessions in all.
    pub max_sessions: usize,
    /// Concurrent SMTP sessions from one client address.
    pub max_sessions_per_ip: usize,
    /// The longest one SMTP session may last, in seconds.
    pub session_timeout_secs: u64,
}

/// Inbound-parse webhooks of hosted mail providers. Each endpoint is off until its secret is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundHttpConfig {
    /// `POST /inbound/email` (the raw message) must carry `Authorization: Bearer <raw_secret>`.
    pub raw_secret: Option<String>,
    /// `POST /inbound/sendgrid?secret=...` (SendGrid Inbound Parse, raw mode) must carry this.
    pub sendgrid_secret: Option<String>,
    /// Mailgun's webhook signing key; `POST /inbound/mailgun` verifies every post with it.
    pub mailgun_signing_key: Option<String>,
}

/// `[inbound]`: what received mail must prove, and how long failures are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// The authserv-id of the operator's own MTA: its `Authentication-Results` header (the
    /// topmost with this id) authenticates a sender with `dkim=pass` or `dmarc=pass`.
    pub authserv_id: Option<String>,
    /// The body of a failed message is deleted this many days after it failed (the record of
    /// the failure stays).
    pub failed_retention_days: u32,
    /// The bodies of failed messages take at most this many MiB together (oldest deleted first).
    pub failed_max_mb: u64,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            authserv_id: None,
            failed_retention_days: 14,
            failed_max_mb: 256,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Prompt schedule of new teams, in each member's local time.
    pub prompt: String,
    /// Digest schedule of new teams, in each member's local time.
    pub digest: String,
    /// A prompt or digest missed while donebot was down is still sent if at most this late.
    pub catch_up_grace_minutes: u32,
    /// How often the scheduler looks at the clock (real clock only).
    pub tick_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Messages sent at once.
    pub concurrency: usize,
    /// A message that keeps failing transiently is given up after this long.
    pub max_age_hours: u32,
    /// First retry delay; doubled on every attempt (with jitter), capped at `max_retry_minutes`.
    pub first_retry_seconds: u64,
    pub max_retry_minutes: u64,
    /// The text of a message is deleted this many days after it was sent or failed (its record
    /// stays); 0 keeps every text forever.
    pub keep_bodies_days: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            web: WebConfig::default(),
            email: EmailConfig::default(),
            inbound_smtp: InboundSmtpConfig::default(),
            inbound_http: InboundHttpConfig::default(),
            channels: toml::Table::new(),
            inbound: InboundConfig::default(),
            schedule: ScheduleConfig::default(),
            outbox: OutboxConfig::default(),
            log: LogConfig::default(),
            env_keys: BTreeMap::new(),
        }
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "127.0.0.1:8080".into(),
            base_url: None,
            metrics_token: None,
            backup_dir: None,
            admins: Vec::new(),
            session_days: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            domain: "donebot.localhost".into(),
            from: None,
            smtp_url: None,
            timeout_secs: 60,
            dkim_selector: None,
            dkim_key_file: None,
            dkim_algorithm: "rsa".into(),
        }
    }
}

impl Default for InboundSmtpConfig {
    fn default() -> Self {
        InboundSmtpConfig {
            listen: "127.0.0.1:2525".into(),
            max_message_bytes: 25 * 1024 * 1024,
            max_sessions: 512,
            max_sessions_per_ip: 16,
            session_timeout_secs: 600,
        }
    }
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            prompt: "0 18 * * 1-5".into(),
            digest: "0 9 * * 1-5".into(),
            catch_up_grace_minutes: 180,
            tick_seconds: 20,
        }
    }
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            concurrency: 8,
            max_age_hours: 48,
            first_retry_seconds: 60,
            max_retry_minutes: 60,
            keep_bodies_days: 30,
        }
    }
}

/// A configuration problem, naming the file and key.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    pub source_name: String,
    pub message: String,
}

/// Validated settings: what the server runs with. Its `Debug` shows no secret (see below).
#[derive(Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub web_listen: SocketAddr,
    pub base_url: String,
    pub domain: String,
    /// `From` header value.
    pub from: String,
    /// The bare address of `from` (envelope sender).
    pub from_address: String,
    pub smtp_url: Option<String>,
    pub smtp_timeout: Duration,
    /// Signs every outgoing email when set.
    pub dkim: Option<DkimSettings>,
    pub inbound_smtp_listen: Option<SocketAddr>,
    pub inbound_max_bytes: usize,
    /// `[inbound_smtp] max_sessions`, `max_sessions_per_ip`, `session_timeout_secs`.
    pub inbound_max_sessions: usize,
    pub inbound_max_sessions_per_ip: usize,
    pub inbound_session_timeout: Duration,
    pub raw_secret: Option<Secret>,
    /// `[web] metrics_token`.
    pub metrics_token: Option<Secret>,
    /// `[web] admins`, lower case: the server's admins on the web.
    pub web_admins: Vec<String>,
    /// `[web] trusted_proxies`: see [`WebConfig::trusted_proxies`].
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `[web] session_days`: how long a web sign-in lasts.
    pub session_ttl: chrono::Duration,
    /// `[web] backup_dir`: the only place the API writes backups to.
    pub backup_dir: Option<PathBuf>,
    pub sendgrid_secret: Option<Secret>,
    pub mailgun_signing_key: Option<Secret>,
    /// The authserv-id whose `Authentication-Results` authenticate a sender (lower-cased).
    pub authserv_id: Option<String>,
    /// Where DKIM public keys of inbound mail come from (DNS; tests put a fixed table here).
    pub dkim_keys: bots::email::auth::KeySource,
    /// Bodies of failed inbound mail are deleted this long after the failure...
    pub failed_retention: chrono::Duration,
    /// ...and beyond this many bytes in total.
    pub failed_max_bytes: u64,
    /// The chat channels that are on, each validated by its registry entry.
    pub channels: Vec<std::sync::Arc<dyn bots::channel::ChannelConfig>>,
    pub prompt_cron: String,
    pub digest_cron: String,
    pub grace: chrono::Duration,
    pub tick: Duration,
    pub outbox: OutboxConfig,
}

/// Every field but the secrets: shared secrets show as redacted, the SMTP URL without its
/// password, Telegram without its token and webhook secret.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let smtp_url = self.smtp_url.as_deref().map(|u| match u.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://<redacted>@{host}"),
                None => u.to_string(),
            },
            None => u.to_string(),
        });
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("web_listen", &self.web_listen)
            .field("base_url", &self.base_url)
            .field("domain", &self.domain)
            .field("from", &self.from)
            .field("from_address", &self.from_address)
            .field("smtp_url", &smtp_url)
            .field("smtp_timeout", &self.smtp_timeout)
            .field("dkim", &self.dkim)
            .field("inbound_smtp_listen", &self.inbound_smtp_listen)
            .field("inbound_max_bytes", &self.inbound_max_bytes)
            .field("inbound_max_sessions", &self.inbound_max_sessions)
            .field(
                "inbound_max_sessions_per_ip",
                &self.inbound_max_sessions_per_ip,
            )
            .field("inbound_session_timeout", &self.inbound_session_timeout)
            .field("raw_secret", &self.raw_secret)
            .field("metrics_token", &self.metrics_token)
            .field("backup_dir", &self.backup_dir)
            .field("web_admins", &self.web_admins)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("session_ttl", &self.session_ttl)
            .field("sendgrid_secret", &self.sendgrid_secret)
            .field("mailgun_signing_key", &self.mailgun_signing_key)
            .field("authserv_id", &self.authserv_id)
            .field("dkim_keys", &self.dkim_keys)
            .field("failed_retention", &self.failed_retention)
            .field("failed_max_bytes", &self.failed_max_bytes)
            .field("channels", &self.channels)
            .field("prompt_cron", &self.prompt_cron)
            .field("digest_cron", &self.digest_cron)
            .field("grace", &self.grace)
            .field("tick", &self.tick)
            .field("outbox", &self.outbox)
            .finish()
    }
}

/// A shared secret from the configuration: at least [`Secret::MIN_LEN`] characters, compared in
/// constant time, never shown by `Debug`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Shorter secrets are refused at start-up: they can be guessed.
    pub const MIN_LEN: usize = 16;

    fn too_short() -> String {
        format!(
            "too short (at least {} characters; e.g. `openssl rand -hex 16`)",
            Self::MIN_LEN
        )
    }

    /// `None` when unset or empty; an error when too short.
    fn new(value: &Option<String>) -> Result<Option<Secret>, String> {
        match non_empty(value) {
            None => Ok(None),
            Some(s) if s.chars().count() < Self::MIN_LEN => Err(Self::too_short()),
            Some(s) => Ok(Some(Secret(s))),
        }
    }

    /// The secret itself, to compute a signature with.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this secret, in time that does not depend on where they differ.
    pub fn matches(&self, given: &str) -> bool {
        crate::domain::token::constant_time_eq(self.0.as_bytes(), given.as_bytes())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A loaded DKIM key. Its `Debug` shows the selector only, never the key.
#[derive(Clone)]
pub struct DkimSettings {
    pub selector: String,
    pub config: std::sync::Arc<bots::email::message::DkimConfig>,
}

impl std::fmt::Debug for DkimSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSettings")
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// The DKIM configuration outgoing mail is signed with, if any.
    pub fn dkim(&self) -> Option<&bots::email::message::DkimConfig> {
        self.dkim.as_ref().map(|d| d.config.as_ref())
    }

    /// Where outgoing mail goes when no SMTP server is configured.
    pub fn eml_dir(&self) -> PathBuf {
        self.data_dir.join("outbox-eml")
    }
}

impl Config {
    /// Reads `path`, or `./config.toml` if present, or the embedded defaults; then applies the
    /// environment (`DONEBOT_SECTION__KEY=value`, `DONEBOT_DATA_DIR=...`).
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, String), ConfigError> {
        let (mut value, source_name) = match path {
            Some(p) => (read_toml(p)?, p.display().to_string()),
            None if Path::new("config.toml").exists() => (
                read_toml(Path::new("config.toml"))?,
                "config.toml".to_string(),
            ),
            None => (toml::Table::new(), "built-in defaults".to_string()),
        };
        let mut env_keys = BTreeMap::new();
        for (k, v) in env {
            let Some(rest) = k.strip_prefix("DONEBOT_") else {
                continue;
            };
            if rest == LOG_FILTER_VAR {
                continue;
            }
            let key = apply_env(&mut value, rest, &v).map_err(|message| ConfigError {
                source_name: env_source(&k),
                message,
            })?;
            env_keys.insert(key, k);
        }
        let mut channels = toml::Table::new();
        for spec in crate::channels::REGISTRY {
            if let Some(table) = value.remove(spec.name) {
                channels.insert(spec.name.to_string(), table);
            }
        }
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(value))
            .map_err(|e| {
                let key = key_name(&e.path().to_string());
                ConfigError {
                    source_name: env_keys
                        .get(&key)
                        .map_or_else(|| source_name.clone(), |var| env_source(var)),
                    message: format!("{key}: {}", plain_message(e.inner().message())),
                }
            })?;
        config.channels = channels;
        config.env_keys = env_keys;
        Ok((config, source_name))
    }

    /// Checks everything once and returns settings that cannot be wrong later.
    pub fn validate(&self, source_name: &str) -> Result<Settings, ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            source_name: self.source_of(key, source_name),
            message: format!("{key}: {message}"),
        };
        let addr = |key: &str, s: &str| -> Result<SocketAddr, ConfigError> {
            s.parse().map_err(|_| {
                err(
                    key,
                    format!("invalid socket address {s:?} (expected IP:PORT, e.g. 127.0.0.1:8080)"),
                )
            })
        };
        let web_listen = addr("[web] listen", &self.web.listen)?;
        let base_url = match &self.web.base_url {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                u.trim_end_matches('/').to_string()
            }
            Some(u) => {
                return Err(err(
                    "[web] base_url",
                    format!("{u:?} must start with http:// or https://"),
                ));
            }
            None => format!("http://{web_listen}"),
        };
        let domain = self.email.domain.trim().to_ascii_lowercase();
        let dkim = self.dkim(&domain, source_name)?;
        if domain.is_empty() || !domain.contains('.') || domain.contains(['@', ' ']) {
            return Err(err(
                "[email] domain",
                format!(
                    "invalid domain {:?} (expected e.g. mail.example.com)",
                    self.email.domain
                ),
            ));
        }
        let from = self
            .email
            .from
            .clone()
            .unwrap_or_else(|| format!("donebot <donebot@{domain}>"));
        let from_address = bare_address(&from)
            .ok_or_else(|| err("[email] from", format!("{from:?} has no email address")))?;
        let smtp_url = match self.email.smtp_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) => {
                bots::email::send::parse_smtp_url(u)
                    .map_err(|e| err("[email] smtp_url", e.to_string()))?;
                Some(u.to_string())
            }
        };
        let inbound_smtp_listen = match self.inbound_smtp.listen.trim() {
            "" => None,
            s => Some(addr("[inbound_smtp] listen", s)?),
        };
        for (key, expr) in [
            ("[schedule] prompt", &self.schedule.prompt),
            ("[schedule] digest", &self.schedule.digest),
        ] {
            scheduler::Schedule::new(expr, scheduler::Tz::UTC)
                .map_err(|e| err(key, e.to_string()))?;
        }
        let secret = |key: &str, value: &Option<String>| -> Result<Option<Secret>, ConfigError> {
            Secret::new(value).map_err(|m| err(key, m))
        };
        for (key, value) in [
            (
                "[inbound_smtp] max_sessions",
                self.inbound_smtp.max_sessions,
            ),
            (
                "[inbound_smtp] max_sessions_per_ip",
                self.inbound_smtp.max_sessions_per_ip,
            ),
            (
                "[inbound_smtp] session_timeout_secs",
                usize::try_from(self.inbound_smtp.session_timeout_secs).unwrap_or(usize::MAX),
            ),
        ] {
            if value == 0 {
                return Err(err(key, "must be at least 1".into()));
            }
        }
        let mut web_admins = Vec::new();
        for a in &self.web.admins {
            let a = a.trim().to_ascii_lowercase();
            if a.len() > 254 || a.split('@').count() != 2 || a.starts_with('@') || a.ends_with('@')
            {
                return Err(err(
                    "[web] admins",
                    format!("{a:?} is not an email address"),
                ));
            }
            web_admins.push(a);
        }
        if !(1..=366).contains(&self.web.session_days) {
            return Err(err(
                "[web] session_days",
                "must be between 1 and 366".into(),
            ));
        }
        if self.outbox.concurrency == 0 {
            return Err(err("[outbox] concurrency", "must be at least 1".into()));
        }
        if self.schedule.tick_seconds == 0 {
            return Err(err("[schedule] tick_seconds", "must be at least 1".into()));
        }
        Ok(Settings {
            data_dir: self.data_dir.clone(),
            web_listen,
            base_url,
            domain,
            from,
            from_address,
            smtp_url,
            smtp_timeout: Duration::from_secs(self.email.timeout_secs.max(1)),
            dkim,
            inbound_smtp_listen,
            inbound_max_bytes: self.inbound_smtp.max_message_bytes,
            inbound_max_sessions: self.inbound_smtp.max_sessions,
            inbound_max_sessions_per_ip: self.inbound_smtp.max_sessions_per_ip,
            inbound_session_timeout: Duration::from_secs(self.inbound_smtp.session_timeout_secs),
            raw_secret: secret("[inbound_http] raw_secret", &self.inbound_http.raw_secret)?,
            metrics_token: secret("[web] metrics_token", &self.web.metrics_token)?,
            web_admins,
            trusted_proxies: self.web.trusted_proxies.clone(),
            session_ttl: chrono::Duration::days(i64::from(self.web.session_days)),
            backup_dir: self
                .web
                .backup_dir
                .clone()
                .filter(|d| !d.as_os_str().is_empty()),
            sendgrid_secret: secret(
                "[inbound_http] sendgrid_secret",
                &self.inbound_http.sendgrid_secret,
            )?,
            mailgun_signing_key: secret(
                "[inbound_http] mailgun_signing_key",
                &self.inbound_http.mailgun_signing_key,
            )?,
            authserv_id: non_empty(&self.inbound.authserv_id).map(|s| s.to_ascii_lowercase()),
            dkim_keys: bots::email::auth::KeySource::Dns,
            failed_retention: chrono::Duration::days(i64::from(self.inbound.failed_retention_days)),
            failed_max_bytes: self.inbound.failed_max_mb.saturating_mul(1024 * 1024),
            channels: self.channel_configs(source_name)?,
            prompt_cron: self.schedule.prompt.clone(),
            digest_cron: self.schedule.digest.clone(),
            grace: chrono::Duration::minutes(i64::from(self.schedule.catch_up_grace_minutes)),
            tick: Duration::from_secs(self.schedule.tick_seconds),
            outbox: self.outbox.clone(),
        })
    }
}

impl Config {
    fn dkim(&self, domain: &str, source_name: &str) -> Result<Option<DkimSettings>, ConfigError> {
        use bots::email::message::{DkimConfig, DkimSigningAlgorithm, DkimSigningKey};
        let err = |key: &str, message: String| ConfigError {
            source_name: source_name.to_string(),
            message: format!("[email] {key}: {message}"),
        };
        let (selector, file) = match (
            non_empty(&self.email.dkim_selector),
            &self.email.dkim_key_file,
        ) {
            (None, None) => return Ok(None),
            (Some(s), Some(f)) => (s, f),
            (None, Some(_)) => {
                return Err(err("dkim_selector", "required with dkim_key_file".into()));
            }
            (Some(_), None) => {
                return Err(err("dkim_key_file", "required with dkim_selector".into()));
            }
        };
        let algorithm = match self.email.dkim_algorithm.as_str() {
            "rsa" => DkimSigningAlgorithm::Rsa,
            "ed25519" => DkimSigningAlgorithm::Ed25519,
            other => {
                return Err(err(
                    "dkim_algorithm",
                    format!("{other:?} (expected \"rsa\" or \"ed25519\")"),
                ));
            }
        };
        let key = std::fs::read_to_string(file)
            .map_err(|e| err("dkim_key_file", format!("{}: {e}", file.display())))?;
        let key = DkimSigningKey::new(key.trim(), algorithm).map_err(|e| {
            err(
                "dkim_key_file",
                format!(
                    "{}: not a usable {} key: {e}",
                    file.display(),
                    self.email.dkim_algorithm
                ),
            )
        })?;
        let config = DkimConfig::default_config(selector.clone(), domain.to_string(), key);
        Ok(Some(DkimSettings {
            selector,
            config: std::sync::Arc::new(config),
        }))
    }

    fn channel_configs(
        &self,
        source_name: &str,
    ) -> Result<Vec<std::sync::Arc<dyn bots::channel::ChannelConfig>>, ConfigError> {
        let mut on = Vec::new();
        for spec in crate::channels::REGISTRY {
            let table = match self.channels.get(spec.name) {
                Some(t) => Some(serde_json::to_value(t).map_err(|e| ConfigError {
                    source_name: source_name.to_string(),
                    message: format!("[{}] {e}", spec.name),
                })?),
                None => None,
            };
            if let Some(config) =
                (spec.configure)(table.as_ref()).map_err(|message| ConfigError {
                    source_name: source_name.to_string(),
                    message,
                })?
            {
                on.push(config);
            }
        }
        Ok(on)
    }
}

/// `DONEBOT_LOG`: the log filter, read by `main.rs` (like `RUST_LOG`), never a configuration key.
pub const LOG_FILTER_VAR: &str = "LOG";

impl Config {
    /// Where `key` (`"[web] listen"`) came from: its environment variable, or the file.
    fn source_of(&self, key: &str, file: &str) -> String {
        self.env_keys
            .get(key)
            .map_or_else(|| file.to_string(), |var| env_source(var))
    }
}

fn env_source(var: &str) -> String {
    format!("environment variable {var}")
}

/// A deserializer path (`outbox.concurrency`, `data_dir`) as the file spells it:
/// `[outbox] concurrency`, `data_dir`.
fn key_name(path: &str) -> String {
    match path.split_once('.') {
        Some((section, key)) => format!("[{section}] {key}"),
        None => path.to_string(),
    }
}

/// serde's wording for people who write config files: `invalid type: string "eight", expected
/// usize` → `expected a whole number, got "eight"`.
fn plain_message(message: &str) -> String {
    let Some((got, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|m| m.split_once(", expected "))
    else {
        return message.replace('`', "");
    };
    let expected = match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a whole number (0 or more)",
        "i64" | "i32" => "a whole number",
        "a boolean" => "true or false",
        "a string" => "a string (in quotes)",
        other => other,
    };
    let got = ["string ", "integer ", "boolean ", "floating point "]
        .iter()
        .find_map(|p| got.strip_prefix(p))
        .unwrap_or(got)
        .replace('`', "");
    format!("expected {expected}, got {got}")
}

fn read_toml(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        source_name: path.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    text.parse::<toml::Table>().map_err(|e| ConfigError {
        source_name: path.display().to_string(),
        message: e.to_string(),
    })
}

/// `SECTION__KEY` (or a top-level `KEY`) → the table, lower-cased; returns the key as the file
/// spells it (`[section] key`). Values that parse as TOML integers or booleans become those;
/// everything else is a string.
fn apply_env(table: &mut toml::Table, name: &str, value: &str) -> Result<String, String> {
    let path: Vec<String> = name.split("__").map(|p| p.to_ascii_lowercase()).collect();
    let parsed = if let Ok(i) = value.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(b) = value.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(value.to_string())
    };
    match path.as_slice() {
        [key] => {
            table.insert(key.clone(), parsed);
            Ok(key.clone())
        }
        [section, key] => {
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => {
                    t.insert(key.clone(), parsed);
                    Ok(format!("[{section}] {key}"))
                }
                _ => Err(format!("{section} is not a section")),
            }
        }
        _ => Err("expected DONEBOT_KEY or DONEBOT_SECTION__KEY".into()),
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `Name <a@b>` or `a@b` → `a@b`.
pub fn bare_address(s: &str) -> Option<String> {
    let inner = match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s,
    };
    let inner = inner.trim();
    (inner.contains('@') && !inner.contains(char::is_whitespace)).then(|| inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml_text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml_text).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let (config, name) = Config::load(Some(&path), env)?;
        config.validate(&name)
    }

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let s = Config::default().validate("built-in defaults").unwrap();
        assert_eq!(s.web_listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.inbound_smtp_listen.unwrap().to_string(), "127.0.0.1:2525");
        assert_eq!(s.from_address, "donebot@donebot.localhost");
        assert_eq!(s.smtp_url, None);
        assert_eq!(s.eml_dir(), PathBuf::from("./data/outbox-eml"));
    }

    #[test]
    fn the_shipped_config_toml_is_the_defaults() {
        let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml");
        let (c, name) = Config::load(Some(Path::new(shipped)), []).unwrap();
        let s = c.validate(&name).unwrap();
        let d = Config::default().validate("defaults").unwrap();
        assert_eq!(format!("{s:?}"), format!("{d:?}"));
    }

    #[test]
    fn environment_overrides_and_errors_name_the_key() {
        let s = load(
            "[web]\nlisten = \"127.0.0.1:9000\"\n",
            &[("DONEBOT_EMAIL__DOMAIN", "Example.COM")],
        )
        .unwrap();
        assert_eq!(s.web_listen.port(), 9000);
        assert_eq!(s.domain, "example.com");

        let e = load("[email]\nsmtp_url = \"smtp://localhost:25x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("[email] smtp_url") && e.contains("25x"), "{e}");
        let e = load("[web]\nlisten = \"nowhere\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("[web] listen"), "{e}");
        let e = load("[web]\nlisten_on = \"127.0.0.1:1\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen_on"), "{e}");
        let e = load("", &[("DONEBOT_SCHEDULE__PROMPT", "0 25 * * *")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("[schedule] prompt"), "{e}");
    }

    #[test]
    fn errors_name_the_environment_variable_and_the_key() {
        let e = load("", &[("DONEBOT_WEB__LISEN", "x")])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("environment variable DONEBOT_WEB__LISEN: [web] lisen: unknown field"),
            "{e}"
        );
        let e = load("", &[("DONEBOT_OUTBOX__CONCURRENCY", "eight")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "environment variable DONEBOT_OUTBOX__CONCURRENCY: [outbox] concurrency: expected a whole number (0 or more), got \"eight\""
        );
        let e = load("[outbox]\nconcurrency = \"eight\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with(
                ": [outbox] concurrency: expected a whole number (0 or more), got \"eight\""
            ),
            "{e}"
        );
        assert!(!e.starts_with("environment"), "{e}");
        // Checked after reading: the variable is still named.
        let e = load("", &[("DONEBOT_WEB__LISTEN", "nope")])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("environment variable DONEBOT_WEB__LISTEN: [web] listen: invalid socket address \"nope\""),
            "{e}"
        );
        let e = load("data_dir = 5\n", &[]).unwrap_err().to_string();
        assert!(e.contains(": data_dir: "), "{e}");
        let e = load("[log]\nformat = \"xml\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("[log] format: unknown variant"), "{e}");
    }

    #[test]
    fn the_log_filter_variable_is_not_a_key() {
        load("", &[("DONEBOT_LOG", "warn")]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[log]\nformat = \"json\"\n").unwrap();
        let (config, _) = Config::load(Some(&path), std::iter::empty()).unwrap();
        assert_eq!(config.log.format, LogFormat::Json);
    }

    #[test]
    fn short_secrets_are_refused_naming_the_key() {
        for (section, key) in [
            ("inbound_http", "raw_secret"),
            ("inbound_http", "sendgrid_secret"),
            ("inbound_http", "mailgun_signing_key"),
            ("web", "metrics_token"),
        ] {
            let e = load(&format!("[{section}]\n{key} = \"x\"\n"), &[])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("[{section}] {key}: too short (at least 16")),
                "{e}"
            );
            assert!(load(&format!("[{section}]\n{key} = \"0123456789abcdef\"\n"), &[]).is_ok());
        }
        let e = load(
            "[telegram]\ntoken = \"1:a\"\nmode = \"webhook\"\nwebhook_url = \"https://x.example/telegram/webhook\"\nwebhook_secret = \"short\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[telegram] webhook_secret: too short"), "{e}");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let s = load(
            "[inbound_http]\nraw_secret = \"raw-secret-0123456789\"\nsendgrid_secret = \"sg-secret-0123456789\"\nmailgun_signing_key = \"mg-key-0123456789\"\n[email]\nsmtp_url = \"smtps://user:hunter2-password@smtp.example.com:465\"\n[telegram]\ntoken = \"123456:botTokenSecret_abcdefghijklmnopqrstuvwxyz0\"\nmode = \"webhook\"\nwebhook_url = \"https://x.example/telegram/webhook\"\nwebhook_secret = \"webhook-secret-0123456789\"\n",
            &[],
        )
        .unwrap();
        let shown = format!("{s:?}");
        for secret in [
            "raw-secret-0123456789",
            "sg-secret-0123456789",
            "mg-key-0123456789",
            "hunter2-password",
            "botTokenSecret",
            "webhook-secret-0123456789",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("smtp.example.com:465"), "{shown}");
    }

    #[test]
    fn dkim_keys_are_loaded_once_and_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("dkim.key");
        std::fs::write(&key, data_encoding::BASE64.encode(&[9u8; 32])).unwrap();
        let toml_text = format!(
            "[email]\ndomain = \"done.example.com\"\ndkim_selector = \"sel1\"\ndkim_algorithm = \"ed25519\"\ndkim_key_file = {:?}\n",
            key.display().to_string()
        );
        let s = load(&toml_text, &[]).unwrap();
        assert!(s.dkim().is_some());
        assert!(
            !format!("{s:?}").contains("Ed25519"),
            "the key never shows in Debug"
        );

        let e = load("[email]\ndkim_selector = \"sel1\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("[email] dkim_key_file"), "{e}");
        std::fs::write(&key, "not a key").unwrap();
        let e = load(&toml_text.replace("ed25519", "rsa"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[email] dkim_key_file") && e.contains("not a usable rsa key"),
            "{e}"
        );
    }
}
