//! The `[discord]` table of `config.toml`, as the channel declares it to the app's registry.
//!
//! Owns: the keys of the table (`token`, `api_url`, `backoff_ms`), their defaults, and turning them
//! into a validated [`DiscordConfig`]; the [`SPEC`] the app's registry lists; starting the channel
//! from its config. It is not the TOML reader (the app reads the file and the
//! `DONEBOT_DISCORD__*` environment, and hands the table over as JSON).
//!
//! Invariant: the channel is off exactly when `token` is absent or empty; every other mistake is an
//! error naming the key.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::channel::{DiscordChannel, NAME};
use super::config::{DiscordConfig, DiscordTuning};
use crate::channel::{ChannelConfig, ChannelSpec, ChatChannel, Inbox, non_empty};

/// The registry entry of the Discord channel.
pub const SPEC: ChannelSpec = ChannelSpec {
    name: NAME,
    configure,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Table {
    /// The bot token from the Developer Portal.
    token: Option<String>,
    /// Base URL of the REST API, ending in `/api` (a proxy, or a fake in tests). Default: Discord's.
    api_url: Option<String>,
    /// First retry delay of a failed call, in milliseconds (shortened in tests).
    backoff_ms: u64,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            token: None,
            api_url: None,
            backoff_ms: 500,
        }
    }
}

fn configure(table: Option<&serde_json::Value>) -> Result<Option<Arc<dyn ChannelConfig>>, String> {
    let t: Table = crate::channel::read_table("discord", table)?;
    let Some(token) = non_empty(&t.token) else {
        return Ok(None);
    };
    let config = DiscordConfig {
        token,
        api_url: non_empty(&t.api_url),
        tuning: DiscordTuning {
            backoff: Duration::from_millis(t.backoff_ms.max(1)),
            ..DiscordTuning::default()
        },
    };
    config.validate().map_err(|e| e.to_string())?;
    Ok(Some(Arc::new(config)))
}

impl ChannelConfig for DiscordConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&self, inbox: Inbox) -> Result<Arc<dyn ChatChannel>, String> {
        let channel = DiscordChannel::new(self, inbox).map_err(|e| e.to_string())?;
        Ok(channel.start())
    }

    fn link_hint(&self, code: &str) -> String {
        format!(
            "Rather answer in Discord? Send the team's donebot bot a direct message with this code: {code} (or type /link {code} there)."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_without_a_token_and_errors_name_the_key() {
        assert!(configure(None).unwrap().is_none());
        let table = serde_json::json!({"token": " "});
        assert!(configure(Some(&table)).unwrap().is_none());
        let token = "MTE4MDAwMDAwMDAwMDAwMDAwMA.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB";
        let table = serde_json::json!({"token": token});
        let config = configure(Some(&table)).unwrap().unwrap();
        assert_eq!(config.name(), "discord");
        assert!(!format!("{config:?}").contains(token));
        let table = serde_json::json!({"token": token, "api_url": "https://discord.com"});
        let err = configure(Some(&table)).unwrap_err();
        assert!(err.starts_with("[discord] api_url"), "{err}");
        let table = serde_json::json!({"token": "not a token"});
        let err = configure(Some(&table)).unwrap_err();
        assert!(
            err.starts_with("[discord] token") && !err.contains("not a token"),
            "{err}"
        );
        let table = serde_json::json!({"tokn": "x"});
        let err = configure(Some(&table)).unwrap_err();
        assert!(err.contains("tokn"), "{err}");
    }
}
