//! donebot's own Discord rate limiter: per-route buckets from the `X-RateLimit-*` headers, the
//! global limit, and the waits a `429` asks for.
//!
//! serenity's `Ratelimiter` cannot be used: with a proxy base it builds requests without the proxy
//! (serenity `src/http/ratelimiting.rs`, `Ratelimiter::perform`, serenity-rs/serenity#1739), so
//! donebot runs serenity's `Http` with the limiter disabled and keeps these buckets itself.
//!
//! Owns: a bucket per route (serenity's `Route::ratelimiting_bucket`, i.e. the path and its major
//! id, and the method), its remaining requests and reset time as Discord last told them; the global
//! gate a global `429` closes; and the pacing of request starts to `global_per_second` (Discord
//! allows 50 a second per bot and does not announce it in headers).
//!
//! Invariants: a request starts only when neither its route bucket is exhausted before its reset,
//! nor the global gate is closed, nor the second's global quota is used; a request reserves one of
//! its bucket's remaining requests when it starts, so concurrent requests on one route never start
//! more than Discord announced. The map of buckets is bounded (expired buckets are forgotten first).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::HeaderMap;
use serenity::http::{LightMethod, RatelimitingBucket};
use tokio::time::Instant;

/// Buckets remembered at most; beyond this the expired ones are dropped (a busy bot has one per
/// DM channel it posted to in the last seconds).
const MAX_BUCKETS: usize = 10_000;

/// One bucket: a route (path and major id) and the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RouteKey {
    bucket: RatelimitingBucket,
    method: u8,
}

impl RouteKey {
    pub(crate) fn new(route: &serenity::http::Route<'_>, method: LightMethod) -> Self {
        let method = match method {
            LightMethod::Get => 0,
            LightMethod::Post => 1,
            LightMethod::Put => 2,
            LightMethod::Patch => 3,
            LightMethod::Delete => 4,
        };
        RouteKey {
            bucket: route.ratelimiting_bucket(),
            method,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    remaining: u32,
    reset_at: Instant,
}

struct State {
    global_until: Option<Instant>,
    window_start: Instant,
    window_count: u32,
    routes: HashMap<RouteKey, Bucket>,
}

pub(crate) struct Limiter {
    per_second: u32,
    state: Mutex<State>,
}

/// What a `429` said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TooMany {
    pub retry_after: Duration,
    pub global: bool,
}

impl Limiter {
    pub(crate) fn new(per_second: u32) -> Self {
        Limiter {
            per_second: per_second.max(1),
            state: Mutex::new(State {
                global_until: None,
                window_start: Instant::now(),
                window_count: 0,
                routes: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere cannot tear it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a request on `key` may start, and reserves it.
    pub(crate) async fn acquire(&self, key: RouteKey) {
        loop {
            let wait_until = {
                let mut s = self.lock();
                let now = Instant::now();
                match self.blocked_until(&mut s, key, now) {
                    Some(until) => until,
                    None => {
                        s.window_count += 1;
                        if let Some(b) = s.routes.get_mut(&key)
                            && b.reset_at > now
                        {
                            b.remaining = b.remaining.saturating_sub(1);
                        }
                        return;
                    }
                }
            };
            // A real delay: Discord's limits (a bucket's reset, a 429's retry_after, the global rate).
            tokio::time::sleep_until(wait_until).await;
        }
    }

    fn blocked_until(&self, s: &mut State, key: RouteKey, now: Instant) -> Option<Instant> {
        if let Some(until) = s.global_until {
            if until > now {
                return Some(until);
            }
            s.global_until = None;
        }
        if let Some(b) = s.routes.get(&key)
            && b.remaining == 0
            && b.reset_at > now
        {
            return Some(b.reset_at);
        }
        if now >= s.window_start + Duration::from_secs(1) {
            s.window_start = now;
            s.window_count = 0;
        }
        if s.window_count >= self.per_second {
            return Some(s.window_start + Duration::from_secs(1));
        }
        None
    }

    /// Records what a response's `X-RateLimit-*` headers say about `key`'s bucket.
    pub(crate) fn update(&self, key: RouteKey, headers: &HeaderMap) {
        let number = |name: &str| -> Option<f64> {
            headers
                .get(name)?
                .to_str()
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let (Some(remaining), Some(reset_after)) = (
            number("x-ratelimit-remaining"),
            number("x-ratelimit-reset-after"),
        ) else {
            return;
        };
        let now = Instant::now();
        let bucket = Bucket {
            remaining: remaining.min(f64::from(u32::MAX)) as u32,
            reset_at: now + seconds(reset_after),
        };
        let mut s = self.lock();
        if s.routes.len() >= MAX_BUCKETS && !s.routes.contains_key(&key) {
            s.routes.retain(|_, b| b.reset_at > now);
            if s.routes.len() >= MAX_BUCKETS {
                // All live: forget one; at worst its next request meets a 429 and waits.
                if let Some(k) = s.routes.keys().next().copied() {
                    s.routes.remove(&k);
                }
            }
        }
        s.routes.insert(key, bucket);
    }

    /// Closes `key`'s bucket, or every route when the limit is global, for `retry_after`.
    pub(crate) fn too_many(&self, key: RouteKey, what: TooMany) {
        let until = Instant::now() + what.retry_after;
        let mut s = self.lock();
        if what.global {
            s.global_until = Some(s.global_until.map_or(until, |g| g.max(until)));
        } else {
            let b = s.routes.entry(key).or_insert(Bucket {
                remaining: 0,
                reset_at: until,
            });
            b.remaining = 0;
            b.reset_at = b.reset_at.max(until);
        }
    }
}

/// Reads a `429`: the JSON body's `retry_after` (seconds, fractional) and `global`, else the
/// `Retry-After` and `X-RateLimit-Global` headers; one second when neither says.
pub(crate) fn parse_429(headers: &HeaderMap, body: &[u8]) -> TooMany {
    #[derive(serde::Deserialize)]
    struct Body {
        retry_after: Option<f64>,
        #[serde(default)]
        global: bool,
    }
    let body: Option<Body> = serde_json::from_slice(body).ok();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry_after = body
        .as_ref()
        .and_then(|b| b.retry_after)
        .or_else(|| header("retry-after").and_then(|v| v.trim().parse::<f64>().ok()))
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(1.0);
    let global = body.as_ref().is_some_and(|b| b.global)
        || header("x-ratelimit-global").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || header("x-ratelimit-scope").is_some_and(|v| v.eq_ignore_ascii_case("global"));
    TooMany {
        retry_after: seconds(retry_after),
        global,
    }
}

/// Seconds as Discord writes them, capped at a day (a larger value is a broken answer).
fn seconds(value: f64) -> Duration {
    Duration::from_secs_f64(value.clamp(0.0, 86_400.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serenity::model::id::ChannelId;

    fn key(channel: u64) -> RouteKey {
        RouteKey::new(
            &serenity::http::Route::ChannelMessages {
                channel_id: ChannelId::new(channel),
            },
            LightMethod::Post,
        )
    }

    #[test]
    fn a_429_is_read_from_the_body_then_the_headers() {
        let mut headers = HeaderMap::new();
        let got = parse_429(
            &headers,
            br#"{"message": "You are being rate limited.", "retry_after": 1.5, "global": true}"#,
        );
        assert_eq!(got.retry_after, Duration::from_millis(1500));
        assert!(got.global);
        headers.insert("retry-after", HeaderValue::from_static("3"));
        headers.insert("x-ratelimit-scope", HeaderValue::from_static("user"));
        let got = parse_429(&headers, b"<html>cloudflare</html>");
        assert_eq!(
            got,
            TooMany {
                retry_after: Duration::from_secs(3),
                global: false
            }
        );
        let got = parse_429(&HeaderMap::new(), br#"{"retry_after": -4}"#);
        assert_eq!(got.retry_after, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_exhausted_bucket_waits_for_its_reset_and_others_do_not() {
        let limiter = Limiter::new(50);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-ratelimit-reset-after", HeaderValue::from_static("2.5"));
        limiter.update(key(1), &headers);
        let start = Instant::now();
        limiter.acquire(key(2)).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire(key(1)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(2500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_global_429_holds_every_route_and_the_rate_is_paced() {
        let limiter = Limiter::new(2);
        limiter.too_many(
            key(1),
            TooMany {
                retry_after: Duration::from_secs(1),
                global: true,
            },
        );
        let start = Instant::now();
        limiter.acquire(key(2)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        limiter.acquire(key(3)).await;
        // The second's quota of 2 is used: the third start waits for the next second.
        limiter.acquire(key(4)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
