//! A fake Telegram Bot API on `127.0.0.1`, for tests of the real client (teloxide) and of donebot.
//!
//! Owns: a real HTTP server ([`server`]) answering `POST|GET /bot<TOKEN>/<method>` (method names
//! case-insensitive; JSON, form, query and multipart parameters) with the real JSON shapes, error
//! envelopes and HTTP statuses ([`api`]), and the controls a test needs: inject updates, queue faults
//! (429 with `retry_after`, 5xx, 403, 400, a migrated group, a dropped connection), enforce
//! Telegram's sending limits ([`FakeTelegram::enforce_limits`]), read what was sent, wait for the
//! n-th sent message or for the confirmed offset (notifications, never sleeps). It is not a model of
//! Telegram beyond what donebot uses (`getMe`, `getUpdates`, `setWebhook`, `deleteWebhook`,
//! `getWebhookInfo`, `sendMessage`, `setMyCommands`), and it does not push updates to a webhook: in
//! webhook mode a test posts [`Injected::body`] to the route itself.
//!
//! Invariant: the server stops when the [`FakeTelegram`] is dropped (its accept loop and every
//! connection, long polls included, are aborted), so a test cannot leak it.

mod api;
mod html;
mod server;

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;

use api::State;

pub use html::parse_html;

/// The token the fake answers to unless another one is given.
pub const FAKE_TOKEN: &str = "123456789:AAFakeTokenForDonebotTests_0123456789";
/// The fake bot's `@username` (without `@`).
pub const FAKE_BOT_USERNAME: &str = "donebot_test_bot";

/// A failure to inject into the next calls of a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `429 Too Many Requests: retry after N` with `parameters.retry_after`.
    RetryAfter(u32),
    /// A server error: `500` as the Bot API's JSON envelope, other codes as the HTML page a proxy sends.
    ServerError(u16),
    /// `403 Forbidden: bot was blocked by the user`.
    Blocked,
    /// `400 Bad Request: <description>` (e.g. `chat not found`).
    BadRequest(String),
    /// The connection is closed without an answer.
    DropConnection,
    /// `400 Bad Request: group chat was upgraded to a supergroup chat` with
    /// `parameters.migrate_to_chat_id`.
    MigrateTo(i64),
}

/// A person on the fake platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    pub id: i64,
    pub first_name: String,
    pub username: Option<String>,
}

impl FakeUser {
    pub fn new(id: i64, first_name: &str) -> Self {
        FakeUser {
            id,
            first_name: first_name.to_owned(),
            username: None,
        }
    }
}

/// A message a person writes to the bot, to become an `Update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMessage {
    pub from: FakeUser,
    /// Positive: a private chat; negative: a group (`-100…`: a supergroup).
    pub chat_id: i64,
    pub text: String,
    /// `reply_to_message.message_id` (a message the bot sent, or one injected before).
    pub reply_to: Option<i64>,
    /// Unix time; now when `None`.
    pub date: Option<i64>,
}

impl IncomingMessage {
    /// In the private chat with `from` (whose chat id is the user id).
    pub fn private(from: FakeUser, text: &str) -> Self {
        let chat_id = from.id;
        IncomingMessage {
            from,
            chat_id,
            text: text.to_owned(),
            reply_to: None,
            date: None,
        }
    }

    pub fn in_group(chat_id: i64, from: FakeUser, text: &str) -> Self {
        IncomingMessage {
            from,
            chat_id,
            text: text.to_owned(),
            reply_to: None,
            date: None,
        }
    }

    pub fn replying_to(mut self, message_id: i64) -> Self {
        self.reply_to = Some(message_id);
        self
    }

    pub fn at(mut self, unix: i64) -> Self {
        self.date = Some(unix);
        self
    }
}

/// An update the fake queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    pub update_id: i64,
    pub message_id: i64,
    /// The `Update` exactly as `getUpdates` returns it and a webhook would receive it.
    pub update: Value,
}

impl Injected {
    /// The webhook POST body for this update.
    pub fn body(&self) -> Vec<u8> {
        self.update.to_string().into_bytes()
    }
}

/// What the bot sent with `sendMessage`.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    pub message_id: i64,
    pub chat_id: String,
    /// The text as sent (the HTML source when `parse_mode` is `HTML`).
    pub text: String,
    pub parse_mode: Option<String>,
    pub reply_markup: Option<Value>,
    /// `reply_parameters.message_id` (or the legacy `reply_to_message_id`).
    pub reply_to: Option<i64>,
}

/// The webhook registered with `setWebhook`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookInfo {
    pub url: String,
    pub secret_token: Option<String>,
    pub allowed_updates: Option<Vec<String>>,
}

/// The fake server. Dropping it stops it.
pub struct FakeTelegram {
    state: Arc<State>,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeTelegram {
    /// Starts on `127.0.0.1:0` with [`FAKE_TOKEN`]; needs a tokio runtime.
    pub async fn start() -> std::io::Result<FakeTelegram> {
        FakeTelegram::start_with_token(FAKE_TOKEN).await
    }

    pub async fn start_with_token(token: &str) -> std::io::Result<FakeTelegram> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(State::new(token, FAKE_BOT_USERNAME));
        let server = tokio::spawn(server::serve(listener, state.clone()));
        Ok(FakeTelegram { state, url, server })
    }

    /// The base URL to give the client as `api_url` (`http://127.0.0.1:PORT`).
    pub fn api_url(&self) -> &str {
        &self.url
    }

    pub fn token(&self) -> &str {
        &self.state.token
    }

    /// Queues a `message` update.
    pub fn inject_message(&self, message: IncomingMessage) -> Injected {
        self.state.inject(message, None)
    }

    /// Queues an `edited_message` update for the message `message_id` (same id, with `edit_date`).
    pub fn inject_edit(&self, message_id: i64, message: IncomingMessage) -> Injected {
        self.state.inject(message, Some(message_id))
    }

    /// Queues any update; `update_id` is assigned when missing. Returns the update id.
    pub fn inject_update(&self, update: Value) -> i64 {
        self.state.inject_raw(update)
    }

    /// The next `times` calls of `method` (case-insensitive) fail with `fault`, after earlier faults.
    pub fn fail_next(&self, method: &str, times: usize, fault: Fault) {
        self.state.queue_fault(method, 0, times, fault);
    }

    /// Lets the next `passes` calls of `method` through, then fails `times` calls with `fault`.
    pub fn fail_after(&self, method: &str, passes: usize, times: usize, fault: Fault) {
        self.state.queue_fault(method, passes, times, fault);
    }

    /// Forgets every queued fault: calls succeed again.
    pub fn clear_faults(&self) {
        self.state.clear_faults();
    }

    /// The group `from` became the supergroup `to`: every `sendMessage` to `from` answers 400
    /// with `migrate_to_chat_id: to` from now on.
    pub fn migrate(&self, from: i64, to: i64) {
        self.state.migrate(from, to);
    }

    /// Enforce Telegram's sending limits from now on (one message a second per chat, 20 a minute
    /// per group, 30 a second overall), answering `429` with `retry_after` beyond them.
    pub fn enforce_limits(&self, on: bool) {
        self.state.enforce_limits(on);
    }

    /// How many sends the limits refused with `429`.
    pub fn rate_limited(&self) -> usize {
        self.state.rate_limited()
    }

    /// Every `sendMessage` to `chat_id` answers 403 from now on (the user blocked the bot).
    pub fn block(&self, chat_id: i64) {
        self.state.block(chat_id);
    }

    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.state.sent()
    }

    /// Waits until at least `n` messages were sent, then returns them all (no timeout: wrap it).
    pub async fn wait_sent(&self, n: usize) -> Vec<SentMessage> {
        let mut rx = self.state.sent_count.subscribe();
        // The sender lives in `state`, which outlives this borrow: `wait_for` cannot see it closed.
        let _ = rx.wait_for(|count| *count >= n).await;
        self.sent()
    }

    /// How many calls `method` (case-insensitive) received, faulted ones included.
    pub fn calls(&self, method: &str) -> usize {
        self.state.calls(method)
    }

    /// Waits until `method` received at least `n` calls (no timeout: wrap it).
    pub async fn wait_calls(&self, method: &str, n: usize) {
        let mut rx = self.state.call_count.subscribe();
        // The sender lives in `state`, which outlives this borrow: `wait_for` cannot see it closed.
        let _ = rx.wait_for(|_| self.state.calls(method) >= n).await;
    }

    /// The highest offset a `getUpdates` confirmed (`update_id + 1` of the last confirmed update).
    pub fn confirmed_offset(&self) -> i64 {
        *self.state.confirmed.borrow()
    }

    /// Waits until a `getUpdates` confirmed everything below `offset` (no timeout: wrap it).
    pub async fn wait_confirmed(&self, offset: i64) {
        let mut rx: watch::Receiver<i64> = self.state.confirmed.subscribe();
        let _ = rx.wait_for(|confirmed| *confirmed >= offset).await;
    }

    /// Updates queued and not yet confirmed.
    pub fn pending_updates(&self) -> usize {
        self.state.pending()
    }

    /// The webhook set with `setWebhook`, if any.
    pub fn webhook(&self) -> Option<WebhookInfo> {
        self.state.webhook()
    }

    /// Waits until a webhook is registered (no timeout: wrap it).
    pub async fn wait_webhook(&self) -> WebhookInfo {
        let mut rx = self.state.changes.subscribe();
        loop {
            if let Some(info) = self.state.webhook() {
                return info;
            }
            if rx.changed().await.is_err() {
                // Unreachable while `self` holds the state; answer what there is rather than spin.
                return WebhookInfo {
                    url: String::new(),
                    secret_token: None,
                    allowed_updates: None,
                };
            }
        }
    }
}
