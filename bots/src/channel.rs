//! The seam a chat channel implements: everything the app needs from Telegram, Slack, Discord or
//! the in-memory test channel, and nothing more.
//!
//! A channel is two values. Its [`ChannelSpec`] (a `const` in its module) names it and reads its
//! config table (`[telegram]`) into a [`ChannelConfig`], which, when the server starts, builds the
//! running [`ChatChannel`] with the app's [`Inbox`]. The running channel sends one [`Outgoing`]
//! message at a time (rendered from a platform-neutral body), hands what people write to the inbox
//! as [`ChatReceived`], declares its HTTP routes (a webhook) and makes deep links for account
//! linking. The app lists every spec in one registry (`src/channels.rs`); adding a channel touches
//! its module here, that line, its config docs and its tests (see `docs/architecture.md`).
//!
//! It is not a transport for email (the outbox sends email itself) and knows nothing of storage:
//! the app persists every [`Outgoing`] in its outbox before it calls [`ChatChannel::send`], and a
//! channel confirms an update to its platform only after the inbox answered `Ok`.
//!
//! Invariant: a channel's `name` is its key everywhere (storage, config table, routes, metrics):
//! lower-case ASCII letters, digits and `_`, at most 15 bytes, and never renamed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::Recipient;

use crate::bus::{ChatReceived, ChatSendError, ChatSent, Outgoing};

/// A boxed future, for the object-safe methods of the seam.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a channel delivers what people write. The app answers once the effects are durable.
pub type Inbox = Recipient<ChatReceived>;

/// Reads a channel's config table (`None` when absent): `Ok(None)` means the channel is off; an
/// error names the key.
pub type Configure =
    fn(Option<&serde_json::Value>) -> Result<Option<Arc<dyn ChannelConfig>>, String>;

/// One entry of the app's channel registry: a name and the reader of its config table.
#[derive(Clone, Copy)]
pub struct ChannelSpec {
    /// The channel's name and the name of its config table.
    pub name: &'static str,
    /// Reads the table (`None` when absent); `Ok(None)` means the channel is off.
    pub configure: Configure,
}

impl fmt::Debug for ChannelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelSpec")
            .field("name", &self.name)
            .finish()
    }
}

/// A channel's validated settings; builds the running channel.
pub trait ChannelConfig: fmt::Debug + Send + Sync {
    fn name(&self) -> &'static str;
    /// Builds the channel and starts its background work (polling), delivering to `inbox`. Must
    /// run inside an actix system.
    fn start(&self, inbox: Inbox) -> Result<Arc<dyn ChatChannel>, String>;

    /// What to tell a member (in the welcome email, written also by the CLI on a stopped
    /// server) to link their account with the one-time `code`.
    fn link_hint(&self, code: &str) -> String;
}

/// A running chat channel.
pub trait ChatChannel: Send + Sync {
    fn name(&self) -> &'static str;

    /// Sends one message (several platform messages when it must be split). A key that was sent
    /// already while the channel runs answers as before without sending again.
    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<ChatSent, ChatSendError>>;

    /// The HTTP routes the app's web server mounts for this channel (a webhook), if any.
    fn routes(&self) -> Vec<Route> {
        Vec::new()
    }

    /// The link a member opens to link their account with a one-time `code`, when the platform
    /// has deep links (`https://t.me/<bot>?start=<code>`).
    fn deep_link(&self, code: &str) -> BoxFuture<'_, Option<String>>;

    /// The platform account of whoever has the email address `email`, for a platform that can
    /// look one up (Slack's `users.lookupByEmail`): members are then linked with no step of
    /// theirs. `Ok(None)`: nobody there has it, or the platform cannot tell.
    fn find_account(
        &self,
        email: &str,
    ) -> BoxFuture<'_, Result<Option<FoundAccount>, ChatSendError>> {
        let _ = email;
        Box::pin(async { Ok(None) })
    }

    /// Stops background work (polling); what it was handing over is simply not confirmed.
    fn stop(&self) {}
}

/// A platform account found by email address ([`ChatChannel::find_account`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundAccount {
    /// The platform's user id (what its messages carry as their author).
    pub user_id: String,
    /// Where to send to reach them (for Slack the user id too: a DM is opened on the first send).
    pub chat_id: String,
    /// Their zone as the platform knows it (IANA name), offered as the member's zone.
    pub timezone: Option<String>,
}

/// An HTTP route of a channel: `POST path`, answered by `handler`.
#[derive(Clone)]
pub struct Route {
    /// Absolute path, under the channel's name (`/telegram/webhook`).
    pub path: String,
    pub handler: Arc<dyn RouteHandler>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route").field("path", &self.path).finish()
    }
}

/// A POST as the web server got it: headers (names lower-case) and the body.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The app's clock when the request arrived (signature time windows are checked against it).
    pub now: chrono::DateTime<chrono::Utc>,
}

impl HttpRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The answer: a status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

pub trait RouteHandler: Send + Sync {
    fn handle(&self, request: HttpRequest) -> BoxFuture<'_, HttpResponse>;
}

/// Checks a channel name against the invariant above.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Reads a channel's config table into its `T` (the defaults when the table is absent); an error
/// names the table (`[slack] unknown field ...`).
pub fn read_table<T>(name: &str, table: Option<&serde_json::Value>) -> Result<T, String>
where
    T: serde::de::DeserializeOwned + Default,
{
    match table {
        Some(v) => T::deserialize(v).map_err(|e| format!("[{name}] {e}")),
        None => Ok(T::default()),
    }
}

/// A string setting, trimmed; absent when missing or blank (a blank token means "off").
pub fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
