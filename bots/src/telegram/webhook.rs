//! Webhook mode: the handler of the channel's route `POST /telegram/webhook`.
//!
//! Owns: checking `X-Telegram-Bot-Api-Secret-Token`, parsing the `Update`, and the HTTP status that
//! tells Telegram whether to deliver it again. It is not the HTTP server (the app mounts the
//! channel's [`crate::channel::Route`]s and passes each POST's headers and body).
//!
//! Invariant: nothing reaches the app unless the secret matches; `200` only after the app answered
//! `Ok` (its effects are durable); a deferred update gets `503` so Telegram retries it.

use std::sync::Arc;

use super::inbound::{Delivery, Shared, deliver_update};
use crate::channel::{BoxFuture, HttpRequest, HttpResponse, RouteHandler};

/// The header Telegram sets to the `secret_token` given to `setWebhook`.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// What the route answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// `200`: recorded (or nothing in it for donebot).
    Accepted,
    /// `401`: missing or wrong secret; nothing was recorded.
    Unauthorized,
    /// `400`: not an `Update`.
    BadRequest(String),
    /// `503`: the app could not take it now; Telegram retries later.
    Unavailable(String),
}

impl WebhookOutcome {
    pub fn status(&self) -> u16 {
        match self {
            WebhookOutcome::Accepted => 200,
            WebhookOutcome::Unauthorized => 401,
            WebhookOutcome::BadRequest(_) => 400,
            WebhookOutcome::Unavailable(_) => 503,
        }
    }
}

/// A cheap, cloneable handle for the app's HTTP route (from [`super::TelegramChannel::webhook`]).
#[derive(Clone)]
pub struct TelegramWebhook {
    pub(crate) shared: Arc<Shared>,
    pub(crate) secret: String,
}

impl TelegramWebhook {
    /// Handles one webhook POST: `secret_header` is the value of [`SECRET_HEADER`], `body` the JSON.
    pub async fn handle(&self, secret_header: Option<&str>, body: &[u8]) -> WebhookOutcome {
        if !secret_header.is_some_and(|given| same_secret(given.as_bytes(), self.secret.as_bytes()))
        {
            tracing::warn!("telegram webhook refused: wrong or missing secret token");
            return WebhookOutcome::Unauthorized;
        }
        let update: teloxide::types::Update = match serde_json::from_slice(body) {
            Ok(update) => update,
            Err(e) => return WebhookOutcome::BadRequest(format!("not a Telegram update: {e}")),
        };
        match deliver_update(&self.shared, &update).await {
            Delivery::Delivered | Delivery::Skipped => WebhookOutcome::Accepted,
            Delivery::Deferred(why) => WebhookOutcome::Unavailable(why),
        }
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
impl RouteHandler for TelegramWebhook {
    fn handle(&self, request: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        Box::pin(async move {
            let outcome =
                TelegramWebhook::handle(self, request.header(SECRET_HEADER), &request.body).await;
            HttpResponse {
                status: outcome.status(),
                body: serde_json::json!({ "outcome": format!("{outcome:?}") }),
            }
        })
    }
}

fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"", b"abc"));
    }

    #[test]
    fn statuses() {
        assert_eq!(WebhookOutcome::Accepted.status(), 200);
        assert_eq!(WebhookOutcome::Unauthorized.status(), 401);
        assert_eq!(WebhookOutcome::BadRequest(String::new()).status(), 400);
        assert_eq!(WebhookOutcome::Unavailable(String::new()).status(), 503);
    }
}
