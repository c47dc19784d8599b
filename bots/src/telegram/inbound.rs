//! Handing one update to the app and acting on its answer; shared by polling and the webhook.
//!
//! Owns: the sink call (`ChatReceived` → `ChatAnswer`), the reply the app asked for (sent in the
//! background under the key `reply:<update_id>`, so a redelivered update is not answered twice while
//! the channel runs), and the verdict the caller turns into a polling offset or an HTTP status. It is
//! not the transport (getUpdates loop or HTTP route).
//!
//! Invariant: [`Delivery::Delivered`] is returned only after the sink answered `Ok`, i.e. after the
//! app made the update's effects durable; only then may the update be confirmed to Telegram.

use std::sync::{Arc, OnceLock};

use actix::Recipient;
use teloxide::types::Update;

use super::send::Deliverer;
use super::updates::to_chat_received;
use crate::bus::{ChatReceived, Outgoing, OutgoingBody};

/// What the channel's tasks share: the sender, the app's sink and the bot's username (from getMe).
pub(crate) struct Shared {
    pub deliverer: Deliverer,
    pub sink: Recipient<ChatReceived>,
    pub username: OnceLock<String>,
}

/// The fate of one update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// The app recorded it: confirm it.
    Delivered,
    /// Nothing in it for the app (a sticker, a command for another bot): confirm it too.
    Skipped,
    /// The app could not take it now: do not confirm; Telegram delivers it again.
    Deferred(String),
}

pub(crate) async fn deliver_update(shared: &Arc<Shared>, update: &Update) -> Delivery {
    let Some(received) = to_chat_received(update, shared.username.get().map(String::as_str)) else {
        tracing::debug!(
            update_id = update.id.0,
            "telegram update skipped: nothing for the app"
        );
        return Delivery::Skipped;
    };
    let (update_id, chat_id, message_id) = (
        received.update_id.clone(),
        received.chat_id.clone(),
        received.message_id.clone(),
    );
    match shared.sink.send(received).await {
        Ok(Ok(answer)) => {
            tracing::info!(update_id = %update_id, chat_id = %chat_id, "telegram message received");
            if let Some(reply) = answer.reply {
                let send = Outgoing {
                    key: format!("reply:{update_id}"),
                    to: chat_id,
                    body: OutgoingBody::Notice { text: reply },
                    reply_to: Some(message_id),
                    answer_via: None,
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = shared.deliverer.deliver(&send).await {
                        tracing::warn!(key = %send.key, error = %e, "telegram reply not sent");
                    }
                });
            }
            Delivery::Delivered
        }
        Ok(Err(e)) => Delivery::Deferred(e.to_string()),
        Err(e) => Delivery::Deferred(format!("the app did not answer: {e}")),
    }
}
