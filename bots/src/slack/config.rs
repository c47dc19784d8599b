//! The `[slack]` settings as the app hands them over, and their validation.
//!
//! Owns: checking the bot token, the signing secret, the app-level token (Socket Mode) and the API
//! URL once, at start-up, with errors that name the key (`[slack] bot_token: ...`), and the tuning
//! knobs (retry patience, backoff) with production defaults. It is not the TOML parser (the app's
//! `config.rs` reads the file and fills [`SlackConfig`]).
//!
//! Invariant: the three secrets (`bot_token`, `signing_secret`, `app_token`) never appear in a
//! `Debug` output or an error message; a [`ValidConfig`] only exists for settings that passed
//! [`SlackConfig::validate`].

use std::fmt;
use std::time::Duration;

use url::Url;

/// The real Web API base (slack-morphism's default). Tests point `api_url` at the fake instead.
pub const SLACK_API_URL: &str = "https://slack.com/api";

/// What the app reads from `[slack]` (`bot_token`, `signing_secret`, `api_url`, `mode`, `app_token`).
#[derive(Clone, PartialEq, Eq)]
pub struct SlackConfig {
    /// The bot user OAuth token, `xoxb-...`.
    pub bot_token: String,
    /// The app's signing secret (Basic Information → App Credentials), checks every request Slack
    /// sends (`X-Slack-Signature`).
    pub signing_secret: String,
    /// Base URL of the Web API, without a trailing slash; `None` is [`SLACK_API_URL`].
    pub api_url: Option<String>,
    pub mode: SlackMode,
    pub tuning: SlackTuning,
}

/// How events reach donebot.
#[derive(Clone, PartialEq, Eq)]
pub enum SlackMode {
    /// Slack POSTs to `/slack/events` and `/slack/commands` (a public https URL is needed).
    Events,
    /// donebot opens a WebSocket with the app-level token (`xapp-...`, scope `connections:write`);
    /// for installs without a public URL.
    Socket { app_token: String },
}

impl SlackMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            SlackMode::Events => "events",
            SlackMode::Socket { .. } => "socket",
        }
    }
}

/// Retry knobs. The defaults are for the real API; tests shorten the backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackTuning {
    /// Attempts per call for 5xx, timeouts and dropped connections (the first one included).
    pub max_attempts: u32,
    /// First backoff after a transient failure; doubled per attempt up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// The longest one send waits in total for `429 Retry-After` before it gives up as transient
    /// (the outbox tries again at the time Slack named).
    pub rate_limit_patience: Duration,
    /// The longest one Web API call may take.
    pub request_timeout: Duration,
}

impl Default for SlackTuning {
    fn default() -> Self {
        SlackTuning {
            max_attempts: 4,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            rate_limit_patience: Duration::from_secs(60),
            request_timeout: Duration::from_secs(20),
        }
    }
}

/// A `[slack]` setting that cannot work; the message names the key and says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[slack] {key}: {problem}")]
pub struct SlackConfigError {
    pub key: &'static str,
    pub problem: String,
}

/// Settings that passed validation, in the types the channel uses.
#[derive(Clone)]
pub(crate) struct ValidConfig {
    pub bot_token: String,
    pub signing_secret: String,
    /// No trailing slash: slack-morphism requests `{api_url}/{method}`.
    pub api_url: String,
    pub app_token: Option<String>,
    pub tuning: SlackTuning,
}

const REDACTED: &str = "<redacted>";

impl fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackConfig")
            .field("bot_token", &REDACTED)
            .field("signing_secret", &REDACTED)
            .field("api_url", &self.api_url)
            .field("mode", &self.mode)
            .field("tuning", &self.tuning)
            .finish()
    }
}

impl fmt::Debug for SlackMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlackMode::Events => f.write_str("Events"),
            SlackMode::Socket { .. } => f
                .debug_struct("Socket")
                .field("app_token", &REDACTED)
                .finish(),
        }
    }
}

impl fmt::Debug for ValidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidConfig")
            .field("api_url", &self.api_url)
            .field("socket_mode", &self.app_token.is_some())
            .field("tuning", &self.tuning)
            .finish_non_exhaustive()
    }
}

fn problem(key: &'static str, problem: impl Into<String>) -> SlackConfigError {
    SlackConfigError {
        key,
        problem: problem.into(),
    }
}

impl SlackConfig {
    /// Events API mode against the real API with default tuning.
    pub fn events(bot_token: impl Into<String>, signing_secret: impl Into<String>) -> Self {
        SlackConfig {
            bot_token: bot_token.into(),
            signing_secret: signing_secret.into(),
            api_url: None,
            mode: SlackMode::Events,
            tuning: SlackTuning::default(),
        }
    }

    /// Checks every setting; the app calls this when it loads its config, to fail fast.
    pub fn validate(&self) -> Result<(), SlackConfigError> {
        self.to_valid().map(|_| ())
    }

    pub(crate) fn to_valid(&self) -> Result<ValidConfig, SlackConfigError> {
        check_token(
            "bot_token",
            &self.bot_token,
            "xoxb-",
            "the Bot User OAuth Token",
        )?;
        check_signing_secret(&self.signing_secret)?;
        let app_token = match &self.mode {
            SlackMode::Events => None,
            SlackMode::Socket { app_token } => {
                check_token("app_token", app_token, "xapp-", "an app-level token")?;
                Some(app_token.clone())
            }
        };
        let api_url = parse_api_url(self.api_url.as_deref().unwrap_or(SLACK_API_URL))?;
        let tuning = self.tuning.clone();
        if tuning.max_attempts == 0 {
            return Err(problem("max_attempts", "must be at least 1"));
        }
        if tuning.request_timeout.is_zero() {
            return Err(problem("request_timeout", "must be more than 0"));
        }
        Ok(ValidConfig {
            bot_token: self.bot_token.clone(),
            signing_secret: self.signing_secret.clone(),
            api_url,
            app_token,
            tuning,
        })
    }
}

/// `xoxb-...` / `xapp-...`: the prefix, then printable ASCII without spaces. Never echoed.
fn check_token(
    key: &'static str,
    token: &str,
    prefix: &str,
    what: &str,
) -> Result<(), SlackConfigError> {
    if !token.starts_with(prefix) || token.len() <= prefix.len() {
        return Err(problem(
            key,
            format!("expected {what}, which starts with \"{prefix}\""),
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(problem(
            key,
            "contains spaces or characters outside printable ASCII (copied with a line break?)",
        ));
    }
    Ok(())
}

/// Slack issues 32 hexadecimal characters; anything shorter than 16 or with spaces is a copy error.
fn check_signing_secret(secret: &str) -> Result<(), SlackConfigError> {
    if secret.len() < 16 || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(problem(
            "signing_secret",
            "expected the app's Signing Secret (32 letters and digits, under Basic Information)",
        ));
    }
    Ok(())
}

fn parse_api_url(raw: &str) -> Result<String, SlackConfigError> {
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
    if url.query().is_some() || url.fragment().is_some() {
        return Err(problem(
            key,
            format!("{raw:?} must not have a query or fragment"),
        ));
    }
    // slack-morphism formats `{base}/{method}`: a trailing slash would make `//`.
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "xoxb-1234-5678-AbCdEfGhIjKl";
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    #[test]
    fn defaults_are_valid_and_point_at_slack() {
        let valid = SlackConfig::events(TOKEN, SECRET).to_valid().unwrap();
        assert_eq!(valid.api_url, "https://slack.com/api");
        assert!(valid.app_token.is_none());
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let mut config = SlackConfig::events(TOKEN, SECRET);
        config.mode = SlackMode::Socket {
            app_token: "xapp-1-A111-222-secretpart".into(),
        };
        let shown = format!("{config:?} {:?}", config.to_valid().unwrap());
        for secret in [TOKEN, SECRET, "xapp-1-A111-222-secretpart"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn errors_name_the_key_and_never_the_secret() {
        for bad in ["", "xoxp-1234-user-token", "xoxb-", "xoxb-12 34"] {
            let err = SlackConfig::events(bad, SECRET).validate().unwrap_err();
            assert_eq!(err.key, "bot_token");
            assert!(err.to_string().starts_with("[slack] bot_token: "), "{err}");
            // The message names the expected prefix; anything longer would be the token itself.
            if bad.len() > "xoxb-".len() {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
        let err = SlackConfig::events(TOKEN, "short").validate().unwrap_err();
        assert_eq!(err.key, "signing_secret");
        assert!(!err.to_string().contains("short"));
        let mut config = SlackConfig::events(TOKEN, SECRET);
        config.mode = SlackMode::Socket {
            app_token: TOKEN.into(),
        };
        assert_eq!(config.validate().unwrap_err().key, "app_token");
    }

    #[test]
    fn api_url_is_checked_and_loses_its_trailing_slash() {
        let mut config = SlackConfig::events(TOKEN, SECRET);
        config.api_url = Some("http://127.0.0.1:9/api/".into());
        assert_eq!(config.to_valid().unwrap().api_url, "http://127.0.0.1:9/api");
        for bad in ["ftp://x/api", "not a url", "https://slack.com/api?x=1"] {
            config.api_url = Some(bad.into());
            assert_eq!(config.validate().unwrap_err().key, "api_url", "{bad}");
        }
    }
}
