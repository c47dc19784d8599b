//! Discord's REST API: serenity's routes and request building, executed here so that the
//! rate-limit headers and the bodies of `429`s are read.
//!
//! Why not serenity's `Http` methods: with its rate limiter disabled (it cannot be used with a
//! proxy base, see [`super::ratelimit`]), `Http::request` (serenity `src/http/client.rs`) turns
//! every unsuccessful response into an `ErrorResponse` that keeps neither the headers nor
//! `retry_after`/`global`, and a successful one into a model without its `X-RateLimit-*` headers.
//! So requests are made with serenity's `Request::new(Route, LightMethod).build(...)` (its URLs,
//! its `Bot` authorization, the proxy swap of `https://discord.com`) on the same `reqwest::Client`
//! serenity's `Http` uses, and the answers are parsed into serenity's models here.
//!
//! Owns: one call with its retries: waiting on the limiter, a `429` honoured within the patience,
//! 5xx / timeouts / dropped connections retried with exponential backoff, and Discord's JSON
//! errors read into [`ApiError`] (status and code). It is not the mapping to the bus's errors
//! ([`super::send`]).

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serenity::http::{Http, HttpBuilder, LightMethod, Request, Route};

use super::config::{DiscordTuning, ValidConfig};
use super::ratelimit::{Limiter, RouteKey, parse_429};

/// Error bodies read at most (Discord's are a few hundred bytes).
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Success bodies read at most (a message is a few KB).
const MAX_BODY: usize = 1024 * 1024;

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ApiError {
    /// Discord refused (4xx other than 429): its status, JSON error `code` (0 when absent) and
    /// message.
    #[error("Discord answered {status}: {message} (code {code})")]
    Refused {
        status: u16,
        code: u64,
        message: String,
    },
    /// A `429` beyond the patience: try again after this long.
    #[error("rate limited for {0:?}")]
    RateLimited(Duration),
    /// 5xx, a timeout or a dropped connection, after every attempt.
    #[error("{0}")]
    Transient(String),
    /// The request could not be built or the answer not read (a bug or a broken proxy).
    #[error("{0}")]
    Broken(String),
}

/// Discord's error body: `{"code": 50007, "message": "Cannot send messages to this user"}`.
#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: u64,
    #[serde(default)]
    message: String,
}

pub(crate) struct Rest {
    /// Holds the token (with `Bot `) and the proxy base for `Request::build`.
    http: Arc<Http>,
    client: reqwest::Client,
    limiter: Limiter,
    tuning: DiscordTuning,
}

impl Rest {
    pub(crate) fn new(config: &ValidConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(config.tuning.request_timeout)
            .connect_timeout(config.tuning.request_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Rest {
            http: Arc::new(serenity_http(config, &client)),
            client,
            limiter: Limiter::new(config.tuning.global_per_second),
            tuning: config.tuning.clone(),
        })
    }

    /// A serenity `Http` like this one's, for serenity's gateway client (which owns its own).
    pub(crate) fn gateway_http(&self) -> Http {
        let mut builder = HttpBuilder::new(self.http.token())
            .client(self.client.clone())
            .ratelimiter_disabled(true);
        if let Some(proxy) = &self.http.proxy {
            builder = builder.proxy(proxy.clone());
        }
        builder.build()
    }

    pub(crate) fn tuning(&self) -> &DiscordTuning {
        &self.tuning
    }

    /// One call, with the waits and retries of the module docs; `body` is sent as JSON. A `204` is
    /// read as JSON `null`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        route: Route<'_>,
        method: LightMethod,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let bytes = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ApiError::Broken(e.to_string()))?;
        let key = RouteKey::new(&route, method);
        let mut attempt: u32 = 1;
        let mut rate_waited = Duration::ZERO;
        loop {
            let broken = |e: &dyn std::fmt::Display| {
                ApiError::Broken(format!("cannot build the request: {e}"))
            };
            let request = Request::new(route, method)
                .body(bytes.clone())
                .build(&self.client, self.http.token(), self.http.proxy.as_deref())
                .map_err(|e| broken(&e))?
                .build()
                .map_err(|e| broken(&e))?;
            // Built first: once the limiter let it start, the request is always finished.
            self.limiter.acquire(key).await;
            let failure = match self.client.execute(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    self.limiter.finished(key, Some(response.headers()));
                    if (200..300).contains(&status) {
                        let body = read_body(response, MAX_BODY)
                            .await
                            .map_err(ApiError::Transient)?;
                        let body: &[u8] = if body.is_empty() { b"null" } else { &body };
                        return serde_json::from_slice(body).map_err(|e| {
                            ApiError::Broken(format!("unexpected answer to {}: {e}", route.path()))
                        });
                    }
                    let headers = response.headers().clone();
                    let body = read_body(response, MAX_ERROR_BODY)
                        .await
                        .unwrap_or_default();
                    if status == 429 {
                        let what = parse_429(&headers, &body);
                        self.limiter.too_many(key, what);
                        if rate_waited + what.retry_after > self.tuning.rate_limit_patience {
                            return Err(ApiError::RateLimited(what.retry_after));
                        }
                        tracing::info!(route = %route.path(), retry_after = ?what.retry_after, global = what.global, "discord rate limit");
                        rate_waited += what.retry_after;
                        // The limiter holds the next attempt until Discord's time.
                        continue;
                    }
                    if status < 500 {
                        let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
                        return Err(ApiError::Refused {
                            status,
                            code: parsed.as_ref().map_or(0, |b| b.code),
                            message: parsed.map_or_else(
                                || String::from_utf8_lossy(&body).chars().take(200).collect(),
                                |b| b.message,
                            ),
                        });
                    }
                    format!("Discord answered {status}")
                }
                Err(e) => {
                    self.limiter.finished(key, None);
                    format!("Discord unreachable: {e}")
                }
            };
            if attempt >= self.tuning.max_attempts {
                return Err(ApiError::Transient(format!(
                    "{failure} (after {attempt} attempts)"
                )));
            }
            tracing::debug!(route = %route.path(), attempt, %failure, "discord call failed, retrying");
            // A real delay: backoff before retrying a transient failure.
            tokio::time::sleep(self.backoff(attempt)).await;
            attempt += 1;
        }
    }

    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.tuning
            .backoff
            .saturating_mul(factor)
            .min(self.tuning.max_backoff)
    }
}

/// serenity's `Http` on `client`: the proxy is honoured only with its rate limiter disabled
/// (serenity `src/http/client.rs`, `Http::request`).
fn serenity_http(config: &ValidConfig, client: &reqwest::Client) -> Http {
    HttpBuilder::new(&config.token)
        .client(client.clone())
        .proxy(config.proxy.clone())
        .ratelimiter_disabled(true)
        .build()
}

/// The body, refused beyond `limit` bytes.
async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("answer cut short: {e}"))?
    {
        if body.len() + chunk.len() > limit {
            return Err(format!("answer larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
