//! A fake Slack on `127.0.0.1`: the Web API methods donebot calls, and an Events API sender that
//! signs requests like Slack, for tests of the real client (slack-morphism) and of donebot.
//!
//! Owns: a real HTTP server ([`server`]) answering `GET|POST /api/<method>` (query, JSON and form
//! parameters; `Authorization: Bearer`) with the real JSON shapes and `ok:false` error names, a
//! workspace to answer from (users with emails and zones, channels the bot is or is not in, DMs
//! opened on demand), queued faults (an `ok:false` error, `429` with `Retry-After`, a 5xx, a dropped
//! connection), the record of what was posted (messages, ephemerals, `response_url` answers) with
//! notifications to wait on, and [`EventsSender`], which POSTs signed events and slash commands to
//! donebot and retries like Slack (`X-Slack-Retry-Num`, `X-Slack-Retry-Reason`). It is not a model
//! of Slack beyond that (no history, no reactions, no rate limiting unless a fault is queued).
//!
//! Invariant: the server stops when the [`FakeSlack`] is dropped (its accept loop and every
//! connection are aborted), so a test cannot leak it; every answer is one Slack could send.

mod api;
mod sender;
mod server;
mod socket;

use std::sync::Arc;

use serde_json::Value;

use api::State;

pub use sender::{Delivery, EventsSender, RetryPolicy};

/// The bot token the fake answers to.
pub const FAKE_BOT_TOKEN: &str = "xoxb-17-4242-FakeBotTokenForDonebotTests";
/// The app-level token (`connections:write`) the fake opens Socket Mode connections for.
pub const FAKE_APP_TOKEN: &str = "xapp-1-A0DONEBOT-4242-FakeAppTokenForDonebotTests";
/// The signing secret [`EventsSender`] signs with unless told otherwise.
pub const FAKE_SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The workspace's id.
pub const FAKE_TEAM_ID: &str = "T0DONEBOT";
/// The bot's user id (the author of what it posts).
pub const FAKE_BOT_USER_ID: &str = "U0DONEBOT";
/// The bot's bot id (`bot_id` on its messages).
pub const FAKE_BOT_ID: &str = "B0DONEBOT";

/// A failure to inject into the next calls of a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 200 `{"ok": false, "error": "<code>"}` (`channel_not_found`, `internal_error`, ...).
    Error(String),
    /// HTTP 429 with `Retry-After: <seconds>` and `{"ok": false, "error": "ratelimited"}`.
    RateLimited { retry_after: u32 },
    /// A 5xx with the HTML page a load balancer sends.
    ServerError(u16),
    /// The connection is closed without an answer.
    DropConnection,
}

/// A person (or bot) in the fake workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    pub id: String,
    pub name: String,
    pub real_name: String,
    pub email: Option<String>,
    /// IANA zone, as `users.info` gives it.
    pub tz: String,
    pub deleted: bool,
    pub is_bot: bool,
}

impl FakeUser {
    pub fn new(id: &str, real_name: &str, email: &str, tz: &str) -> Self {
        FakeUser {
            id: id.to_owned(),
            name: real_name.to_ascii_lowercase().replace(' ', "."),
            real_name: real_name.to_owned(),
            email: Some(email.to_owned()),
            tz: tz.to_owned(),
            deleted: false,
            is_bot: false,
        }
    }
}

/// What the bot posted with `chat.postMessage`.
#[derive(Debug, Clone, PartialEq)]
pub struct PostedMessage {
    /// The conversation it landed in (a DM's `D…` id when posted to a user id).
    pub channel: String,
    pub ts: String,
    pub text: String,
    /// The `blocks` array as sent, if any.
    pub blocks: Option<Value>,
    pub thread_ts: Option<String>,
}

impl PostedMessage {
    /// The text of every section block (mrkdwn or plain), in order.
    pub fn section_texts(&self) -> Vec<String> {
        let Some(Value::Array(blocks)) = &self.blocks else {
            return Vec::new();
        };
        blocks
            .iter()
            .filter(|b| b["type"] == "section")
            .filter_map(|b| b["text"]["text"].as_str().map(str::to_owned))
            .collect()
    }
}

/// What the bot posted with `chat.postEphemeral`, or to a `response_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EphemeralMessage {
    /// The channel (`chat.postEphemeral`) or the `response_url` path.
    pub to: String,
    pub user: Option<String>,
    pub text: String,
}

/// The fake server. Dropping it stops it.
pub struct FakeSlack {
    state: Arc<State>,
    url: String,
    server: tokio::task::JoinHandle<()>,
    socket: Arc<socket::SocketLink>,
    socket_server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
        self.socket_server.abort();
    }
}

impl FakeSlack {
    /// Starts on `127.0.0.1:0`; needs a tokio runtime.
    pub async fn start() -> std::io::Result<FakeSlack> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (socket, socket_server) = socket::SocketLink::start().await?;
        let state = Arc::new(State::new(FAKE_BOT_TOKEN, &socket.url));
        let server = tokio::spawn(server::serve(listener, state.clone()));
        Ok(FakeSlack {
            state,
            url,
            server,
            socket,
            socket_server,
        })
    }

    /// Socket Mode: queues an Events API envelope carrying `event` for the connected client
    /// (or the next one); returns its `envelope_id`, which the client's ack names.
    pub fn socket_event(&self, event: Value) -> String {
        let n = self.state.next_envelope();
        let envelope_id = format!("env-{n:06}");
        let payload = serde_json::json!({"token": "deprecated-verification-token",
            "team_id": FAKE_TEAM_ID, "api_app_id": "A0DONEBOT", "event": event,
            "type": "event_callback", "event_id": format!("Ev{n:08}SOCK"), "event_time": 1_773_000_000,
            "authorizations": [{"team_id": FAKE_TEAM_ID, "user_id": FAKE_BOT_USER_ID, "is_bot": true}]});
        self.socket.push(
            serde_json::json!({"envelope_id": envelope_id, "payload": payload,
                "type": "events_api", "accepts_response_payload": false, "retry_attempt": 0,
                "retry_reason": ""})
            .to_string(),
        );
        envelope_id
    }

    /// Socket Mode: queues a `/done` slash command; returns its `envelope_id`.
    pub fn socket_command(
        &self,
        user: &str,
        channel: &str,
        text: &str,
        response_url: &str,
    ) -> String {
        let n = self.state.next_envelope();
        let envelope_id = format!("env-{n:06}");
        self.socket.push(
            serde_json::json!({"envelope_id": envelope_id, "type": "slash_commands",
                "accepts_response_payload": true, "payload": {"token": "deprecated-verification-token",
                "team_id": FAKE_TEAM_ID, "channel_id": channel, "user_id": user, "user_name": user,
                "command": "/done", "text": text, "response_url": response_url,
                "trigger_id": format!("{n}.4242.sock"), "api_app_id": "A0DONEBOT"}})
            .to_string(),
        );
        envelope_id
    }

    /// Socket Mode: Slack asks the client to reconnect (`disconnect`, `refresh_requested`).
    pub fn socket_disconnect(&self) {
        self.socket.push(
            serde_json::json!({"type": "disconnect", "reason": "refresh_requested",
                "debug_info": {"host": "applink-fake"}})
            .to_string(),
        );
    }

    /// Socket Mode: every frame the client sent (acks), in order.
    pub fn socket_acks(&self) -> Vec<Value> {
        self.socket.acks()
    }

    /// Waits until the client sent `n` frames; returns them.
    pub async fn wait_socket_acks(&self, n: usize) -> Vec<Value> {
        let mut rx = self.socket.ack_count.subscribe();
        let _ = rx.wait_for(|c| *c >= n).await;
        self.socket.acks()
    }

    /// Waits until `n` Socket Mode connections were made (a reconnect is the second).
    pub async fn wait_socket_connections(&self, n: usize) {
        let mut rx = self.socket.connections.subscribe();
        let _ = rx.wait_for(|c| *c >= n).await;
    }

    /// The Web API base to configure as `api_url` (`http://127.0.0.1:PORT/api`).
    pub fn api_url(&self) -> String {
        format!("{}/api", self.url)
    }

    pub fn bot_token(&self) -> &str {
        &self.state.token
    }

    /// A `response_url` for a slash command; what is posted there is in [`FakeSlack::ephemerals`].
    pub fn response_url(&self, id: &str) -> String {
        format!("{}/commands/{FAKE_TEAM_ID}/{id}", self.url)
    }

    pub fn add_user(&self, user: FakeUser) {
        self.state.add_user(user);
    }

    /// Deactivates a user (`deleted: true`; `conversations.open` answers `user_disabled`).
    pub fn deactivate(&self, user_id: &str) {
        self.state.deactivate(user_id);
    }

    /// A channel (`C…` public, `G…` private) with the bot in it or not.
    pub fn add_channel(&self, id: &str, name: &str, bot_is_member: bool) {
        self.state.add_channel(id, name, bot_is_member);
    }

    /// The bot is removed from the channel (`not_in_channel` from now on).
    pub fn remove_bot_from(&self, channel: &str) {
        self.state.set_member(channel, false);
    }

    /// The channel is archived (`is_archived` from now on).
    pub fn archive(&self, channel: &str) {
        self.state.archive(channel);
    }

    /// The next `times` calls of `method` fail with `fault`, after earlier queued faults.
    pub fn fail_next(&self, method: &str, times: usize, fault: Fault) {
        self.state.queue_fault(method, 0, times, fault);
    }

    /// Lets the next `passes` calls of `method` through, then fails `times` calls with `fault`.
    pub fn fail_after(&self, method: &str, passes: usize, times: usize, fault: Fault) {
        self.state.queue_fault(method, passes, times, fault);
    }

    /// How many calls `method` received, faulted ones included.
    pub fn calls(&self, method: &str) -> usize {
        self.state.calls(method)
    }

    /// Everything posted with `chat.postMessage` so far, in order.
    pub fn posted(&self) -> Vec<PostedMessage> {
        self.state.posted()
    }

    /// Waits until at least `n` messages were posted, then returns them all (no timeout: wrap it).
    pub async fn wait_posted(&self, n: usize) -> Vec<PostedMessage> {
        let mut rx = self.state.posted_count.subscribe();
        // The sender lives in `state`, which outlives this borrow: `wait_for` cannot see it closed.
        let _ = rx.wait_for(|count| *count >= n).await;
        self.posted()
    }

    /// Everything posted with `chat.postEphemeral` or to a `response_url`, in order.
    pub fn ephemerals(&self) -> Vec<EphemeralMessage> {
        self.state.ephemerals()
    }

    /// Waits until at least `n` ephemerals were posted (no timeout: wrap it).
    pub async fn wait_ephemerals(&self, n: usize) -> Vec<EphemeralMessage> {
        let mut rx = self.state.ephemeral_count.subscribe();
        let _ = rx.wait_for(|count| *count >= n).await;
        self.ephemerals()
    }

    /// The DM channel the fake opened (or would open) for a user.
    pub fn dm_channel(&self, user_id: &str) -> String {
        api::dm_id(user_id)
    }
}
