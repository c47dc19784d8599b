//! The Discord channel: [`Outgoing`] in, [`ChatReceived`] out, behind the seam of
//! [`crate::channel`].
//!
//! Owns: building the REST path, the sender and the gateway handler from a validated config, the
//! background task that runs the gateway client, sends (each a future that holds nothing shared, so
//! a rate-limit wait on one route does not stall another), and stopping. Discord has no deep link
//! that carries a payload to a bot, so members link by DMing the code or with `/link CODE`.
//!
//! Invariant: the background task lives exactly as long as the channel: it is aborted (and the
//! shards shut down) by [`ChatChannel::stop`] and on drop.
//!
//! [`Outgoing`]: crate::bus::Outgoing
//! [`ChatReceived`]: crate::bus::ChatReceived

use std::sync::{Arc, Mutex, PoisonError};

use super::config::{DiscordConfig, DiscordConfigError};
use super::gateway::{self, Manager};
use super::inbound::Inbound;
use super::rest::Rest;
use super::send::Deliverer;
use crate::bus::{ChatSendError, ChatSent, Outgoing};
use crate::channel::{BoxFuture, ChatChannel, Inbox};

/// The channel's name: its config table, its storage key.
pub const NAME: &str = "discord";

pub struct DiscordChannel {
    inbound: Arc<Inbound>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
    manager: Manager,
}

impl std::fmt::Debug for DiscordChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordChannel").finish_non_exhaustive()
    }
}

impl DiscordChannel {
    /// Validates `config` and builds the channel (no call to Discord yet); events go to `inbox`.
    pub fn new(config: &DiscordConfig, inbox: Inbox) -> Result<Self, DiscordConfigError> {
        let valid = config.to_valid()?;
        let rest = Rest::new(&valid).map_err(|problem| DiscordConfigError {
            key: "api_url",
            problem,
        })?;
        let deliverer = Arc::new(Deliverer::new(rest));
        Ok(DiscordChannel {
            inbound: Arc::new(Inbound::new(deliverer, inbox)),
            task: Mutex::new(None),
            manager: Manager::default(),
        })
    }

    /// Connects to the gateway in the background (DMs, edits, deletions and slash commands start
    /// arriving; the commands are registered on the first READY). Needs a tokio runtime.
    pub fn start(self) -> Arc<Self> {
        let task = tokio::spawn(gateway::run(self.inbound.clone(), self.manager.clone()));
        *self.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
        Arc::new(self)
    }

    /// Sends one message; see [`super::send`] for addresses, retries and the once-per-key rule.
    pub async fn deliver(&self, message: &Outgoing) -> Result<ChatSent, ChatSendError> {
        let result = self.inbound.deliverer.deliver(message).await;
        match &result {
            Ok(sent) => {
                tracing::info!(key = %message.key, to = %message.to, parts = sent.message_ids.len(), "discord sent")
            }
            Err(e) => {
                tracing::info!(key = %message.key, to = %message.to, error = %e, "discord not sent")
            }
        }
        result
    }

    /// Turns `true` once the slash commands are registered.
    pub fn commands_registered(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inbound.registered.subscribe()
    }
}

impl Drop for DiscordChannel {
    fn drop(&mut self) {
        self.stop();
    }
}

impl ChatChannel for DiscordChannel {
    fn name(&self) -> &'static str {
        NAME
    }

    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<ChatSent, ChatSendError>> {
        Box::pin(async move { self.deliver(&message).await })
    }

    fn deep_link(&self, _code: &str) -> BoxFuture<'_, Option<String>> {
        Box::pin(async { None })
    }

    fn stop(&self) {
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
        gateway::shutdown(&self.manager);
    }
}
