//! The `[telegram]` table of `config.toml`, as the channel declares it to the app's registry.
//!
//! Owns: the keys of the table (`token`, `mode`, `api_url`, `webhook_url`, `webhook_secret`,
//! `backoff_ms`), their defaults, and turning them into a validated [`TelegramConfig`]; the
//! [`SPEC`] the app's registry lists; starting the channel from its config. It is not the TOML
//! reader (the app reads the file and the `DONEBOT_TELEGRAM__*` environment, and hands the table
//! over as JSON).
//!
//! Invariant: the channel is off exactly when `token` is absent or empty; every other mistake is an
//! error naming the key.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::channel::{NAME, TelegramChannel};
use super::config::{TelegramConfig, TelegramMode, TelegramTuning};
use crate::channel::{ChannelConfig, ChannelSpec, ChatChannel, Inbox, non_empty};

/// The registry entry of the Telegram channel.
pub const SPEC: ChannelSpec = ChannelSpec {
    name: NAME,
    configure,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Table {
    /// The bot token from @BotFather.
    token: Option<String>,
    /// `polling` (getUpdates) or `webhook`.
    mode: String,
    /// Base URL of the Bot API (tests point it at a fake). Default: the real API.
    api_url: Option<String>,
    /// Webhook mode: the public URL of `/telegram/webhook`, registered with setWebhook at start.
    webhook_url: Option<String>,
    /// Webhook mode: sent by Telegram in X-Telegram-Bot-Api-Secret-Token.
    webhook_secret: Option<String>,
    /// Retry backoff of sends, in milliseconds (shortened in tests).
    backoff_ms: u64,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            token: None,
            mode: "polling".into(),
            api_url: None,
            webhook_url: None,
            webhook_secret: None,
            backoff_ms: 500,
        }
    }
}

/// Shared secrets are at least this long (as every secret in the configuration).
const MIN_SECRET_LEN: usize = 16;

fn webhook_secret(value: &Option<String>) -> Result<String, String> {
    let secret = non_empty(value).ok_or("[telegram] webhook_secret: required in webhook mode")?;
    if secret.chars().count() < MIN_SECRET_LEN {
        return Err(format!(
            "[telegram] webhook_secret: too short (at least {MIN_SECRET_LEN} characters)"
        ));
    }
    Ok(secret)
}

fn configure(table: Option<&serde_json::Value>) -> Result<Option<Arc<dyn ChannelConfig>>, String> {
    let t: Table = crate::channel::read_table("telegram", table)?;
    let Some(token) = non_empty(&t.token) else {
        return Ok(None);
    };
    let mode = match t.mode.as_str() {
        "polling" => TelegramMode::Polling,
        "webhook" => TelegramMode::Webhook {
            url: non_empty(&t.webhook_url)
                .ok_or("[telegram] webhook_url: required in webhook mode")?,
            secret: webhook_secret(&t.webhook_secret)?,
        },
        other => {
            return Err(format!(
                "[telegram] mode: {other:?} (expected \"polling\" or \"webhook\")"
            ));
        }
    };
    let config = TelegramConfig {
        token,
        api_url: non_empty(&t.api_url),
        mode,
        tuning: TelegramTuning {
            backoff: Duration::from_millis(t.backoff_ms.max(1)),
            ..TelegramTuning::default()
        },
    };
    config.validate().map_err(|e| e.to_string())?;
    Ok(Some(Arc::new(config)))
}

impl ChannelConfig for TelegramConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&self, inbox: Inbox) -> Result<Arc<dyn ChatChannel>, String> {
        let channel = TelegramChannel::new(self, inbox).map_err(|e| e.to_string())?;
        Ok(channel.start())
    }

    fn link_hint(&self, code: &str) -> String {
        format!(
            "Rather answer in Telegram? Send this to the team's donebot bot there: /start {code}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_without_a_token_and_errors_name_the_key() {
        assert!(configure(None).unwrap().is_none());
        let table = serde_json::json!({"token": ""});
        assert!(configure(Some(&table)).unwrap().is_none());
        let table = serde_json::json!({
            "token": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "mode": "webhook",
        });
        let err = configure(Some(&table)).unwrap_err();
        assert!(err.starts_with("[telegram] webhook_url"), "{err}");
        let table = serde_json::json!({"tokn": "x"});
        let err = configure(Some(&table)).unwrap_err();
        assert!(err.contains("tokn"), "{err}");
    }
}
