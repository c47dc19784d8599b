//! The Telegram channel actor: `ChatSend` in, `ChatReceived` out.
//!
//! Owns: the start-up calls (`getMe` for the bot's username; `setWebhook` with the secret and
//! `allowed_updates` in webhook mode), the background task that polls in polling mode, and the
//! handlers of [`ChatSend`] and [`BotUsername`]. Sends run concurrently: a handler returns a future
//! that does not hold the actor, so a 429 wait for one chat does not stall the mailbox.
//!
//! Invariant: the background task lives exactly as long as the actor: it is aborted in `stopped`, and
//! nothing it holds needs finishing (an update it was handing over is simply not confirmed).

use std::sync::{Arc, OnceLock};

use actix::{Actor, Context, Handler, Message, Recipient, ResponseFuture};
use teloxide::payloads::SetWebhookSetters;
use teloxide::prelude::Requester;
use teloxide::types::AllowedUpdate;

use super::client::{Failure, build_bot, classify};
use super::config::{TelegramConfig, TelegramConfigError, ValidMode};
use super::inbound::Shared;
use super::polling::poll;
use super::send::Deliverer;
use super::webhook::TelegramWebhook;
use crate::bus::{ChatReceived, ChatSend, ChatSendError, ChatSent};

/// Asks for the bot's `@username` (without `@`), for deep links `https://t.me/<username>?start=<code>`.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<String, ChatSendError>")]
pub struct BotUsername;

pub struct TelegramChannel {
    shared: Arc<Shared>,
    mode: ValidMode,
    task: Option<tokio::task::AbortHandle>,
}

impl TelegramChannel {
    /// Validates `config` and builds the channel; start it with `Actor::start`. Updates go to `sink`.
    pub fn new(
        config: &TelegramConfig,
        sink: Recipient<ChatReceived>,
    ) -> Result<Self, TelegramConfigError> {
        let config = config.to_valid()?;
        let bot = build_bot(&config)?;
        let shared = Arc::new(Shared {
            deliverer: Deliverer::new(bot, config.tuning.clone()),
            sink,
            username: OnceLock::new(),
        });
        Ok(TelegramChannel {
            shared,
            mode: config.mode,
            task: None,
        })
    }

    /// The handle for the app's webhook route; `None` in polling mode.
    pub fn webhook(&self) -> Option<TelegramWebhook> {
        match &self.mode {
            ValidMode::Webhook { secret, .. } => Some(TelegramWebhook {
                shared: self.shared.clone(),
                secret: secret.clone(),
            }),
            ValidMode::Polling => None,
        }
    }
}

impl Actor for TelegramChannel {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
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
        self.task = Some(task.abort_handle());
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Handler<ChatSend> for TelegramChannel {
    type Result = ResponseFuture<Result<ChatSent, ChatSendError>>;

    fn handle(&mut self, send: ChatSend, _ctx: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        Box::pin(async move {
            let result = shared.deliverer.deliver(&send).await;
            match &result {
                Ok(sent) => {
                    tracing::info!(key = %send.key, chat_id = %send.chat_id, parts = sent.message_ids.len(), "telegram sent")
                }
                Err(e) => {
                    tracing::info!(key = %send.key, chat_id = %send.chat_id, error = %e, "telegram not sent")
                }
            }
            result
        })
    }
}

impl Handler<BotUsername> for TelegramChannel {
    type Result = ResponseFuture<Result<String, ChatSendError>>;

    fn handle(&mut self, _: BotUsername, _ctx: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        Box::pin(async move { learn_username(&shared).await })
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
            Failure::Blocked(why) | Failure::Permanent(why) => ChatSendError::Permanent(why),
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
                Failure::Blocked(why) | Failure::Permanent(why) => {
                    tracing::error!(%why, url = %url, "telegram setWebhook refused; updates will not arrive");
                    return;
                }
            },
        };
        // A real delay: setWebhook failed transiently; Telegram asks us to wait before trying again.
        tokio::time::sleep(wait).await;
    }
}
