//! The fake's REST API under `/api/v10`: routing, authorization, rate limits, and the answers.
//!
//! Owns: the request handler of the HTTP/1 server ([`crate::fake_http`]): the `Bot` token check,
//! queued faults, the route buckets and the global limit (`X-RateLimit-Limit`, `-Remaining`,
//! `-Reset`, `-Reset-After`, `-Bucket` on every bucketed answer; a `429` with Discord's body,
//! `Retry-After`, `X-RateLimit-Scope` and, when global, `X-RateLimit-Global`), and each
//! endpoint's behaviour and errors (`10003` unknown channel, `50007` closed DMs, `50006` empty
//! message, `50035` content over 2000 characters or more than 10 embeds, `40060` an interaction
//! acknowledged twice, `10015` an unknown webhook token).
//!
//! Invariant: every request is recorded (endpoint, status, time) before it is answered; bodies are
//! bounded ([`MAX_BODY`]).

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::{Endpoint, FAKE_BOT_ID, FAKE_TOKEN, Fault, Inner, Posted, Seen, State, message_json};
use crate::fake_http::Dropped;

/// Request bodies read at most.
const MAX_BODY: usize = 256 * 1024;

pub(super) async fn serve(listener: TcpListener, state: Arc<State>) {
    crate::fake_http::serve(listener, state, handle).await;
}

/// An answer before it is written: status, extra headers, JSON body (`None`: empty).
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Option<Value>,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer {
            status: 200,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    fn no_content() -> Answer {
        Answer {
            status: 204,
            headers: Vec::new(),
            body: None,
        }
    }

    fn error(status: u16, code: u64, message: &str) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Some(json!({"code": code, "message": message})),
        }
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let auth = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                return Ok(write(Answer::error(
                    400,
                    50109,
                    "The request body contains invalid JSON.",
                )));
            }
        }
    };
    let segments: Vec<&str> = path
        .strip_prefix("/api/v10/")
        .unwrap_or("")
        .split('/')
        .collect();
    let route = route(&method, &segments);
    let answer = {
        let mut s = state.lock();
        let answer = match route.clone() {
            None => Answer::error(404, 0, "404: Not Found"),
            Some((endpoint, major)) => {
                let interaction_auth = matches!(endpoint, Endpoint::Callback | Endpoint::FollowUp);
                if !interaction_auth && auth.as_deref() != Some(&format!("Bot {FAKE_TOKEN}")) {
                    Answer::error(401, 0, "401: Unauthorized")
                } else if let Some(i) = s.faults.iter().position(|(e, _)| *e == endpoint) {
                    let (_, fault) = s.faults.remove(i).unwrap_or((endpoint, Fault::Drop));
                    match fault {
                        Fault::Drop => {
                            s.seen.push(Seen {
                                endpoint,
                                status: 0,
                                at: Instant::now(),
                            });
                            drop(s);
                            state.touch();
                            return Err(Dropped);
                        }
                        Fault::RateLimited {
                            retry_after,
                            global,
                        } => too_many(retry_after, global),
                        Fault::Error {
                            status,
                            code,
                            message,
                        } => Answer::error(status, code, &message),
                        Fault::ServerError(status) => Answer {
                            status,
                            headers: vec![("content-type", "text/html".into())],
                            body: None,
                        },
                    }
                } else {
                    match limit(&mut s, &method, endpoint, &major) {
                        Err(answer) => {
                            s.too_many += 1;
                            answer
                        }
                        Ok(headers) => {
                            let mut answer = call(&mut s, endpoint, &segments, &body);
                            answer.headers.extend(headers);
                            answer
                        }
                    }
                }
            }
        };
        if let Some((endpoint, _)) = route {
            s.seen.push(Seen {
                endpoint,
                status: answer.status,
                at: Instant::now(),
            });
        }
        answer
    };
    state.touch();
    Ok(write(answer))
}

fn write(answer: Answer) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        builder = builder.header(*name, value);
    }
    let body = match &answer.body {
        Some(v) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(v.to_string())
        }
        None => Bytes::new(),
    };
    builder
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// `(endpoint, major parameter)` of a request.
fn route(method: &str, s: &[&str]) -> Option<(Endpoint, String)> {
    Some(match (method, s) {
        ("GET", ["gateway"]) | ("GET", ["gateway", "bot"]) => (Endpoint::Gateway, String::new()),
        ("GET", ["users", "@me"]) => (Endpoint::Me, String::new()),
        ("POST", ["users", "@me", "channels"]) => (Endpoint::DmChannels, String::new()),
        ("POST", ["channels", id, "messages"]) => (Endpoint::Messages, (*id).to_owned()),
        ("PUT", ["applications", id, "commands"]) => (Endpoint::Commands, (*id).to_owned()),
        ("POST", ["interactions", _, token, "callback"]) => {
            (Endpoint::Callback, (*token).to_owned())
        }
        ("POST", ["webhooks", _, token])
        | ("PATCH", ["webhooks", _, token, "messages", "@original"]) => {
            (Endpoint::FollowUp, (*token).to_owned())
        }
        _ => return None,
    })
}

fn too_many(retry_after: f64, global: bool) -> Answer {
    let mut headers = vec![
        ("retry-after", format!("{}", retry_after.ceil() as u64)),
        (
            "x-ratelimit-scope",
            if global { "global" } else { "user" }.to_owned(),
        ),
    ];
    if global {
        headers.push(("x-ratelimit-global", "true".to_owned()));
    }
    Answer {
        status: 429,
        headers,
        body: Some(
            json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": global}),
        ),
    }
}

/// Counts the request against the global limit and its route's bucket: the headers to answer
/// with, or the `429`.
fn limit(
    s: &mut Inner,
    method: &str,
    endpoint: Endpoint,
    major: &str,
) -> Result<Vec<(&'static str, String)>, Answer> {
    let now = Instant::now();
    let limits = s.limits;
    // Interaction endpoints are not bound by the global limit.
    let global_bound = !matches!(endpoint, Endpoint::Callback | Endpoint::FollowUp);
    if let (Some(per_second), true) = (limits.global_per_second, global_bound) {
        let (start, count) = &mut s.global;
        if start.is_none_or(|t| now >= t + Duration::from_secs(1)) {
            *start = Some(now);
            *count = 0;
        }
        if *count >= per_second {
            let left =
                (start.unwrap_or(now) + Duration::from_secs(1)).saturating_duration_since(now);
            return Err(too_many(left.as_secs_f64().max(0.001), true));
        }
        *count += 1;
    }
    let route_limit = if endpoint == Endpoint::Messages {
        limits.route_limit
    } else {
        limits.other_limit
    };
    let key = format!("{method} {endpoint:?}:{major}");
    let bucket_hash = format!("{:016x}", fxhash(&format!("{method} {endpoint:?}")));
    let entry = s.buckets.entry(key).or_insert((now, 0));
    if now >= entry.0 + limits.route_window {
        *entry = (now, 0);
    }
    let reset_after = (entry.0 + limits.route_window).saturating_duration_since(now);
    if entry.1 >= route_limit {
        let mut answer = too_many(reset_after.as_secs_f64().max(0.001), false);
        answer
            .headers
            .extend(headers(route_limit, 0, reset_after, &bucket_hash));
        return Err(answer);
    }
    entry.1 += 1;
    Ok(headers(
        route_limit,
        route_limit - entry.1,
        reset_after,
        &bucket_hash,
    ))
}

fn headers(
    limit: u32,
    remaining: u32,
    reset_after: Duration,
    bucket: &str,
) -> Vec<(&'static str, String)> {
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        + reset_after;
    vec![
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", format!("{:.3}", reset.as_secs_f64())),
        (
            "x-ratelimit-reset-after",
            format!("{:.3}", reset_after.as_secs_f64()),
        ),
        ("x-ratelimit-bucket", bucket.to_owned()),
    ]
}

/// A small stable hash for bucket names (FNV-1a).
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn snowflake(s: &str) -> Option<u64> {
    s.parse().ok()
}

fn check_message(body: &Value) -> Result<(), Answer> {
    let content = body["content"].as_str().unwrap_or("");
    let embeds = body["embeds"].as_array().map_or(0, Vec::len);
    if content.chars().count() > 2000 {
        return Err(Answer {
            status: 400,
            headers: Vec::new(),
            body: Some(json!({"code": 50035, "message": "Invalid Form Body",
                "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}})),
        });
    }
    if embeds > 10 {
        return Err(Answer::error(400, 50035, "Invalid Form Body"));
    }
    if content.trim().is_empty() && embeds == 0 {
        return Err(Answer::error(400, 50006, "Cannot send an empty message"));
    }
    Ok(())
}

fn call(s: &mut Inner, endpoint: Endpoint, seg: &[&str], body: &Value) -> Answer {
    match endpoint {
        Endpoint::Gateway => {
            let mut answer = json!({"url": s.gateway_url});
            if seg.len() == 2 {
                answer["shards"] = json!(1);
                answer["session_start_limit"] = json!({"total": 1000, "remaining": 999,
                    "reset_after": 14_400_000, "max_concurrency": 1});
            }
            Answer::ok(answer)
        }
        Endpoint::Me => {
            let me = s
                .users
                .get(&FAKE_BOT_ID)
                .map(|u| u.json())
                .unwrap_or_default();
            Answer::ok(me)
        }
        Endpoint::DmChannels => {
            let Some(user) = body["recipient_id"].as_str().and_then(snowflake) else {
                return Answer::error(400, 50035, "Invalid Form Body");
            };
            let channel = s.dm_channel(user);
            let user = s.user(user);
            Answer::ok(
                json!({"id": channel.to_string(), "type": 1, "last_message_id": null,
                "recipients": [user.json()]}),
            )
        }
        Endpoint::Messages => {
            let Some(channel) = snowflake(seg[1]) else {
                return Answer::error(404, 10003, "Unknown Channel");
            };
            let recipient = s.user_of_dm.get(&channel).copied();
            if recipient.is_none() && !s.guild_channels.contains(&channel) {
                return Answer::error(404, 10003, "Unknown Channel");
            }
            if recipient.is_some_and(|u| s.closed_dms.contains(&u)) {
                return Answer::error(403, 50007, "Cannot send messages to this user");
            }
            if let Err(answer) = check_message(body) {
                return answer;
            }
            let id = s.id();
            let content = body["content"].as_str().unwrap_or("").to_owned();
            let me = s.user(FAKE_BOT_ID);
            let reply_to = body["message_reference"]["message_id"]
                .as_str()
                .and_then(snowflake);
            s.posted.push(Posted {
                id,
                channel_id: channel,
                recipient,
                content: content.clone(),
                body: body.clone(),
                interaction: None,
            });
            Answer::ok(message_json(id, channel, &me, &content, reply_to, None))
        }
        Endpoint::Commands => {
            if seg[1] != FAKE_BOT_ID.to_string() {
                return Answer::error(404, 10002, "Unknown Application");
            }
            let Some(commands) = body.as_array() else {
                return Answer::error(400, 50035, "Invalid Form Body");
            };
            let registered: Vec<Value> = commands
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let mut c = c.clone();
                    c["id"] = json!((1_180_000_000_000_000_500u64 + i as u64).to_string());
                    c["application_id"] = json!(FAKE_BOT_ID.to_string());
                    c["version"] = json!("1");
                    c
                })
                .collect();
            s.commands = Some(Value::Array(registered.clone()));
            Answer::ok(Value::Array(registered))
        }
        Endpoint::Callback => {
            let (Some(id), token) = (snowflake(seg[1]), seg[2]) else {
                return Answer::error(404, 10062, "Unknown interaction");
            };
            let Some(interaction) = s.interactions.get_mut(&id).filter(|i| i.token == token) else {
                return Answer::error(404, 10062, "Unknown interaction");
            };
            if interaction.acked {
                return Answer::error(400, 40060, "Interaction has already been acknowledged.");
            }
            interaction.acked = true;
            s.callbacks.push((id, body.clone()));
            Answer::no_content()
        }
        Endpoint::FollowUp => {
            let token = seg[2];
            let found = s
                .interactions
                .iter()
                .find(|(_, i)| i.token == token && i.acked)
                .map(|(id, i)| (*id, i.user));
            let Some((interaction, user)) = found else {
                return Answer::error(404, 10015, "Unknown Webhook");
            };
            if let Err(answer) = check_message(body) {
                return answer;
            }
            let id = s.id();
            let channel = s.dm_channel(user);
            let content = body["content"].as_str().unwrap_or("").to_owned();
            let me = s.user(FAKE_BOT_ID);
            s.follow_ups.push(Posted {
                id,
                channel_id: channel,
                recipient: Some(user),
                content: content.clone(),
                body: body.clone(),
                interaction: Some(interaction),
            });
            let mut m = message_json(id, channel, &me, &content, None, None);
            m["webhook_id"] = json!(FAKE_BOT_ID.to_string());
            m["flags"] = body["flags"].clone();
            Answer::ok(m)
        }
    }
}
