//! The `[discord]` settings as the channel uses them, and their validation.
//!
//! Owns: checking the bot token and the API base once, at start-up, with errors that name the key
//! (`[discord] api_url: ...`), turning the API base into the proxy base serenity understands, and
//! the tuning knobs (retries, rate-limit patience, the global request rate) with production
//! defaults. It is not the table reader ([`super::table`] reads `[discord]` into a
//! [`DiscordConfig`]).
//!
//! Invariant: the token never appears in a `Debug` output or an error message; a [`ValidConfig`]
//! only exists for settings that passed [`DiscordConfig::validate`].

use std::fmt;
use std::time::Duration;

use url::Url;

/// The real REST API base (without the version: serenity appends `/v10/...`).
pub const DISCORD_API_URL: &str = "https://discord.com/api";

/// What the app reads from `[discord]`.
#[derive(Clone, PartialEq, Eq)]
pub struct DiscordConfig {
    /// The bot token (Developer Portal → Bot → Reset Token), with or without `Bot `.
    pub token: String,
    /// Base URL of the REST API, ending in `/api`; `None` is [`DISCORD_API_URL`]. The gateway URL
    /// is what `GET {api_url}/v10/gateway` answers.
    pub api_url: Option<String>,
    pub tuning: DiscordTuning,
}

/// Retry and pacing knobs. The defaults are for the real API; tests shorten the backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordTuning {
    /// Attempts per call for 5xx, timeouts and dropped connections (the first one included).
    pub max_attempts: u32,
    /// First backoff after a transient failure; doubled per attempt up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// The longest one send waits in total for `429 retry_after` before it answers `RateLimited`
    /// (the outbox tries again at the time Discord named).
    pub rate_limit_patience: Duration,
    /// The longest one REST call may take.
    pub request_timeout: Duration,
    /// Requests started per second at most, all routes together (Discord's global limit is 50).
    pub global_per_second: u32,
    /// Attempts to hand one gateway event to the app when it answers `Transient` (Discord does not
    /// deliver a dispatch again, so the channel retries it itself).
    pub inbox_attempts: u32,
}

impl Default for DiscordTuning {
    fn default() -> Self {
        DiscordTuning {
            max_attempts: 4,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            rate_limit_patience: Duration::from_secs(10),
            request_timeout: Duration::from_secs(20),
            global_per_second: 50,
            inbox_attempts: 6,
        }
    }
}

/// A `[discord]` setting that cannot work; the message names the key and says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[discord] {key}: {problem}")]
pub struct DiscordConfigError {
    pub key: &'static str,
    pub problem: String,
}

/// Settings that passed validation, in the forms the channel uses.
#[derive(Clone)]
pub(crate) struct ValidConfig {
    /// Without the `Bot ` prefix (serenity adds it).
    pub token: String,
    /// What serenity's `Request::build` puts in place of `https://discord.com` (no trailing slash).
    pub proxy: String,
    pub tuning: DiscordTuning,
}

const REDACTED: &str = "<redacted>";

impl fmt::Debug for DiscordConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordConfig")
            .field("token", &REDACTED)
            .field("api_url", &self.api_url)
            .field("tuning", &self.tuning)
            .finish()
    }
}

impl fmt::Debug for ValidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidConfig")
            .field("token", &REDACTED)
            .field("proxy", &self.proxy)
            .field("tuning", &self.tuning)
            .finish()
    }
}

fn problem(key: &'static str, problem: impl Into<String>) -> DiscordConfigError {
    DiscordConfigError {
        key,
        problem: problem.into(),
    }
}

impl DiscordConfig {
    /// The real API with default tuning.
    pub fn new(token: impl Into<String>) -> Self {
        DiscordConfig {
            token: token.into(),
            api_url: None,
            tuning: DiscordTuning::default(),
        }
    }

    /// Checks every setting; the app calls this when it loads its config, to fail fast.
    pub fn validate(&self) -> Result<(), DiscordConfigError> {
        self.to_valid().map(|_| ())
    }

    pub(crate) fn to_valid(&self) -> Result<ValidConfig, DiscordConfigError> {
        let token = check_token(&self.token)?;
        let proxy = proxy_base(self.api_url.as_deref().unwrap_or(DISCORD_API_URL))?;
        let t = &self.tuning;
        if t.max_attempts == 0 {
            return Err(problem("max_attempts", "must be at least 1"));
        }
        if t.inbox_attempts == 0 {
            return Err(problem("inbox_attempts", "must be at least 1"));
        }
        if t.request_timeout.is_zero() {
            return Err(problem("request_timeout", "must be more than 0"));
        }
        if t.global_per_second == 0 {
            return Err(problem("global_per_second", "must be at least 1"));
        }
        Ok(ValidConfig {
            token,
            proxy,
            tuning: t.clone(),
        })
    }
}

/// A bot token is three dot-separated base64url parts (user id, timestamp, HMAC). Only the shape
/// is checked (a wrong token is refused by Discord at IDENTIFY); the token is never echoed.
fn check_token(raw: &str) -> Result<String, DiscordConfigError> {
    let token = raw.trim();
    let token = token.strip_prefix("Bot ").unwrap_or(token).trim();
    if token.is_empty() {
        return Err(problem("token", "empty"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(problem(
            "token",
            "contains spaces or characters outside printable ASCII (copied with a line break?)",
        ));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let base64url = |p: &&str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if parts.len() != 3 || !parts.iter().all(base64url) {
        return Err(problem(
            "token",
            "expected a bot token (three parts separated by dots, from the Developer Portal's Bot page)",
        ));
    }
    Ok(token.to_owned())
}

/// `https://discord.com/api` → `https://discord.com`: serenity builds every URL as
/// `https://discord.com/api/v10/...` and, given a proxy, replaces `https://discord.com` with it
/// (serenity `src/http/request.rs`, `Request::build`), so the base must end in `/api`.
fn proxy_base(raw: &str) -> Result<String, DiscordConfigError> {
    let key = "api_url";
    let url = Url::parse(raw).map_err(|e| problem(key, format!("{raw:?} is not a URL ({e})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(problem(
            key,
            format!("{raw:?} must start with https:// or http://"),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(problem(key, format!("{raw:?} has no host")));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(problem(
            key,
            format!("{raw:?} must not have a query, fragment or user"),
        ));
    }
    let text = url.as_str().trim_end_matches('/');
    match text.strip_suffix("/api") {
        Some(base) => Ok(base.to_owned()),
        None => Err(problem(
            key,
            format!("{raw:?} must end in /api (as https://discord.com/api)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "MTE4MDAwMDAwMDAwMDAwMDAwMA.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB";

    #[test]
    fn defaults_point_at_discord() {
        let valid = DiscordConfig::new(TOKEN).to_valid().unwrap();
        assert_eq!(valid.proxy, "https://discord.com");
        assert_eq!(valid.token, TOKEN);
        let valid = DiscordConfig::new(format!("Bot {TOKEN}"))
            .to_valid()
            .unwrap();
        assert_eq!(valid.token, TOKEN);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let config = DiscordConfig::new(TOKEN);
        let shown = format!("{config:?} {:?}", config.to_valid().unwrap());
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn bad_tokens_are_named_and_never_echoed() {
        for bad in [
            "", "Bot ", "abc", "a.b", "a.b.c d", "a..c", "a.b.c.d", "a.b.c\n",
        ] {
            let err = DiscordConfig::new(bad).validate();
            if bad == "a.b.c\n" {
                // Surrounding whitespace is trimmed: a trailing newline from a copy is fine.
                assert!(err.is_ok());
                continue;
            }
            let err = err.unwrap_err();
            assert_eq!(err.key, "token", "{bad:?}");
            assert!(err.to_string().starts_with("[discord] token: "), "{err}");
            if bad.contains('.') && bad.len() > 3 {
                assert!(!err.to_string().contains(bad.trim()), "{err}");
            }
        }
    }

    #[test]
    fn api_url_must_end_in_api() {
        let mut config = DiscordConfig::new(TOKEN);
        config.api_url = Some("http://127.0.0.1:9/api/".into());
        assert_eq!(config.to_valid().unwrap().proxy, "http://127.0.0.1:9");
        config.api_url = Some("https://proxy.example/discord/api".into());
        assert_eq!(
            config.to_valid().unwrap().proxy,
            "https://proxy.example/discord"
        );
        for bad in [
            "ftp://x/api",
            "not a url",
            "https://discord.com/api?x=1",
            "https://discord.com",
            "https://discord.com/api/v10",
        ] {
            config.api_url = Some(bad.into());
            assert_eq!(config.validate().unwrap_err().key, "api_url", "{bad}");
        }
    }
}
