//! donebot's own Discord rate limiter: per-route buckets from the `X-RateLimit-*` headers, the
//! global limit, and the waits a `429` asks for.
//!
//! serenity's `Ratelimiter` cannot be used: with a proxy base it builds requests without the proxy
//! (serenity `src/http/ratelimiting.rs`, `Ratelimiter::perform`, serenity-rs/serenity#1739), so
//! donebot runs serenity's `Http` with the limiter disabled and keeps these buckets itself.
//!
//! Owns: a bucket per route (serenity's `Route::ratelimiting_bucket`, i.e. the path and its major
//! id, and the method) with the limit, remaining requests and reset time Discord last announced and
//! the requests in flight; the global gate a global `429` closes; and the pacing of request starts
//! to `global_per_second`, evenly spaced (Discord allows 50 a second per bot and does not announce
//! it in headers).
//!
//! Invariants:
//! - A request starts only when its bucket has a remaining request (which it takes), the global
//!   gate is open, and its pacing slot has come.
//! - A bucket not known yet lets one request through (a probe) and holds the others until its
//!   answer says how many may go, as serenity's limiter does; a known bucket that reset lets
//!   through its limit, less what is in flight.
//! - What an answer announces is reduced by the requests still in flight (Discord may or may not
//!   have counted them), so concurrent requests never start more than Discord allows; every
//!   request that started is finished exactly once ([`Limiter::finished`]).
//! - The map of buckets is bounded (idle expired buckets are forgotten first).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::HeaderMap;
use serenity::http::{LightMethod, RatelimitingBucket};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Buckets remembered at most; beyond this the idle expired ones are dropped (a busy bot has one
/// per DM channel it posted to in the last seconds).
const MAX_BUCKETS: usize = 10_000;
/// How long a probe (or a bucket that reset) holds the others without an answer.
const PROBE: Duration = Duration::from_secs(2);

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
    /// `X-RateLimit-Limit`, once an answer said it.
    limit: Option<u32>,
    remaining: u32,
    reset_at: Instant,
    in_flight: u32,
}

impl Bucket {
    fn probe(now: Instant, in_flight: u32) -> Bucket {
        Bucket {
            limit: None,
            remaining: u32::from(in_flight == 0),
            reset_at: now + PROBE,
            in_flight,
        }
    }
}

struct State {
    global_until: Option<Instant>,
    next_slot: Instant,
    routes: HashMap<RouteKey, Bucket>,
}

pub(crate) struct Limiter {
    interval: Duration,
    state: Mutex<State>,
    /// Woken when an answer changed a bucket.
    changed: Notify,
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
            interval: Duration::from_secs(1) / per_second.max(1),
            state: Mutex::new(State {
                global_until: None,
                next_slot: Instant::now(),
                routes: HashMap::new(),
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere cannot tear it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a request on `key` may start, and takes its place; the caller must call
    /// [`Limiter::finished`] once it is over.
    pub(crate) async fn acquire(&self, key: RouteKey) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let until = match self.try_take(key, Instant::now()) {
                Ok(()) => return,
                Err(until) => until,
            };
            // A real delay: Discord's limits (a bucket's reset, a 429's retry_after, the global
            // rate), or an answer that tells more.
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = &mut notified => {}
            }
        }
    }

    fn try_take(&self, key: RouteKey, now: Instant) -> Result<(), Instant> {
        let mut s = self.lock();
        if let Some(until) = s.global_until {
            if until > now {
                return Err(until);
            }
            s.global_until = None;
        }
        if s.routes.len() >= MAX_BUCKETS && !s.routes.contains_key(&key) {
            s.routes.retain(|_, b| b.in_flight > 0 || b.reset_at > now);
        }
        let next_slot = s.next_slot;
        let b = s.routes.entry(key).or_insert_with(|| Bucket::probe(now, 0));
        if b.reset_at <= now {
            *b = match b.limit {
                Some(limit) => Bucket {
                    limit: Some(limit),
                    remaining: limit.saturating_sub(b.in_flight),
                    reset_at: now + PROBE,
                    in_flight: b.in_flight,
                },
                None => Bucket::probe(now, b.in_flight),
            };
        }
        if b.remaining == 0 {
            return Err(b.reset_at);
        }
        if next_slot > now {
            return Err(next_slot);
        }
        b.remaining -= 1;
        b.in_flight += 1;
        s.next_slot = now + self.interval;
        Ok(())
    }

    /// A request on `key` is over: with the answer's headers, or `None` when there was no answer.
    pub(crate) fn finished(&self, key: RouteKey, headers: Option<&HeaderMap>) {
        let now = Instant::now();
        let announced = headers.and_then(announced);
        let mut s = self.lock();
        if let Some(b) = s.routes.get_mut(&key) {
            b.in_flight = b.in_flight.saturating_sub(1);
            match announced {
                Some((limit, remaining, reset_after)) => {
                    b.limit = Some(limit);
                    b.remaining = remaining.saturating_sub(b.in_flight);
                    b.reset_at = now + reset_after;
                }
                // No word on the bucket (an error page, a lost connection): probe again.
                None if b.limit.is_none() => b.reset_at = now,
                None => {}
            }
        }
        drop(s);
        self.changed.notify_waiters();
    }

    /// Closes `key`'s bucket, or every route when the limit is global, for `retry_after`.
    pub(crate) fn too_many(&self, key: RouteKey, what: TooMany) {
        let until = Instant::now() + what.retry_after;
        let mut s = self.lock();
        if what.global {
            s.global_until = Some(s.global_until.map_or(until, |g| g.max(until)));
        } else if let Some(b) = s.routes.get_mut(&key) {
            b.remaining = 0;
            b.reset_at = b.reset_at.max(until);
        }
    }
}

/// `X-RateLimit-Limit`, `-Remaining` and `-Reset-After` of an answer, when all three are there.
fn announced(headers: &HeaderMap) -> Option<(u32, u32, Duration)> {
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
    let count = |v: f64| v.min(f64::from(u32::MAX)) as u32;
    Some((
        count(number("x-ratelimit-limit")?).max(1),
        count(number("x-ratelimit-remaining")?),
        seconds(number("x-ratelimit-reset-after")?),
    ))
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

    fn announce(
        limiter: &Limiter,
        key: RouteKey,
        limit: &'static str,
        remaining: &'static str,
        reset_after: &'static str,
    ) {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", HeaderValue::from_static(limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static(remaining));
        headers.insert(
            "x-ratelimit-reset-after",
            HeaderValue::from_static(reset_after),
        );
        limiter.finished(key, Some(&headers));
    }

    #[tokio::test(start_paused = true)]
    async fn an_exhausted_bucket_waits_for_its_reset_and_others_do_not() {
        let limiter = Limiter::new(1000);
        limiter.acquire(key(1)).await;
        announce(&limiter, key(1), "5", "0", "2.5");
        let start = Instant::now();
        limiter.acquire(key(2)).await;
        assert!(start.elapsed() < Duration::from_millis(10));
        limiter.acquire(key(1)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(2500));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_bucket_lets_one_request_probe_then_what_it_announced() {
        let limiter = std::sync::Arc::new(Limiter::new(1000));
        limiter.acquire(key(1)).await;
        let start = Instant::now();
        let waiting = {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                limiter.acquire(key(1)).await;
                limiter.acquire(key(1)).await;
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "held until the probe's answer");
        // Two left in this bucket: both go at once, as soon as the answer is in.
        announce(&limiter, key(1), "3", "2", "1");
        let at = waiting.await.unwrap();
        assert!(at - start < Duration::from_millis(310), "{:?}", at - start);
    }

    #[tokio::test(start_paused = true)]
    async fn a_global_429_holds_every_route_and_starts_are_paced() {
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
        // Two a second, evenly spaced.
        limiter.acquire(key(3)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
        limiter.acquire(key(4)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
