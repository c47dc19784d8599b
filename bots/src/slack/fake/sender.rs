//! The fake's Events API side: Slack POSTing signed events and slash commands to donebot.
//!
//! Owns: the envelopes (`event_callback` with a fresh `event_id`, `url_verification`), message events
//! as Slack shapes them (a DM, a thread reply, `message_changed`, `message_deleted`, a bot's message,
//! a `channel_join`), slash command forms, signing each request exactly like Slack
//! (`X-Slack-Request-Timestamp`, `X-Slack-Signature`), and Slack's delivery rules: an event not
//! answered with a 2xx within the ack timeout (3 s) is retried up to 3 times with
//! `X-Slack-Retry-Num` and `X-Slack-Retry-Reason` (`http_timeout`, `http_error`); a slash command is
//! never retried. It is not the Web API ([`super::api`]).
//!
//! Invariant: a retry carries the same body (same `event_id`) and a fresh signature; the time used
//! for signatures and message `ts` comes from the sender's clock, so a test on a manual clock signs
//! with the time donebot will check against.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::CONTENT_TYPE;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use super::api::dm_id;
use super::{FAKE_BOT_ID, FAKE_BOT_USER_ID, FAKE_SIGNING_SECRET, FAKE_TEAM_ID};
use crate::slack::events::{RETRY_NUM_HEADER, RETRY_REASON_HEADER};
use crate::slack::signing::{SIGNATURE_HEADER, SigningSecret, TIMESTAMP_HEADER};

/// When Slack retries an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Slack gives up on an attempt (and retries) after this long without an answer.
    pub ack_timeout: Duration,
    /// The pause before each retry; Slack's is "immediately, 1 minute, 5 minutes".
    pub delays: Vec<Duration>,
}

impl RetryPolicy {
    /// Slack's own: 3 s to answer, retries after 0 s, 1 min, 5 min.
    pub fn slack() -> Self {
        RetryPolicy {
            ack_timeout: Duration::from_secs(3),
            delays: vec![
                Duration::ZERO,
                Duration::from_secs(60),
                Duration::from_secs(300),
            ],
        }
    }

    /// Slack's ack timeout and three retries without pauses (for tests).
    pub fn immediate() -> Self {
        RetryPolicy {
            ack_timeout: Duration::from_secs(3),
            delays: vec![Duration::ZERO; 3],
        }
    }

    /// One attempt only.
    pub fn once() -> Self {
        RetryPolicy {
            ack_timeout: Duration::from_secs(3),
            delays: Vec::new(),
        }
    }
}

/// One HTTP attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `None` when no answer came within the ack timeout (or the connection failed).
    pub status: Option<u16>,
    pub body: String,
    /// `X-Slack-Retry-Num` sent with it (0 for the first attempt).
    pub retry_num: u32,
}

/// What became of one event or command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: Option<String>,
    /// The message's `ts` for a posted message event (to edit or delete it later).
    pub ts: Option<String>,
    pub attempts: Vec<Attempt>,
    /// The exact body posted (every attempt posts the same).
    pub body: Vec<u8>,
}

impl Delivery {
    /// The last attempt's status.
    pub fn status(&self) -> Option<u16> {
        self.attempts.last().and_then(|a| a.status)
    }

    /// The last attempt's body.
    pub fn answer(&self) -> &str {
        self.attempts.last().map_or("", |a| a.body.as_str())
    }

    /// Whether some attempt was acknowledged with a 2xx.
    pub fn acknowledged(&self) -> bool {
        self.attempts
            .iter()
            .any(|a| a.status.is_some_and(|s| (200..300).contains(&s)))
    }
}

type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Posts signed events to `<base>/slack/events` and commands to `<base>/slack/commands`.
pub struct EventsSender {
    base: String,
    secret: SigningSecret,
    client: Client<HttpConnector, Full<Bytes>>,
    clock: Clock,
    policy: RetryPolicy,
    sequence: AtomicU64,
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl EventsSender {
    /// A sender to donebot at `base` (`http://127.0.0.1:PORT`), signing with
    /// [`FAKE_SIGNING_SECRET`], on the system clock, retrying like Slack without pauses.
    pub fn new(base: &str) -> Self {
        EventsSender {
            base: base.trim_end_matches('/').to_owned(),
            secret: SigningSecret::new(FAKE_SIGNING_SECRET),
            client: Client::builder(TokioExecutor::new()).build_http(),
            clock: Arc::new(system_now),
            policy: RetryPolicy::immediate(),
            sequence: AtomicU64::new(1),
        }
    }

    pub fn with_secret(mut self, secret: &str) -> Self {
        self.secret = SigningSecret::new(secret);
        self
    }

    /// The Unix time in seconds to sign with (donebot's manual clock, in its tests).
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    fn next(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh message `ts` at the clock's time.
    pub fn next_ts(&self) -> String {
        format!("{}.{:06}", (self.clock)(), self.next())
    }

    /// Wraps `event` in an `event_callback` with a fresh `event_id`; returns the id and the body.
    pub fn envelope(&self, event: Value) -> (String, Vec<u8>) {
        let event_id = format!("Ev{:08}FAKE", self.next());
        let body = json!({"token": "deprecated-verification-token", "team_id": FAKE_TEAM_ID,
            "api_app_id": "A0DONEBOT", "event": event, "type": "event_callback",
            "event_id": event_id, "event_time": (self.clock)(),
            "authorizations": [{"enterprise_id": null, "team_id": FAKE_TEAM_ID,
                "user_id": FAKE_BOT_USER_ID, "is_bot": true, "is_enterprise_install": false}],
            "is_ext_shared_channel": false});
        (event_id, body.to_string().into_bytes())
    }

    /// A person writes in their DM with the bot.
    pub async fn dm(&self, user: &str, text: &str) -> Delivery {
        self.message(&dm_id(user), "im", user, text, None).await
    }

    /// A person replies in the thread of `thread_ts` in `channel`.
    pub async fn thread_reply(
        &self,
        channel: &str,
        thread_ts: &str,
        user: &str,
        text: &str,
    ) -> Delivery {
        self.message(channel, channel_type(channel), user, text, Some(thread_ts))
            .await
    }

    /// A person posts a message (`thread_ts` for a thread reply).
    pub async fn message(
        &self,
        channel: &str,
        channel_type: &str,
        user: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Delivery {
        let ts = self.next_ts();
        let mut event = json!({"type": "message", "channel": channel, "channel_type": channel_type,
            "user": user, "text": text, "ts": ts, "event_ts": ts, "team": FAKE_TEAM_ID,
            "client_msg_id": format!("{:08x}-fake", self.next()),
            "blocks": [{"type": "rich_text", "block_id": "b1", "elements": [{"type": "rich_text_section",
                "elements": [{"type": "text", "text": text}]}]}]});
        if let Some(parent) = thread_ts {
            event["thread_ts"] = json!(parent);
            event["parent_user_id"] = json!(FAKE_BOT_USER_ID);
        }
        let mut delivery = self.event(event).await;
        delivery.ts = Some(ts);
        delivery
    }

    /// A person edits their message `ts` from `old` to `new` (`message_changed`).
    pub async fn edit(
        &self,
        channel: &str,
        ts: &str,
        user: &str,
        (old, new): (&str, &str),
        thread_ts: Option<&str>,
    ) -> Delivery {
        let now = self.next_ts();
        let mut message = json!({"type": "message", "user": user, "text": new, "ts": ts,
            "edited": {"user": user, "ts": now}, "team": FAKE_TEAM_ID});
        let mut previous = json!({"type": "message", "user": user, "text": old, "ts": ts,
            "team": FAKE_TEAM_ID});
        if let Some(parent) = thread_ts {
            message["thread_ts"] = json!(parent);
            previous["thread_ts"] = json!(parent);
        }
        self.event(
            json!({"type": "message", "subtype": "message_changed", "hidden": true,
            "channel": channel, "channel_type": channel_type(channel), "ts": now, "event_ts": now,
            "message": message, "previous_message": previous}),
        )
        .await
    }

    /// A person deletes their message `ts` (`message_deleted`).
    pub async fn delete(&self, channel: &str, ts: &str, user: &str, text: &str) -> Delivery {
        let now = self.next_ts();
        self.event(
            json!({"type": "message", "subtype": "message_deleted", "hidden": true,
            "channel": channel, "channel_type": channel_type(channel), "ts": now, "event_ts": now,
            "deleted_ts": ts,
            "previous_message": {"type": "message", "user": user, "text": text, "ts": ts}}),
        )
        .await
    }

    /// A message by another app (`bot_id`, `subtype: bot_message`).
    pub async fn bot_message(&self, channel: &str, text: &str) -> Delivery {
        let ts = self.next_ts();
        self.event(
            json!({"type": "message", "subtype": "bot_message", "channel": channel,
            "channel_type": channel_type(channel), "text": text, "ts": ts, "event_ts": ts,
            "bot_id": "B0OTHERAPP", "username": "other app"}),
        )
        .await
    }

    /// The bot's own message echoed back (Slack sends it to the app too).
    pub async fn own_message(&self, channel: &str, text: &str) -> Delivery {
        let ts = self.next_ts();
        self.event(json!({"type": "message", "channel": channel, "channel_type": channel_type(channel),
            "user": FAKE_BOT_USER_ID, "bot_id": FAKE_BOT_ID, "text": text, "ts": ts, "event_ts": ts}))
            .await
    }

    /// A person joins a channel (`channel_join`).
    pub async fn channel_join(&self, channel: &str, user: &str) -> Delivery {
        let ts = self.next_ts();
        self.event(
            json!({"type": "message", "subtype": "channel_join", "channel": channel,
            "channel_type": channel_type(channel), "user": user,
            "text": format!("<@{user}> has joined the channel"), "ts": ts, "event_ts": ts}),
        )
        .await
    }

    /// Any event, in a fresh envelope, delivered with the retry policy.
    pub async fn event(&self, event: Value) -> Delivery {
        let (event_id, body) = self.envelope(event);
        let mut delivery = self.deliver(body).await;
        delivery.event_id = Some(event_id);
        delivery
    }

    /// The `url_verification` Slack sends when the Request URL is saved.
    pub async fn url_verification(&self, challenge: &str) -> Delivery {
        let body = json!({"token": "deprecated-verification-token", "challenge": challenge,
            "type": "url_verification"});
        self.deliver(body.to_string().into_bytes()).await
    }

    /// Posts `body` to `/slack/events` with the retry policy (the same body each time).
    pub async fn deliver(&self, body: Vec<u8>) -> Delivery {
        let mut attempts = Vec::new();
        let mut reason = "";
        let retries = std::iter::once(None).chain(self.policy.delays.iter().map(Some));
        for (n, delay) in retries.enumerate() {
            if let Some(delay) = delay.filter(|d| !d.is_zero()) {
                // A real delay: Slack's pause before a retry (zero in the tests' policy).
                tokio::time::sleep(*delay).await;
            }
            let retry = (n > 0).then_some((n as u32, reason));
            let attempt = self
                .post("/slack/events", "application/json", &body, retry)
                .await;
            let done = attempt.status.is_some_and(|s| (200..300).contains(&s));
            reason = if attempt.status.is_none() {
                "http_timeout"
            } else {
                "http_error"
            };
            attempts.push(attempt);
            if done {
                break;
            }
        }
        Delivery {
            event_id: None,
            ts: None,
            attempts,
            body,
        }
    }

    /// Sends `body` again as Slack's retry number `num` (a test of deduplication).
    pub async fn retry(&self, delivery: &Delivery, num: u32, reason: &str) -> Attempt {
        self.post(
            "/slack/events",
            "application/json",
            &delivery.body,
            Some((num, reason)),
        )
        .await
    }

    /// A slash command (`/done <text>`), posted once: Slack does not retry commands.
    pub async fn command(
        &self,
        user: &str,
        user_name: &str,
        channel: &str,
        text: &str,
        response_url: &str,
    ) -> Delivery {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", "deprecated-verification-token")
            .append_pair("team_id", FAKE_TEAM_ID)
            .append_pair("team_domain", "donebot-test")
            .append_pair("channel_id", channel)
            .append_pair("channel_name", "directmessage")
            .append_pair("user_id", user)
            .append_pair("user_name", user_name)
            .append_pair("command", "/done")
            .append_pair("text", text)
            .append_pair("api_app_id", "A0DONEBOT")
            .append_pair("is_enterprise_install", "false")
            .append_pair("response_url", response_url)
            .append_pair("trigger_id", &format!("{}.4242.fake", self.next()))
            .finish();
        let body = body.into_bytes();
        let attempt = self
            .post(
                "/slack/commands",
                "application/x-www-form-urlencoded",
                &body,
                None,
            )
            .await;
        Delivery {
            event_id: None,
            ts: None,
            attempts: vec![attempt],
            body,
        }
    }

    /// One signed POST to `path`; `retry` adds Slack's retry headers.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        retry: Option<(u32, &str)>,
    ) -> Attempt {
        let now = (self.clock)();
        let signature = self.secret.sign(now, body);
        self.post_with(
            path,
            content_type,
            body,
            Some(&now.to_string()),
            Some(&signature),
            retry,
        )
        .await
    }

    /// A POST with the given signature headers as they are (forged, stale or missing ones).
    pub async fn post_with(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        timestamp: Option<&str>,
        signature: Option<&str>,
        retry: Option<(u32, &str)>,
    ) -> Attempt {
        let mut request = hyper::Request::post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, content_type)
            .header("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)");
        if let Some(ts) = timestamp {
            request = request.header(TIMESTAMP_HEADER, ts);
        }
        if let Some(sig) = signature {
            request = request.header(SIGNATURE_HEADER, sig);
        }
        if let Some((num, reason)) = retry {
            request = request
                .header(RETRY_NUM_HEADER, num)
                .header(RETRY_REASON_HEADER, reason);
        }
        let retry_num = retry.map_or(0, |(n, _)| n);
        let request = match request.body(Full::new(Bytes::copy_from_slice(body))) {
            Ok(request) => request,
            Err(e) => {
                return Attempt {
                    status: None,
                    body: format!("cannot build the request: {e}"),
                    retry_num,
                };
            }
        };
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, String::from_utf8_lossy(&body).into_owned()))
        };
        match tokio::time::timeout(self.policy.ack_timeout, exchange).await {
            Ok(Ok((status, body))) => Attempt {
                status: Some(status),
                body,
                retry_num,
            },
            Ok(Err(e)) => Attempt {
                status: None,
                body: e,
                retry_num,
            },
            Err(_) => Attempt {
                status: None,
                body: format!("no answer within {:?}", self.policy.ack_timeout),
                retry_num,
            },
        }
    }
}

/// Slack's `channel_type` for a channel id.
fn channel_type(channel: &str) -> &'static str {
    match channel.as_bytes().first() {
        Some(b'D') => "im",
        Some(b'G') => "group",
        _ => "channel",
    }
}
