//! The Telegram channel: [`Outgoing`] in, [`ChatReceived`] out, behind the seam of
//! [`crate::channel`].
//!
//! Owns: the start-up calls (`getMe` for the bot's username; `setWebhook` with the secret and
//! `allowed_updates` in webhook mode), the background task that polls in polling mode, sends (each
//! a future that holds nothing shared, so a 429 wait for one chat does not stall another), the
//! webhook route and deep links (`https://t.me/<bot>?start=<code>`).
//!
//! Invariant: the background task lives exactly as long as the channel: it is aborted by
//! [`ChatChannel::stop`] and on drop, and nothing it holds needs finishing (an update it was handing
//! over is simply not confirmed).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use teloxide::payloads::SetWebhookSetters;
use teloxide::prelude::Requester;
use teloxide::types::AllowedUpdate;

use super::client::{Failure, build_bot, classify};
use super::config::{TelegramConfig, TelegramConfigError, ValidMode};
use super::inbound::Shared;
use super::polling::poll;
use super::send::Deliverer;
use super::webhook::TelegramWebhook;
use crate::bus::{ChatSendError, ChatSent, Outgoing};
use crate::channel::{BoxFuture, ChatChannel, Inbox, Route};

/// The channel's name: its config table, its storage key, its route prefix.
pub const NAME: &str = "telegram";

pub struct TelegramChannel {
    shared: Arc<Shared>,
    mode: ValidMode,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl TelegramChannel {
    /// Validates `config` and builds the channel; [`TelegramChannel::start`] starts its background
    /// work. Updates go to `inbox`.
    pub fn new(config: &TelegramConfig, inbox: Inbox) -> Result<Self, TelegramConfigError> {
        let config = config.to_valid()?;
        let bot = build_bot(&config)?;
        let shared = Arc::new(Shared {
            deliverer: Deliverer::new(bot, config.tuning.clone()),
            sink: inbox,
            username: OnceLock::new(),
        });
        Ok(TelegramChannel {
            shared,
            mode: config.mode,
            task: Mutex::new(None),
        })
    }

    /// Learns the bot's username, then polls (polling mode) or registers the webhook. Needs a
    /// tokio runtime.
    pub fn start(self) -> Arc<Self> {
        let shared = self.shared.clone();
        let mode = self.mode.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = learn_username(&shared).await {
                tracing::warn!(error = %e, "telegram getMe failed; commands addressed @anyone are taken as ours");
            }
            match mode {
                ValidMode::Polling => poll(shared).await,
                ValidMode::Webhook { url, secret } => register_webhook(&shared, url, secret).await,
            }
        });
        *self.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
        Arc::new(self)
    }

    /// The handle for the webhook route; `None` in polling mode.
    pub fn webhook(&self) -> Option<TelegramWebhook> {
        match &self.mode {
            ValidMode::Webhook { secret, .. } => Some(TelegramWebhook {
                shared: self.shared.clone(),
                secret: secret.clone(),
            }),
            ValidMode::Polling => None,
        }
    }

    /// The bot's `@username` (without `@`), from `getMe`, asked once.
    pub async fn username(&self) -> Result<String, ChatSendError> {
        learn_username(&self.shared).await
    }

    /// Sends one message; see [`super::send`] for retries and the once-per-key rule.
    pub async fn deliver(&self, message: &Outgoing) -> Result<ChatSent, ChatSendError> {
        let result = self.shared.deliverer.deliver(message).await;
        match &result {
            Ok(sent) => {
                tracing::info!(key = %message.key, chat_id = %message.to, parts = sent.message_ids.len(), "telegram sent")
            }
            Err(e) => {
                tracing::info!(key = %message.key, chat_id = %message.to, error = %e, "telegram not sent")
            }
        }
        result
    }
}

impl Drop for TelegramChannel {
    fn drop(&mut self) {
        self.stop();
    }
}

impl ChatChannel for TelegramChannel {
    fn name(&self) -> &'static str {
        NAME
    }

    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<ChatSent, ChatSendError>> {
        Box::pin(async move { self.deliver(&message).await })
    }

    fn routes(&self) -> Vec<Route> {
        match self.webhook() {
            Some(hook) => vec![Route {
                path: format!("/{NAME}/webhook"),
                handler: Arc::new(hook),
            }],
            None => Vec::new(),
        }
    }

    fn deep_link(&self, code: &str) -> BoxFuture<'_, Option<String>> {
        let code = code.to_owned();
        Box::pin(async move {
            let username = self.username().await.ok()?;
            Some(format!("https://t.me/{username}?start={code}"))
        })
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
    }
}

/// `getMe`, once: the answer is kept for the channel's life.
async fn learn_username(shared: &Shared) -> Result<String, ChatSendError> {
    if let Some(name) = shared.username.get() {
        return Ok(name.clone());
    }
    let me = shared
        .deliverer
        .bot()
        .get_me()
        .await
        .map_err(|e| match classify(&e) {
            Failure::RetryAfter(_) | Failure::Transient(_) => {
                ChatSendError::Transient(e.to_string())
            }
            Failure::Migrated(_) | Failure::Blocked(_) | Failure::Permanent(_) => {
                ChatSendError::Permanent(e.to_string())
            }
        })?;
    let name = me.user.username.clone().unwrap_or_default();
    Ok(shared.username.get_or_init(|| name).clone())
}

/// `setWebhook` with the secret and the update kinds, retried with backoff until it is accepted.
async fn register_webhook(shared: &Shared, url: url::Url, secret: String) {
    let deliverer = &shared.deliverer;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = deliverer
            .bot()
            .set_webhook(url.clone())
            .secret_token(secret.clone())
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::EditedMessage])
            .await;
        let wait = match result {
            Ok(_) => {
                tracing::info!(url = %url, "telegram webhook registered");
                return;
            }
            Err(e) => match classify(&e) {
                Failure::RetryAfter(wait) => wait,
                Failure::Transient(why) => {
                    tracing::warn!(%why, attempt, "telegram setWebhook failed, retrying");
                    deliverer.backoff(attempt)
                }
                Failure::Migrated(_) | Failure::Blocked(_) | Failure::Permanent(_) => {
                    tracing::error!(error = %e, url = %url, "telegram setWebhook refused; updates will not arrive");
                    return;
                }
            },
        };
        // A real delay: setWebhook failed transiently; Telegram asks us to wait before trying again.
        tokio::time::sleep(wait).await;
    }
}
