//! The `[telegram]` settings as the app hands them over, and their validation.
//!
//! Owns: checking the token's shape, the API and webhook URLs and the webhook secret once, at start-up,
//! with errors that name the key (`[telegram] api_url: ...`), and the tuning knobs (retry patience,
//! backoff, polling timeout) with production defaults. It is not the TOML parser (the app's `config.rs`
//! reads the file and fills [`TelegramConfig`]).
//!
//! Invariant: a [`ValidConfig`] only exists for settings that passed [`TelegramConfig::validate`]; the
//! rest of the module never re-checks them. The token is a secret: no error message prints it.

use std::time::Duration;

use url::Url;

/// The real Bot API. Tests point `api_url` at [`crate::telegram::fake::FakeTelegram`] instead.
pub const TELEGRAM_API_URL: &str = "https://api.telegram.org";

/// What the app reads from `[telegram]` (`token`, `mode`, `api_url`, `webhook_url`, `webhook_secret`).
#[derive(Clone, PartialEq, Eq)]
pub struct TelegramConfig {
    /// The bot token from @BotFather: `<bot id>:<secret>`.
    pub token: String,
    /// Base URL of the Bot API; `None` is the real one ([`TELEGRAM_API_URL`]).
    pub api_url: Option<String>,
    pub mode: TelegramMode,
    pub tuning: TelegramTuning,
}

/// How updates reach donebot.
#[derive(Clone, PartialEq, Eq)]
pub enum TelegramMode {
    /// `getUpdates` long polling; the offset is confirmed only after the app answered `Ok`.
    Polling,
    /// Telegram POSTs updates to `url` (registered with `setWebhook` at start) with the header
    /// `X-Telegram-Bot-Api-Secret-Token: <secret>`.
    Webhook { url: String, secret: String },
}

/// Everything but the token and the webhook secret, which never reach a log.
impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("token", &"<redacted>")
            .field("api_url", &self.api_url)
            .field("mode", &self.mode)
            .field("tuning", &self.tuning)
            .finish()
    }
}

impl std::fmt::Debug for TelegramMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TelegramMode::Polling => f.write_str("Polling"),
            TelegramMode::Webhook { url, .. } => f
                .debug_struct("Webhook")
                .field("url", url)
                .field("secret", &"<redacted>")
                .finish(),
        }
    }
}

/// Retry and timing knobs. The defaults are for the real API; tests shorten the backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramTuning {
    /// Attempts per message for 5xx, timeouts and dropped connections (the first one included).
    pub max_attempts: u32,
    /// First backoff after a transient failure; doubled per attempt up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// The longest a single send waits in total for `429 retry_after` before it answers
    /// `RateLimited` (the outbox defers the message until Telegram's time).
    pub rate_limit_patience: Duration,
    /// `getUpdates` long-poll timeout; below the HTTP client's 17 s total timeout.
    pub poll_timeout: Duration,
    /// At most this many sends start per second over all chats (Telegram allows about 30); `None`
    /// for no pacing (the benchmark against the fake).
    pub max_sends_per_second: Option<u32>,
}

impl Default for TelegramTuning {
    fn default() -> Self {
        TelegramTuning {
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            rate_limit_patience: Duration::from_secs(5),
            poll_timeout: Duration::from_secs(10),
            max_sends_per_second: Some(30),
        }
    }
}

/// A `[telegram]` setting that cannot work; the message names the key and says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[telegram] {key}: {problem}")]
pub struct TelegramConfigError {
    pub key: &'static str,
    pub problem: String,
}

/// Settings that passed validation, in the types the channel uses.
#[derive(Debug, Clone)]
pub(crate) struct ValidConfig {
    pub token: String,
    pub api_url: Url,
    pub mode: ValidMode,
    pub tuning: TelegramTuning,
}

#[derive(Debug, Clone)]
pub(crate) enum ValidMode {
    Polling,
    Webhook { url: Url, secret: String },
}

fn problem(key: &'static str, problem: impl Into<String>) -> TelegramConfigError {
    TelegramConfigError {
        key,
        problem: problem.into(),
    }
}

impl TelegramConfig {
    /// A polling configuration against the real API with default tuning.
    pub fn polling(token: impl Into<String>) -> Self {
        TelegramConfig {
            token: token.into(),
            api_url: None,
            mode: TelegramMode::Polling,
            tuning: TelegramTuning::default(),
        }
    }

    /// Checks every setting; the app calls this when it loads its config to fail fast.
    pub fn validate(&self) -> Result<(), TelegramConfigError> {
        self.to_valid().map(|_| ())
    }

    pub(crate) fn to_valid(&self) -> Result<ValidConfig, TelegramConfigError> {
        check_token(&self.token)?;
        let api_url = match &self.api_url {
            None => parse_url("api_url", TELEGRAM_API_URL)?,
            Some(raw) => parse_url("api_url", raw)?,
        };
        let mode = match &self.mode {
            TelegramMode::Polling => ValidMode::Polling,
            TelegramMode::Webhook { url, secret } => {
                let url = parse_url("webhook_url", url)?;
                if url.scheme() != "https" && !is_loopback(&url) {
                    return Err(problem(
                        "webhook_url",
                        format!(
                            "{url} must be https:// (Telegram only delivers webhooks over TLS)"
                        ),
                    ));
                }
                check_secret(secret)?;
                ValidMode::Webhook {
                    url,
                    secret: secret.clone(),
                }
            }
        };
        let tuning = self.tuning.clone();
        if tuning.max_attempts == 0 {
            return Err(problem("max_attempts", "must be at least 1"));
        }
        if tuning.poll_timeout >= Duration::from_secs(17) {
            return Err(problem(
                "poll_timeout",
                "must be under 17 s (the HTTP client's total timeout)",
            ));
        }
        if tuning.max_sends_per_second == Some(0) {
            return Err(problem(
                "max_sends_per_second",
                "must be at least 1 (or unset)",
            ));
        }
        Ok(ValidConfig {
            token: self.token.clone(),
            api_url,
            mode,
            tuning,
        })
    }
}

/// `<digits>:<30+ of A-Za-z0-9_->`, the shape @BotFather issues. The token itself is never echoed.
fn check_token(token: &str) -> Result<(), TelegramConfigError> {
    let expected = "expected \"<bot id>:<secret>\" as issued by @BotFather \
                    (digits, a colon, then at least 30 letters, digits, _ or -)";
    let Some((id, secret)) = token.split_once(':') else {
        return Err(problem("token", format!("no colon; {expected}")));
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(problem(
            "token",
            format!("the bot id before the colon is not a number; {expected}"),
        ));
    }
    let secret_ok = secret.len() >= 30
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !secret_ok {
        return Err(problem(
            "token",
            format!("the part after the colon is malformed; {expected}"),
        ));
    }
    Ok(())
}

/// Telegram accepts 1–256 characters of `A-Za-z0-9_-` as `secret_token`.
fn check_secret(secret: &str) -> Result<(), TelegramConfigError> {
    let ok = (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(problem(
            "webhook_secret",
            "expected 1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule for secret_token)",
        ))
    }
}

fn parse_url(key: &'static str, raw: &str) -> Result<Url, TelegramConfigError> {
    let mut url =
        Url::parse(raw).map_err(|e| problem(key, format!("{raw:?} is not a URL ({e})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(problem(
            key,
            format!("{raw:?} must start with https:// or http://"),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(problem(key, format!("{raw:?} has no host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(problem(
            key,
            format!("{raw:?} must not have a query or fragment"),
        ));
    }
    if key == "api_url" {
        // teloxide appends `/bot<token>/<Method>` as path segments: a trailing slash would make `//`.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
        }
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    #[test]
    fn a_botfather_token_and_defaults_are_valid() {
        let valid = TelegramConfig::polling(TOKEN).to_valid().unwrap();
        assert_eq!(valid.api_url.as_str(), "https://api.telegram.org/");
    }

    #[test]
    fn errors_name_the_key_and_never_the_token() {
        for bad in [
            "",
            "123456789",
            "abc:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "1:short",
            "1:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDs w",
        ] {
            let err = TelegramConfig::polling(bad).validate().unwrap_err();
            assert_eq!(err.key, "token");
            assert!(err.to_string().starts_with("[telegram] token: "), "{err}");
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
    }

    #[test]
    fn api_url_is_checked_and_normalised() {
        let mut config = TelegramConfig::polling(TOKEN);
        config.api_url = Some("ftp://x".into());
        let err = config.validate().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("[telegram] api_url: \"ftp://x\""),
            "{err}"
        );
        config.api_url = Some("not a url".into());
        assert_eq!(config.validate().unwrap_err().key, "api_url");
        config.api_url = Some("http://127.0.0.1:8081/tg/".into());
        assert_eq!(
            config.to_valid().unwrap().api_url.as_str(),
            "http://127.0.0.1:8081/tg"
        );
    }

    #[test]
    fn webhook_needs_https_and_a_well_formed_secret() {
        let mut config = TelegramConfig::polling(TOKEN);
        config.mode = TelegramMode::Webhook {
            url: "http://example.com/telegram/webhook".into(),
            secret: "s3cr3t".into(),
        };
        assert_eq!(config.validate().unwrap_err().key, "webhook_url");
        config.mode = TelegramMode::Webhook {
            url: "https://example.com/telegram/webhook".into(),
            secret: "bad secret!".into(),
        };
        assert_eq!(config.validate().unwrap_err().key, "webhook_secret");
        config.mode = TelegramMode::Webhook {
            url: "https://example.com/telegram/webhook".into(),
            secret: "s3cr3t_-X".into(),
        };
        config.validate().unwrap();
    }

    #[test]
    fn poll_timeout_must_stay_under_the_client_timeout() {
        let mut config = TelegramConfig::polling(TOKEN);
        config.tuning.poll_timeout = Duration::from_secs(17);
        assert_eq!(config.validate().unwrap_err().key, "poll_timeout");
    }
}
