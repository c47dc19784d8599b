//! The Slack channel: the Web API client, the sender and the request checks, built once from a
//! validated config.
//!
//! Owns: building them and posting one [`SlackOutgoing`] at a time (concurrent sends share the
//! sender; a `429` wait for one channel does not hold the others). It hands out the [`SlackApi`]
//! (linking members by email, their zone, slash command answers) and the [`SlackRequests`] (the
//! checks of `/slack/events` and `/slack/commands`). It is not wired to the app's bus: the seam of
//! issue #10 (`bots::channel`) wraps it in its channel type, so this file does not name a bus type.
//!
//! Invariant: it holds no state a restart would lose beyond the per-key progress of sends in flight
//! (the app's durable outbox owns what is owed).

use std::sync::Arc;

use super::client::{SlackApi, SlackApiError};
use super::config::{SlackConfig, SlackConfigError};
use super::requests::SlackRequests;
use super::send::{Deliverer, SlackOutgoing};

/// Cheap to clone; every clone posts through the same sender.
#[derive(Clone)]
pub struct SlackChannel {
    deliverer: Arc<Deliverer>,
    requests: SlackRequests,
}

impl std::fmt::Debug for SlackChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackChannel").finish_non_exhaustive()
    }
}

impl SlackChannel {
    /// Validates `config` and builds the channel (no call to Slack is made yet).
    pub fn new(config: &SlackConfig) -> Result<Self, SlackConfigError> {
        let config = config.to_valid()?;
        let api = SlackApi::new(&config)?;
        Ok(SlackChannel {
            deliverer: Arc::new(Deliverer::new(api)),
            requests: SlackRequests::new(&config.signing_secret),
        })
    }

    /// Posts `message` (once per key; see [`super::send`]); the ids are `<channel>:<ts>`.
    pub async fn send(&self, message: &SlackOutgoing) -> Result<Vec<String>, SlackApiError> {
        let result = self.deliverer.deliver(message).await;
        match &result {
            Ok(ids) => {
                tracing::info!(key = %message.key, to = %message.to, parts = ids.len(), "slack sent")
            }
            Err(e) => {
                tracing::info!(key = %message.key, to = %message.to, error = %e, "slack not sent")
            }
        }
        result
    }

    /// The Web API client (linking by email, `users.info`, slash command answers).
    pub fn api(&self) -> SlackApi {
        self.deliverer.api().clone()
    }

    /// The checks for the app's `/slack/events` and `/slack/commands` routes.
    pub fn requests(&self) -> SlackRequests {
        self.requests.clone()
    }
}
