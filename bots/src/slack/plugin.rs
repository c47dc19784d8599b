//! Slack behind the channel seam: the `[slack]` table, the bus's messages in and out, and the two
//! routes `POST /slack/events` and `POST /slack/commands`.
//!
//! Owns: reading the table into a [`SlackConfig`] ([`SPEC`]); turning an [`Outgoing`] into a
//! [`SlackOutgoing`] (a digest as Block Kit sections, a command's answer through its
//! `response_url`) and Slack's answers into [`ChatSendError`]s; turning a signed event or slash
//! command into a [`ChatReceived`] for the app's inbox. Both routes hand over `deferred` messages:
//! the app answers once the message is in its durable log, and the route answers Slack then, well
//! inside Slack's three seconds; the work happens after. A slash command is answered in any case
//! before [`COMMAND_DEADLINE`]: if the app has not taken it by then, the person reads that it is
//! on its way, and the app's answer comes through the `response_url` when it has.
//!
//! Invariant: nothing from a request reaches the app unless its signature and timestamp were
//! checked against the app's clock; an event the app could not take is answered `503`, so Slack
//! delivers it again (and the app's log recognises a redelivery by its `event_id`).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::blocks::Section;
use super::channel::SlackChannel;
use super::client::SlackApiError;
use super::commands::{DoneCommand, EphemeralAnswer, SlashCommand, USAGE};
use super::config::{SlackConfig, SlackMode, SlackTuning};
use super::events::{EventsRequest, SlackEvent, ts_to_time};
use super::requests::{SignedHeaders, SlackRequests};
use super::send::{SlackOutgoing, split_message_id};
use crate::bus::{ChatEvent, ChatReceived, ChatSendError, ChatSent, Outgoing, OutgoingBody};
use crate::channel::{
    BoxFuture, ChannelConfig, ChannelSpec, ChatChannel, FoundAccount, HttpRequest, HttpResponse,
    Inbox, Route, RouteHandler, non_empty,
};

/// The channel's name everywhere (config table, storage, routes, metrics).
pub const NAME: &str = "slack";

/// The registry entry of the Slack channel.
pub const SPEC: ChannelSpec = ChannelSpec {
    name: NAME,
    configure,
};

/// Slack gives a slash command 3 s; the answer leaves before this.
pub const COMMAND_DEADLINE: Duration = Duration::from_millis(2_500);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Table {
    /// The Bot User OAuth Token, `xoxb-...`.
    bot_token: Option<String>,
    /// The app's Signing Secret (Basic Information).
    signing_secret: Option<String>,
    /// Base URL of the Web API (tests point it at a fake). Default: Slack's.
    api_url: Option<String>,
    /// `events` (Slack POSTs to /slack/events and /slack/commands) or `socket`.
    mode: String,
    /// Socket Mode's app-level token, `xapp-...`.
    app_token: Option<String>,
    /// First retry backoff of Web API calls, in milliseconds (shortened in tests).
    backoff_ms: u64,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            bot_token: None,
            signing_secret: None,
            api_url: None,
            mode: "events".into(),
            app_token: None,
            backoff_ms: 500,
        }
    }
}

fn configure(table: Option<&serde_json::Value>) -> Result<Option<Arc<dyn ChannelConfig>>, String> {
    let t: Table = crate::channel::read_table("slack", table)?;
    let Some(bot_token) = non_empty(&t.bot_token) else {
        return Ok(None);
    };
    let signing_secret =
        non_empty(&t.signing_secret).ok_or("[slack] signing_secret: required with bot_token")?;
    let mode = match t.mode.as_str() {
        "events" => {
            if non_empty(&t.app_token).is_some() {
                return Err("[slack] app_token: only used with mode = \"socket\"".into());
            }
            SlackMode::Events
        }
        "socket" => SlackMode::Socket {
            app_token: non_empty(&t.app_token)
                .ok_or("[slack] app_token: required with mode = \"socket\" (an app-level token, xapp-..., with connections:write)")?,
        },
        other => {
            return Err(format!(
                "[slack] mode: {other:?} (expected \"events\" or \"socket\")"
            ));
        }
    };
    let config = SlackConfig {
        bot_token,
        signing_secret,
        api_url: non_empty(&t.api_url),
        mode,
        tuning: SlackTuning {
            backoff: Duration::from_millis(t.backoff_ms.max(1)),
            ..SlackTuning::default()
        },
    };
    config.validate().map_err(|e| e.to_string())?;
    Ok(Some(Arc::new(config)))
}

impl ChannelConfig for SlackConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&self, inbox: Inbox) -> Result<Arc<dyn ChatChannel>, String> {
        let channel = SlackChannel::new(self).map_err(|e| e.to_string())?;
        // Socket Mode: donebot connects to Slack; no routes are mounted.
        let socket = match &self.mode {
            SlackMode::Events => None,
            SlackMode::Socket { app_token } => Some(tokio::spawn(super::socket_mode::run(
                channel.api(),
                app_token.clone(),
                inbox.clone(),
                self.tuning.clone(),
            ))),
        };
        Ok(Arc::new(SlackPlugin {
            requests: channel.requests(),
            channel,
            inbox,
            socket: std::sync::Mutex::new(socket),
        }))
    }

    fn link_hint(&self, code: &str) -> String {
        format!(
            "In Slack, donebot finds you by this email address. If your Slack account uses another one, type this to donebot there: /done link {code}"
        )
    }
}

/// The running Slack channel (and, in Socket Mode, its connection).
struct SlackPlugin {
    channel: SlackChannel,
    requests: SlackRequests,
    inbox: Inbox,
    /// The Socket Mode connection's task, in that mode.
    socket: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ChatChannel for SlackPlugin {
    fn name(&self) -> &'static str {
        NAME
    }

    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<ChatSent, ChatSendError>> {
        Box::pin(async move {
            if let Some(url) = &message.answer_via {
                let text = match &message.body {
                    OutgoingBody::Notice { text } | OutgoingBody::Prompt { text, .. } => {
                        text.clone()
                    }
                    OutgoingBody::Digest(d) => d.title.clone(),
                };
                self.channel
                    .api()
                    .respond(url, &text)
                    .await
                    .map_err(send_error)?;
                return Ok(ChatSent {
                    message_ids: Vec::new(),
                    chat_id: None,
                });
            }
            let ids = self
                .channel
                .send(&outgoing(&message))
                .await
                .map_err(send_error)?;
            // `<channel>:<ts>`: the conversation (a DM opened for a user id) and the message.
            let chat_id = ids
                .first()
                .and_then(|id| split_message_id(id).0)
                .map(str::to_owned);
            Ok(ChatSent {
                message_ids: ids
                    .iter()
                    .map(|id| split_message_id(id).1.to_owned())
                    .collect(),
                chat_id,
            })
        })
    }

    fn stop(&self) {
        if let Some(task) = self
            .socket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }

    fn routes(&self) -> Vec<Route> {
        if self
            .socket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
        {
            return Vec::new();
        }
        vec![
            Route {
                path: format!("/{NAME}/events"),
                handler: Arc::new(EventsRoute {
                    requests: self.requests.clone(),
                    inbox: self.inbox.clone(),
                }),
            },
            Route {
                path: format!("/{NAME}/commands"),
                handler: Arc::new(CommandsRoute {
                    requests: self.requests.clone(),
                    inbox: self.inbox.clone(),
                }),
            },
        ]
    }

    fn deep_link(&self, _code: &str) -> BoxFuture<'_, Option<String>> {
        Box::pin(async { None })
    }

    fn find_account(
        &self,
        email: &str,
    ) -> BoxFuture<'_, Result<Option<FoundAccount>, ChatSendError>> {
        let email = email.to_owned();
        Box::pin(async move {
            let found = self
                .channel
                .api()
                .lookup_by_email(&email)
                .await
                .map_err(send_error)?;
            Ok(found
                .filter(|u| !u.deleted && !u.is_bot)
                .map(|u| FoundAccount {
                    chat_id: u.id.clone(),
                    user_id: u.id,
                    timezone: u.tz,
                }))
        })
    }
}

/// The bus's message as Slack's: donebot's text, a digest's members as sections.
fn outgoing(message: &Outgoing) -> SlackOutgoing {
    let (text, sections) = match &message.body {
        OutgoingBody::Prompt { text, .. } | OutgoingBody::Notice { text } => {
            (text.clone(), Vec::new())
        }
        OutgoingBody::Digest(d) => {
            let mut sections: Vec<Section> = d
                .sections
                .iter()
                .map(|s| Section {
                    title: s.member.clone(),
                    lines: s.lines.iter().map(|l| l.label()).collect(),
                })
                .collect();
            if sections.is_empty() {
                sections.push(Section {
                    title: "Nobody recorded anything.".into(),
                    lines: Vec::new(),
                });
            }
            if !d.quiet.is_empty() {
                sections.push(Section {
                    title: "No answer from".into(),
                    lines: vec![d.quiet.join(", ")],
                });
            }
            (d.title.clone(), sections)
        }
    };
    SlackOutgoing {
        key: message.key.clone(),
        to: message.to.clone(),
        text,
        sections,
        // Prompts in a thread name their parent; an answer goes where the person wrote.
        reply_to: message.reply_to.clone(),
    }
}

fn send_error(e: SlackApiError) -> ChatSendError {
    match e {
        SlackApiError::Transient {
            retry_after: Some(wait),
            ..
        } => ChatSendError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        },
        SlackApiError::Transient { reason, .. } => ChatSendError::Transient(reason),
        SlackApiError::Broken(why) => ChatSendError::Blocked(why),
        SlackApiError::Permanent(why) => ChatSendError::Permanent(why),
    }
}

fn signed_headers(request: &HttpRequest) -> SignedHeaders<'_> {
    SignedHeaders {
        timestamp: request.header("X-Slack-Request-Timestamp"),
        signature: request.header("X-Slack-Signature"),
    }
}

fn answer(status: u16, body: serde_json::Value) -> HttpResponse {
    HttpResponse { status, body }
}

/// `200` with an empty body: taken, nothing to show.
fn taken() -> HttpResponse {
    answer(200, serde_json::Value::Null)
}

/// A message's text as the person typed and saw it. Slack's raw text writes links, mentions and
/// channels as control sequences in angle brackets (`<https://x.example/pr/12|PR 12>`,
/// `<@U0BOB>`, `<#C024|general>`, `<!here>`), and escapes a typed `&`, `<` and `>` as entities,
/// so every `<` in it opens a sequence. A labelled link becomes `label (url)` (the digest keeps
/// where it points), a bare one its address (`mailto:` dropped); a mention `@name` (or `@USERID`
/// when Slack gave no name), a channel `#name`, a special mention `@here`; an unclosed `<` is kept
/// as it is.
fn plain_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&unescape(&rest[..open]));
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&unescape(&rest[open..]));
            return out;
        };
        let inner = &after[..close];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(unescape(l))),
            None => (inner, None),
        };
        let shown = match (target.chars().next(), label) {
            (Some('@'), Some(l)) => format!("@{}", l.trim_start_matches('@')),
            (Some('@'), None) => target.to_owned(),
            (Some('#'), Some(l)) => format!("#{l}"),
            (Some('#'), None) => target.to_owned(),
            (Some('!'), Some(l)) => l,
            (Some('!'), None) => format!("@{}", target.trim_start_matches('!')),
            (_, Some(l)) if l == unescape(target.trim_start_matches("mailto:")) => l,
            (_, Some(l)) => format!("{l} ({})", unescape(target)),
            (_, None) => unescape(target.trim_start_matches("mailto:")),
        };
        out.push_str(&shown);
        rest = &after[close + 1..];
    }
    out.push_str(&unescape(rest));
    out
}

/// Slack's three entities; `&amp;` last, so `&amp;lt;` stays the `&lt;` that was typed.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The message a person wrote, edited or deleted, as the app's inbox takes it; for what is not
/// for donebot, why not.
pub(super) fn received(event_id: &str, event: SlackEvent) -> Result<ChatReceived, String> {
    let (event_kind, channel, conversation, user, text, ts, thread_ts) = match event {
        SlackEvent::Posted(p) => (
            ChatEvent::Message,
            p.channel,
            p.conversation,
            p.user,
            p.text,
            p.ts,
            p.thread_ts,
        ),
        SlackEvent::Edited(e) => (
            ChatEvent::Edit,
            e.channel,
            e.conversation,
            e.user,
            e.text,
            e.ts,
            e.thread_ts,
        ),
        SlackEvent::Deleted(d) => {
            let user = d
                .user
                .ok_or("a deletion that does not say whose message it was")?;
            (
                ChatEvent::Delete,
                d.channel,
                d.conversation,
                user,
                String::new(),
                d.ts,
                None,
            )
        }
        SlackEvent::Ignored(why) => return Err(why),
    };
    Ok(ChatReceived {
        channel: NAME.to_owned(),
        update_id: event_id.to_owned(),
        at: ts_to_time(&ts).unwrap_or_else(chrono::Utc::now),
        // A thread's first message has `thread_ts == ts`: it replies to nothing.
        reply_to: thread_ts.filter(|t| *t != ts),
        message_id: ts,
        private: conversation == super::events::Conversation::Im,
        chat_id: channel,
        user_name: user.clone(),
        user_id: user,
        text: plain_text(&text),
        event: event_kind,
        deferred: true,
        answer_via: None,
    })
}

/// `POST /slack/events`.
struct EventsRoute {
    requests: SlackRequests,
    inbox: Inbox,
}

impl RouteHandler for EventsRoute {
    fn handle(&self, request: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        Box::pin(async move {
            let event = match self.requests.event(
                signed_headers(&request),
                &request.body,
                request.now.timestamp(),
            ) {
                Ok(event) => event,
                Err(refused) => {
                    return answer(
                        refused.status(),
                        serde_json::json!({"error": refused.to_string()}),
                    );
                }
            };
            let callback = match event {
                EventsRequest::UrlVerification { challenge } => {
                    return answer(200, serde_json::json!({ "challenge": challenge }));
                }
                EventsRequest::AppRateLimited {
                    minute_rate_limited,
                } => {
                    tracing::warn!(
                        minute_rate_limited,
                        "Slack paused events for a minute (more than 30,000 in an hour)"
                    );
                    return taken();
                }
                EventsRequest::Other { kind } => {
                    tracing::debug!(%kind, "slack envelope ignored");
                    return taken();
                }
                EventsRequest::Callback(callback) => callback,
            };
            let message = match received(&callback.event_id, callback.event) {
                Ok(message) => message,
                Err(why) => {
                    tracing::debug!(event_id = %callback.event_id, %why, "slack event ignored");
                    return taken();
                }
            };
            match self.inbox.send(message).await {
                Ok(Ok(_)) => taken(),
                Ok(Err(e)) => answer(503, serde_json::json!({"error": e.to_string()})),
                Err(e) => answer(503, serde_json::json!({"error": e.to_string()})),
            }
        })
    }
}

/// `POST /slack/commands`.
struct CommandsRoute {
    requests: SlackRequests,
    inbox: Inbox,
}

fn ephemeral(text: &str) -> HttpResponse {
    let json = EphemeralAnswer::new(text).to_json();
    answer(
        200,
        serde_json::from_str(&json).unwrap_or(serde_json::Value::Null),
    )
}

impl RouteHandler for CommandsRoute {
    fn handle(&self, request: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        Box::pin(async move {
            let command = match self.requests.command(
                signed_headers(&request),
                &request.body,
                request.now.timestamp(),
            ) {
                Ok(command) => command,
                Err(refused) => {
                    return answer(
                        refused.status(),
                        serde_json::json!({"error": refused.to_string()}),
                    );
                }
            };
            match take_command(&self.inbox, command, request.now).await {
                None => taken(),
                Some(said) => ephemeral(&said.text),
            }
        })
    }
}

/// Hands a slash command to the app as a deferred message, and says what to answer at once:
/// `None` (taken; the app's answer follows through the `response_url`) or an ephemeral answer
/// (usage, a mistake, busy, or "on its way" when the app did not take it within
/// [`COMMAND_DEADLINE`]; the hand-over then goes on by itself).
pub(super) async fn take_command(
    inbox: &Inbox,
    command: SlashCommand,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<EphemeralAnswer> {
    // The app's command words, shared by every channel.
    let text = match DoneCommand::parse(&command.text) {
        DoneCommand::Help => return Some(EphemeralAnswer::new(USAGE)),
        DoneCommand::Invalid(why) => return Some(EphemeralAnswer::new(why)),
        DoneCommand::Done(text) => format!("/done {text}"),
        DoneCommand::Undo => "/undo".to_owned(),
        DoneCommand::Pause { until } => format!("/pause until {until}"),
        DoneCommand::Resume => "/resume".to_owned(),
        DoneCommand::Link(code) => format!("/start {code}"),
    };
    let message = ChatReceived {
        channel: NAME.to_owned(),
        // Unique per invocation; Slack does not retry commands.
        update_id: format!("command.{}", command.trigger_id),
        message_id: command.trigger_id.clone(),
        chat_id: command.channel_id.clone(),
        // Answered to the person alone, wherever they typed it.
        private: true,
        user_id: command.user_id.clone(),
        user_name: command.user_name.clone(),
        text,
        reply_to: None,
        event: ChatEvent::Message,
        at: now,
        deferred: true,
        answer_via: Some(command.response_url.clone()),
    };
    // The app's answer may take longer than Slack waits (a slow disk): the hand-over goes on by
    // itself, and its answer comes through the response_url.
    let inbox = inbox.clone();
    let handed = tokio::spawn(async move { inbox.send(message).await });
    let busy = || {
        Some(EphemeralAnswer::new(
            "donebot cannot take that right now; please try again in a minute.",
        ))
    };
    match tokio::time::timeout(COMMAND_DEADLINE, handed).await {
        Ok(Ok(Ok(Ok(_)))) => None,
        Ok(Ok(Ok(Err(e)))) => {
            tracing::warn!(error = %e, "slash command not taken");
            busy()
        }
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "slash command not taken");
            busy()
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "slash command hand-over failed");
            busy()
        }
        Err(_) => Some(EphemeralAnswer::new(
            "Got it, working on it: the answer follows here.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_without_a_token_and_errors_name_the_key() {
        assert!(configure(None).unwrap().is_none());
        assert!(
            configure(Some(&serde_json::json!({"bot_token": ""})))
                .unwrap()
                .is_none()
        );
        let err = configure(Some(&serde_json::json!({"bot_token": "xoxb-1-2-abc"}))).unwrap_err();
        assert!(err.starts_with("[slack] signing_secret"), "{err}");
        let err = configure(Some(&serde_json::json!({
            "bot_token": "xoxb-1-2-abc",
            "signing_secret": "8f742231b10e8888abcd99yyyzzz85a5",
            "mode": "socket",
        })))
        .unwrap_err();
        assert!(err.starts_with("[slack] app_token"), "{err}");
        let err = configure(Some(&serde_json::json!({
            "bot_token": "xoxb-1-2-abc",
            "signing_secret": "8f742231b10e8888abcd99yyyzzz85a5",
            "mode": "sockets",
        })))
        .unwrap_err();
        assert!(err.starts_with("[slack] mode"), "{err}");
        let err = configure(Some(&serde_json::json!({"bot_tokn": "x"}))).unwrap_err();
        assert!(err.contains("bot_tokn"), "{err}");
        let ok = configure(Some(&serde_json::json!({
            "bot_token": "xoxb-1-2-abc",
            "signing_secret": "8f742231b10e8888abcd99yyyzzz85a5",
        })))
        .unwrap()
        .unwrap();
        assert!(!format!("{ok:?}").contains("8f742231"), "{ok:?}");
    }

    #[test]
    fn links_mentions_and_channels_read_as_slack_shows_them() {
        for (raw, shown) in [
            (
                "Merged <https://github.com/acme/api/pull/12|PR 12> for <@U0BOB>",
                "Merged PR 12 (https://github.com/acme/api/pull/12) for @U0BOB",
            ),
            (
                "Docs at <https://docs.acme.dev>",
                "Docs at https://docs.acme.dev",
            ),
            (
                "Mailed <mailto:ann@acme.dev|ann@acme.dev>",
                "Mailed ann@acme.dev",
            ),
            (
                "Told <@U0ANN|ann> in <#C024|general>",
                "Told @ann in #general",
            ),
            ("<!here> release is out", "@here release is out"),
            ("<!subteam^S01|@oncall> paged", "@oncall paged"),
            ("Fixed a &lt; b &amp;&amp; c", "Fixed a < b && c"),
            ("Broken <https://x.example", "Broken <https://x.example"),
            (
                "<https://x.example/?a=1&amp;b=2|q &amp; a>",
                "q & a (https://x.example/?a=1&b=2)",
            ),
        ] {
            assert_eq!(plain_text(raw), shown, "{raw}");
        }
    }

    #[test]
    fn text_reads_as_typed() {
        assert_eq!(
            unescape("fixed &lt;b&gt; &amp;amp; tags &amp; more"),
            "fixed <b> &amp; tags & more"
        );
    }
}
