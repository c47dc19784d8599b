//! The slack-morphism client, the Web API calls donebot makes, and what their errors mean.
//!
//! Owns: building the client for a validated config (a hyper-rustls connector that also speaks
//! plain `http://`, so tests reach the fake on 127.0.0.1: slack-morphism's own `new()` is
//! HTTPS-only), the calls (`chat.postMessage`, `conversations.open`, `chat.postEphemeral`, the
//! `response_url` of a slash command, `users.lookupByEmail`, `users.info`, `auth.test`), the retry of
//! each call (transient failures with backoff; `429 Retry-After` honoured per method, and per channel
//! for `chat.postMessage`, whose limit is per channel) and the sorting of every failure into a
//! [`SlackApiError`]. It is not the message layout ([`super::blocks`]) nor the per-key delivery
//! ([`super::send`]).
//!
//! Invariant: a call is retried only when Slack cannot have acted on it (a 429, a 5xx, a timeout or
//! a dropped connection; Slack has no idempotency key, so a post that timed out after Slack took it
//! may appear twice, at most `max_attempts` times); an `ok:false` answer is never retried except
//! `ratelimited`; the rate-limit wait per call is bounded by `rate_limit_patience`, beyond which the
//! caller gets `Transient` with Slack's `retry_after` to reschedule by.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::time::Instant;

use super::blocks::SlackPost;
use super::config::{SlackConfigError, SlackTuning, ValidConfig};

/// What a failed Web API call means for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackApiError {
    /// Retrying later can help: a 429 (with Slack's `Retry-After`), a 5xx, a timeout, a dropped
    /// connection, `internal_error`, `service_unavailable`.
    #[error("temporary failure: {reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The member's or team's link cannot work any more: `channel_not_found`, `not_in_channel`,
    /// `is_archived`, `account_inactive`, `user_not_found`, `user_disabled`, `cannot_dm_bot`.
    /// Mark the link broken and use another channel.
    #[error("the Slack link is broken: {0}")]
    Broken(String),
    /// Never retry: bad token or scopes, a message Slack refuses (`msg_too_long`, `invalid_blocks`).
    #[error("rejected by Slack: {0}")]
    Permanent(String),
}

impl SlackApiError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SlackApiError::Transient { .. })
    }

    /// How long Slack asked to wait, for a rate limit.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SlackApiError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn transient(reason: impl Into<String>) -> Self {
        SlackApiError::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// `ok:false` errors that mean the destination is gone for this bot.
const BROKEN: [&str; 9] = [
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "account_inactive",
    "user_not_found",
    "users_not_found",
    "user_disabled",
    "cannot_dm_bot",
    "messages_tab_disabled",
];
/// `ok:false` errors that are Slack's own trouble.
const TRANSIENT: [&str; 5] = [
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// Sorts a slack-morphism error.
pub fn classify(error: &SlackClientError) -> SlackApiError {
    match error {
        SlackClientError::ApiError(api) => classify_code(&api.code),
        SlackClientError::RateLimitError(limit) => SlackApiError::Transient {
            reason: "rate limited (429)".into(),
            retry_after: limit.retry_after,
        },
        SlackClientError::HttpError(http) => {
            let status = http.status_code.as_u16();
            if status >= 500 || status == 408 {
                SlackApiError::transient(format!("HTTP {status}"))
            } else {
                SlackApiError::Permanent(format!("HTTP {status}"))
            }
        }
        SlackClientError::HttpProtocolError(e) => SlackApiError::transient(format!("network: {e}")),
        SlackClientError::EndOfStream(e) => SlackApiError::transient(e.to_string()),
        SlackClientError::ProtocolError(e) => SlackApiError::transient(format!(
            "unreadable answer from Slack: {:.160}",
            e.json_error
        )),
        SlackClientError::SocketModeProtocolError(e) => SlackApiError::transient(e.to_string()),
        SlackClientError::SystemError(e) => SlackApiError::Permanent(e.to_string()),
    }
}

/// Sorts an `ok:false` error code.
pub fn classify_code(code: &str) -> SlackApiError {
    if TRANSIENT.contains(&code) {
        SlackApiError::transient(code)
    } else if BROKEN.contains(&code) {
        SlackApiError::Broken(code.to_owned())
    } else {
        SlackApiError::Permanent(code.to_owned())
    }
}

/// A Slack user as donebot needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackUser {
    pub id: String,
    /// Display name, else real name, else handle.
    pub name: String,
    pub email: Option<String>,
    /// IANA zone (`Europe/Berlin`), offered as the member's zone.
    pub tz: Option<String>,
    pub deleted: bool,
    pub is_bot: bool,
}

impl From<&slack_morphism::prelude::SlackUser> for SlackUser {
    fn from(user: &slack_morphism::prelude::SlackUser) -> Self {
        let profile = user.profile.as_ref();
        let non_empty = |s: Option<&String>| s.filter(|s| !s.trim().is_empty()).cloned();
        let name = non_empty(profile.and_then(|p| p.display_name.as_ref()))
            .or_else(|| non_empty(user.real_name.as_ref()))
            .or_else(|| non_empty(profile.and_then(|p| p.real_name.as_ref())))
            .or_else(|| non_empty(user.name.as_ref()))
            .unwrap_or_else(|| user.id.0.clone());
        SlackUser {
            id: user.id.0.clone(),
            name,
            email: profile.and_then(|p| p.email.as_ref()).map(|e| e.0.clone()),
            tz: user.tz.clone().filter(|tz| !tz.is_empty()),
            deleted: user.deleted.unwrap_or(false),
            is_bot: user.flags.is_bot.unwrap_or(false),
        }
    }
}

/// Who the bot is (`auth.test`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub user_id: String,
    pub team_id: String,
    pub bot_id: Option<String>,
}

/// A message Slack accepted: where it is and its `ts` (its id, and the thread to reply in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub channel: String,
    pub ts: String,
}

/// The Web API client with donebot's retry policy. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackHyperClient>,
    token: SlackApiToken,
    tuning: SlackTuning,
    /// `429` gates: until when a method (or `chat.postMessage:<channel>`) must not be called.
    gates: Arc<Mutex<HashMap<String, Instant>>>,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi").finish_non_exhaustive()
    }
}

impl SlackApi {
    pub(crate) fn new(config: &ValidConfig) -> Result<Self, SlackConfigError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| SlackConfigError {
                key: "api_url",
                problem: format!("cannot set up TLS: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .build();
        let connector =
            SlackClientHyperConnector::with_connector(https).with_slack_api_url(&config.api_url);
        Ok(SlackApi {
            client: Arc::new(SlackClient::new(connector)),
            token: SlackApiToken::new(SlackApiTokenValue(config.bot_token.clone())),
            tuning: config.tuning.clone(),
            gates: Arc::default(),
        })
    }

    /// `auth.test`: the bot's own user id (to recognise its messages) and workspace.
    pub async fn auth_test(&self) -> Result<BotIdentity, SlackApiError> {
        let session = self.client.open_session(&self.token);
        let me = self.call("auth.test", || session.auth_test()).await?;
        Ok(BotIdentity {
            user_id: me.user_id.0,
            team_id: me.team_id.0,
            bot_id: me.bot_id.map(|b| b.0),
        })
    }

    /// `apps.connections.open` with the app-level token: a Socket Mode WebSocket URL (single use).
    pub async fn open_socket(&self, app_token: &str) -> Result<String, SlackApiError> {
        let token = SlackApiToken::new(SlackApiTokenValue(app_token.to_owned()));
        let session = self.client.open_session(&token);
        let request = SlackApiAppsConnectionOpenRequest::new();
        let opened = self
            .call("apps.connections.open", || {
                session.apps_connections_open(&request)
            })
            .await?;
        Ok(opened.url.0.to_string())
    }

    /// `conversations.open`: the DM channel (`D...`) with a user.
    pub async fn open_dm(&self, user_id: &str) -> Result<String, SlackApiError> {
        let session = self.client.open_session(&self.token);
        let request =
            SlackApiConversationsOpenRequest::new().with_users(vec![SlackUserId(user_id.into())]);
        let opened = self
            .call("conversations.open", || {
                session.conversations_open(&request)
            })
            .await?;
        Ok(opened.channel.id.0)
    }

    /// `chat.postMessage` of one rendered post, in `thread_ts`'s thread when given.
    pub async fn post_message(
        &self,
        channel: &str,
        post: &SlackPost,
        thread_ts: Option<&str>,
    ) -> Result<PostedMessage, SlackApiError> {
        let session = self.client.open_session(&self.token);
        let mut content = SlackMessageContent::new().with_text(post.text.clone());
        if !post.blocks.is_empty() {
            content = content.with_blocks(post.blocks.clone());
        }
        let mut request =
            SlackApiChatPostMessageRequest::new(SlackChannelId(channel.into()), content)
                .with_unfurl_links(false)
                .with_unfurl_media(false);
        if let Some(ts) = thread_ts {
            request = request.with_thread_ts(SlackTs(ts.into()));
        }
        let gate = format!("chat.postMessage:{channel}");
        let posted = self
            .call(&gate, || session.chat_post_message(&request))
            .await?;
        Ok(PostedMessage {
            channel: posted.channel.0,
            ts: posted.ts.0,
        })
    }

    /// `chat.postEphemeral`: a message in `channel` only `user` sees.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user_id: &str,
        text: &str,
    ) -> Result<(), SlackApiError> {
        let session = self.client.open_session(&self.token);
        let request = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId(channel.into()),
            SlackUserId(user_id.into()),
            SlackMessageContent::new().with_text(text.to_owned()),
        );
        self.call("chat.postEphemeral", || {
            session.chat_post_ephemeral(&request)
        })
        .await?;
        Ok(())
    }

    /// A later answer to a slash command through its `response_url` (ephemeral: Slack's default
    /// `response_type` there).
    pub async fn respond(&self, response_url: &str, text: &str) -> Result<(), SlackApiError> {
        let url = url::Url::parse(response_url)
            .map_err(|e| SlackApiError::Permanent(format!("response_url is not a URL: {e}")))?;
        let request = SlackApiPostWebhookMessageRequest::new(
            SlackMessageContent::new().with_text(text.to_owned()),
        );
        self.call("response_url", || {
            self.client.post_webhook_message(&url, &request)
        })
        .await?;
        Ok(())
    }

    /// `users.lookupByEmail`: `None` when no one in the workspace has that address.
    pub async fn lookup_by_email(&self, email: &str) -> Result<Option<SlackUser>, SlackApiError> {
        let session = self.client.open_session(&self.token);
        let request = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.into()));
        match self
            .call("users.lookupByEmail", || {
                session.users_lookup_by_email(&request)
            })
            .await
        {
            Ok(found) => Ok(Some(SlackUser::from(&found.user))),
            Err(SlackApiError::Broken(code)) if code == "users_not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `users.info`: name, `tz` (the zone offered to the member) and whether they left.
    pub async fn user_info(&self, user_id: &str) -> Result<SlackUser, SlackApiError> {
        let session = self.client.open_session(&self.token);
        let request = SlackApiUsersInfoRequest::new(SlackUserId(user_id.into()));
        let info = self
            .call("users.info", || session.users_info(&request))
            .await?;
        Ok(SlackUser::from(&info.user))
    }

    /// Runs one call with the retry policy of the module doc; `gate` names its rate-limit bucket.
    async fn call<T, F, Fut>(&self, gate: &str, mut request: F) -> Result<T, SlackApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SlackClientError>>,
    {
        let mut attempt: u32 = 1;
        let mut rate_waited = Duration::ZERO;
        loop {
            self.pass_gate(gate).await;
            let error = match tokio::time::timeout(self.tuning.request_timeout, request()).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(e)) => classify(&e),
                Err(_) => SlackApiError::transient(format!(
                    "no answer within {} s",
                    self.tuning.request_timeout.as_secs_f32()
                )),
            };
            match error {
                SlackApiError::Transient {
                    retry_after: Some(wait),
                    reason,
                } => {
                    if rate_waited + wait > self.tuning.rate_limit_patience {
                        return Err(SlackApiError::Transient {
                            reason: format!(
                                "{reason}: Slack asks to wait {} s, beyond the patience of {} s",
                                wait.as_secs(),
                                self.tuning.rate_limit_patience.as_secs()
                            ),
                            retry_after: Some(wait),
                        });
                    }
                    tracing::info!(gate, retry_after = wait.as_secs(), "slack rate limit");
                    rate_waited += wait;
                    self.close_gate(gate, wait);
                }
                SlackApiError::Transient { reason, .. } => {
                    if attempt >= self.tuning.max_attempts {
                        return Err(SlackApiError::transient(format!(
                            "{reason} (after {attempt} attempts)"
                        )));
                    }
                    tracing::debug!(gate, attempt, %reason, "slack call failed, retrying");
                    // A real delay: backoff before retrying a transient failure of the Web API.
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                }
                final_error => return Err(final_error),
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.tuning
            .backoff
            .saturating_mul(factor)
            .min(self.tuning.max_backoff)
    }

    fn gates(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // The map is consistent between statements; a panic elsewhere cannot tear it.
        self.gates.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn pass_gate(&self, gate: &str) {
        let until = self.gates().get(gate).copied();
        if let Some(until) = until.filter(|u| *u > Instant::now()) {
            // A real delay: Slack answered 429 with Retry-After for this method (or channel).
            tokio::time::sleep_until(until).await;
        }
    }

    fn close_gate(&self, gate: &str, wait: Duration) {
        let now = Instant::now();
        let until = now + wait;
        let mut gates = self.gates();
        gates.retain(|_, t| *t > now);
        let entry = gates.entry(gate.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_false_codes_are_sorted() {
        for code in [
            "channel_not_found",
            "not_in_channel",
            "account_inactive",
            "user_not_found",
            "is_archived",
        ] {
            assert_eq!(
                classify_code(code),
                SlackApiError::Broken(code.into()),
                "{code}"
            );
        }
        for code in ["ratelimited", "internal_error", "service_unavailable"] {
            assert!(classify_code(code).is_transient(), "{code}");
        }
        for code in [
            "invalid_auth",
            "not_authed",
            "missing_scope",
            "msg_too_long",
            "invalid_blocks",
            "something_new",
        ] {
            assert_eq!(
                classify_code(code),
                SlackApiError::Permanent(code.into()),
                "{code}"
            );
        }
    }

    #[test]
    fn a_429_carries_its_retry_after() {
        let e = SlackClientError::RateLimitError(
            slack_morphism::errors::SlackRateLimitError::new()
                .with_retry_after(Duration::from_secs(7)),
        );
        let sorted = classify(&e);
        assert!(sorted.is_transient());
        assert_eq!(sorted.retry_after(), Some(Duration::from_secs(7)));
        let e = SlackClientError::HttpError(slack_morphism::errors::SlackClientHttpError::new(
            http::StatusCode::BAD_GATEWAY,
        ));
        assert!(classify(&e).is_transient());
        let e = SlackClientError::HttpError(slack_morphism::errors::SlackClientHttpError::new(
            http::StatusCode::NOT_FOUND,
        ));
        assert!(matches!(classify(&e), SlackApiError::Permanent(_)));
    }
}
