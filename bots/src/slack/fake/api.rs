//! The fake's Web API: the workspace behind the methods donebot uses, and their answers.
//!
//! Owns: users, channels and DMs; `auth.test`, `conversations.open`, `chat.postMessage` (where a
//! message lands, Block Kit limits: at most 50 blocks, section text at most 3000 characters, text
//! at most 40,000), `chat.postEphemeral`, `users.info`, `users.lookupByEmail`, the `response_url`
//! of slash commands (at most 5 answers each); the record of what was posted; queued faults.
//!
//! Invariant: every answer is what Slack sends: HTTP 200 with `{"ok": true, ...}` or `{"ok":
//! false, "error": "<code>"}`, or HTTP 429 with `Retry-After`; the lock on the state is never held
//! across an `.await` (no method awaits).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::{
    EphemeralMessage, FAKE_BOT_ID, FAKE_BOT_USER_ID, FAKE_TEAM_ID, FakeUser, Fault, PostedMessage,
};

const MAX_BLOCKS: usize = 50;
const MAX_SECTION_TEXT: usize = 3000;
const MAX_TEXT: usize = 40_000;
const MAX_RESPONSES: usize = 5;
/// The first `ts` the fake hands out (2025-11-24 19:00 UTC); each message gets the next second.
const FIRST_TS: i64 = 1_764_010_800;

pub(super) enum Answer {
    /// HTTP status, JSON body, `Retry-After` seconds.
    Json(u16, Value, Option<u32>),
    /// HTTP status, content type, body.
    Text(u16, &'static str, String),
    Drop,
}

impl Answer {
    pub(super) fn ok(mut fields: Value) -> Answer {
        if let Some(object) = fields.as_object_mut() {
            object.insert("ok".into(), json!(true));
        }
        Answer::Json(200, fields, None)
    }

    pub(super) fn error(code: &str) -> Answer {
        Answer::Json(200, json!({"ok": false, "error": code}), None)
    }

    fn fault(fault: &Fault) -> Answer {
        match fault {
            Fault::Error(code) => Answer::error(code),
            Fault::RateLimited { retry_after } => Answer::Json(
                429,
                json!({"ok": false, "error": "ratelimited"}),
                Some(*retry_after),
            ),
            Fault::ServerError(code) => Answer::Text(
                *code,
                "text/html",
                format!(
                    "<html><head><title>{code}</title></head><body><h1>{code} Service Unavailable</h1></body></html>"
                ),
            ),
            Fault::DropConnection => Answer::Drop,
        }
    }
}

struct Channel {
    bot_is_member: bool,
    archived: bool,
}

#[derive(Default)]
struct Inner {
    users: Vec<FakeUser>,
    channels: HashMap<String, Channel>,
    /// DM channel ids opened so far.
    dms: HashSet<String>,
    next_ts: i64,
    faults: HashMap<String, VecDeque<Option<Fault>>>,
    calls: HashMap<String, usize>,
    posted: Vec<PostedMessage>,
    ephemerals: Vec<EphemeralMessage>,
    responses: HashMap<String, usize>,
}

pub(super) struct State {
    pub(super) token: String,
    /// Where `apps.connections.open` sends Socket Mode clients.
    socket_url: String,
    envelopes: std::sync::atomic::AtomicU64,
    inner: Mutex<Inner>,
    pub(super) posted_count: watch::Sender<usize>,
    pub(super) ephemeral_count: watch::Sender<usize>,
}

/// The DM channel id of a user: `D` and the user id's tail.
pub(super) fn dm_id(user_id: &str) -> String {
    format!("D{}", user_id.get(1..).unwrap_or(user_id))
}

/// The parameters of one call, whatever their encoding.
pub(super) struct Params(pub(super) Map<String, Value>);

impl Params {
    fn str(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// A JSON value, given as JSON or as a JSON string (form encoding).
    fn json(&self, key: &str) -> Option<Value> {
        match self.0.get(key)? {
            Value::String(s) => serde_json::from_str(s).ok(),
            Value::Null => None,
            other => Some(other.clone()),
        }
    }
}

impl State {
    pub(super) fn new(token: &str, socket_url: &str) -> State {
        State {
            token: token.to_owned(),
            socket_url: socket_url.to_owned(),
            envelopes: std::sync::atomic::AtomicU64::new(1),
            inner: Mutex::new(Inner {
                next_ts: FIRST_TS,
                ..Inner::default()
            }),
            posted_count: watch::Sender::new(0),
            ephemeral_count: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation leaves the state consistent before it can panic: poisoning carries no news.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn add_user(&self, user: FakeUser) {
        let mut inner = self.lock();
        inner.users.retain(|u| u.id != user.id);
        inner.users.push(user);
    }

    pub(super) fn deactivate(&self, user_id: &str) {
        if let Some(user) = self.lock().users.iter_mut().find(|u| u.id == user_id) {
            user.deleted = true;
        }
    }

    pub(super) fn add_channel(&self, id: &str, _name: &str, bot_is_member: bool) {
        self.lock().channels.insert(
            id.to_owned(),
            Channel {
                bot_is_member,
                archived: false,
            },
        );
    }

    pub(super) fn set_member(&self, id: &str, member: bool) {
        if let Some(c) = self.lock().channels.get_mut(id) {
            c.bot_is_member = member;
        }
    }

    pub(super) fn archive(&self, id: &str) {
        if let Some(c) = self.lock().channels.get_mut(id) {
            c.archived = true;
        }
    }

    pub(super) fn queue_fault(&self, method: &str, passes: usize, times: usize, fault: Fault) {
        let mut inner = self.lock();
        let queue = inner.faults.entry(method.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(None, passes));
        queue.extend(std::iter::repeat_n(Some(fault), times));
    }

    pub(super) fn calls(&self, method: &str) -> usize {
        self.lock().calls.get(method).copied().unwrap_or(0)
    }

    pub(super) fn posted(&self) -> Vec<PostedMessage> {
        self.lock().posted.clone()
    }

    pub(super) fn ephemerals(&self) -> Vec<EphemeralMessage> {
        self.lock().ephemerals.clone()
    }

    /// Counts the call and pops the method's next queued fault.
    fn take_fault(&self, method: &str) -> Option<Fault> {
        let mut inner = self.lock();
        *inner.calls.entry(method.to_owned()).or_default() += 1;
        inner
            .faults
            .get_mut(method)
            .and_then(VecDeque::pop_front)
            .flatten()
    }

    pub(super) fn next_envelope(&self) -> u64 {
        self.envelopes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// One Web API call; `token` is the bearer token (or the `token` parameter).
    pub(super) fn call(&self, method: &str, token: Option<&str>, params: Params) -> Answer {
        if let Some(fault) = self.take_fault(method) {
            return Answer::fault(&fault);
        }
        // The one method called with the app-level token.
        if method == "apps.connections.open" {
            return match token.or(params.str("token")) {
                Some(super::FAKE_APP_TOKEN) => Answer::ok(json!({ "url": self.socket_url })),
                Some(t) if t.starts_with("xoxb-") => Answer::error("not_allowed_token_type"),
                Some(_) => Answer::error("invalid_auth"),
                None => Answer::error("not_authed"),
            };
        }
        match token.or(params.str("token")) {
            None => return Answer::error("not_authed"),
            Some(t) if t != self.token => return Answer::error("invalid_auth"),
            Some(_) => {}
        }
        match method {
            "auth.test" => Answer::ok(json!({"url": "https://donebot-test.slack.com/",
                "team": "donebot test", "user": "donebot", "team_id": FAKE_TEAM_ID,
                "user_id": FAKE_BOT_USER_ID, "bot_id": FAKE_BOT_ID, "is_enterprise_install": false})),
            "conversations.open" => self.conversations_open(&params),
            "chat.postMessage" => self.post_message(&params),
            "chat.postEphemeral" => self.post_ephemeral(&params),
            "users.info" => {
                self.user_answer(params.str("user"), |u, id| u.id == id, "user_not_found")
            }
            "users.lookupByEmail" => self.user_answer(
                params.str("email"),
                |u, email| {
                    u.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(email))
                },
                "users_not_found",
            ),
            _ => Answer::error("unknown_method"),
        }
    }

    /// A POST to a slash command's `response_url` (`/commands/...`).
    pub(super) fn respond(&self, path: &str, params: Params) -> Answer {
        if let Some(fault) = self.take_fault("response_url") {
            return Answer::fault(&fault);
        }
        let mut inner = self.lock();
        let used = inner.responses.entry(path.to_owned()).or_default();
        if *used >= MAX_RESPONSES {
            return Answer::Text(404, "text/html", "used_url".into());
        }
        *used += 1;
        let Some(text) = params.str("text") else {
            return Answer::Text(400, "text/html", "no_text".into());
        };
        inner.ephemerals.push(EphemeralMessage {
            to: path.to_owned(),
            user: None,
            text: text.to_owned(),
        });
        let n = inner.ephemerals.len();
        drop(inner);
        self.ephemeral_count.send_replace(n);
        Answer::Text(200, "text/html", "ok".into())
    }

    fn user_answer(
        &self,
        key: Option<&str>,
        matches: impl Fn(&FakeUser, &str) -> bool,
        not_found: &str,
    ) -> Answer {
        let Some(key) = key else {
            return Answer::error("invalid_arguments");
        };
        match self.lock().users.iter().find(|u| matches(u, key)) {
            Some(user) => Answer::ok(json!({"user": user_json(user)})),
            None => Answer::error(not_found),
        }
    }

    fn conversations_open(&self, p: &Params) -> Answer {
        let users: Vec<String> = match p.0.get("users") {
            Some(Value::String(s)) => s.split(',').map(|u| u.trim().to_owned()).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect(),
            _ => return Answer::error("users_list_not_supplied"),
        };
        let [user_id] = users.as_slice() else {
            return Answer::error("not_enough_users");
        };
        let mut inner = self.lock();
        let Some(user) = inner.users.iter().find(|u| &u.id == user_id) else {
            return Answer::error("user_not_found");
        };
        if user.deleted {
            return Answer::error("user_disabled");
        }
        if user.is_bot {
            return Answer::error("cannot_dm_bot");
        }
        let id = dm_id(user_id);
        let already_open = !inner.dms.insert(id.clone());
        Answer::ok(
            json!({"no_op": already_open, "already_open": already_open, "channel": {"id": id}}),
        )
    }

    /// Where a post to `channel` lands, or the error Slack gives.
    fn destination(inner: &mut Inner, channel: &str) -> Result<String, &'static str> {
        if channel.starts_with('U') || channel.starts_with('W') {
            return match inner.users.iter().find(|u| u.id == channel) {
                Some(u) if u.is_bot => Err("cannot_dm_bot"),
                // Slack accepts a post to a deactivated user's DM: the history still exists.
                Some(_) => {
                    let id = dm_id(channel);
                    inner.dms.insert(id.clone());
                    Ok(id)
                }
                None => Err("channel_not_found"),
            };
        }
        if channel.starts_with('D') {
            return if inner.dms.contains(channel) {
                Ok(channel.to_owned())
            } else {
                Err("channel_not_found")
            };
        }
        match inner.channels.get(channel) {
            None => Err("channel_not_found"),
            Some(c) if c.archived => Err("is_archived"),
            Some(c) if !c.bot_is_member => Err("not_in_channel"),
            Some(_) => Ok(channel.to_owned()),
        }
    }

    fn post_message(&self, p: &Params) -> Answer {
        let Some(channel) = p.str("channel") else {
            return Answer::error("channel_not_found");
        };
        let text = p.str("text").unwrap_or("").to_owned();
        let blocks = p.json("blocks");
        if let Err(code) = check_content(&text, blocks.as_ref()) {
            return Answer::error(code);
        }
        let thread_ts = p.str("thread_ts").map(str::to_owned);
        let mut inner = self.lock();
        let channel = match Self::destination(&mut inner, channel) {
            Ok(c) => c,
            Err(code) => return Answer::error(code),
        };
        let n = inner.next_ts - FIRST_TS;
        let ts = format!("{}.{:06}", inner.next_ts, 100 + n);
        inner.next_ts += 1;
        let mut message = json!({"type": "message", "user": FAKE_BOT_USER_ID, "bot_id": FAKE_BOT_ID,
            "app_id": "A0DONEBOT", "team": FAKE_TEAM_ID, "text": text, "ts": ts});
        if let Some(blocks) = &blocks {
            message["blocks"] = blocks.clone();
        }
        if let Some(thread) = &thread_ts {
            message["thread_ts"] = json!(thread);
            message["parent_user_id"] = json!(FAKE_BOT_USER_ID);
        }
        inner.posted.push(PostedMessage {
            channel: channel.clone(),
            ts: ts.clone(),
            text,
            blocks,
            thread_ts,
        });
        let count = inner.posted.len();
        drop(inner);
        self.posted_count.send_replace(count);
        Answer::ok(json!({"channel": channel, "ts": ts, "message": message}))
    }

    fn post_ephemeral(&self, p: &Params) -> Answer {
        let (Some(channel), Some(user)) = (p.str("channel"), p.str("user")) else {
            return Answer::error("invalid_arguments");
        };
        let text = p.str("text").unwrap_or("").to_owned();
        if let Err(code) = check_content(&text, p.json("blocks").as_ref()) {
            return Answer::error(code);
        }
        let mut inner = self.lock();
        if !inner.users.iter().any(|u| u.id == user) {
            return Answer::error("user_not_found");
        }
        let channel = match Self::destination(&mut inner, channel) {
            Ok(c) => c,
            Err(code) => return Answer::error(code),
        };
        inner.ephemerals.push(EphemeralMessage {
            to: channel,
            user: Some(user.to_owned()),
            text,
        });
        let n = inner.ephemerals.len();
        let ts = format!("{}.{:06}", inner.next_ts, 900_000 + n);
        drop(inner);
        self.ephemeral_count.send_replace(n);
        Answer::ok(json!({"message_ts": ts}))
    }
}

/// Slack's content checks: some text or blocks, within the limits.
fn check_content(text: &str, blocks: Option<&Value>) -> Result<(), &'static str> {
    if text.chars().count() > MAX_TEXT {
        return Err("msg_too_long");
    }
    let Some(blocks) = blocks else {
        return if text.trim().is_empty() {
            Err("no_text")
        } else {
            Ok(())
        };
    };
    let Value::Array(blocks) = blocks else {
        return Err("invalid_blocks_format");
    };
    if blocks.len() > MAX_BLOCKS || (blocks.is_empty() && text.trim().is_empty()) {
        return Err("invalid_blocks");
    }
    for block in blocks {
        match block["type"].as_str() {
            Some("section") => {
                let text = block["text"]["text"].as_str().unwrap_or("");
                let kind = block["text"]["type"].as_str();
                if !matches!(kind, Some("mrkdwn") | Some("plain_text"))
                    || text.is_empty()
                    || text.encode_utf16().count() > MAX_SECTION_TEXT
                {
                    return Err("invalid_blocks");
                }
            }
            Some("divider") | Some("header") | Some("context") => {}
            _ => return Err("invalid_blocks"),
        }
    }
    Ok(())
}

/// `users.info` / `users.lookupByEmail`'s `user` object. `tz_offset` and `tz_label` are left out:
/// the fake has no zone database and donebot reads `tz` only.
fn user_json(u: &FakeUser) -> Value {
    json!({"id": u.id, "team_id": FAKE_TEAM_ID, "name": u.name, "deleted": u.deleted,
        "real_name": u.real_name, "tz": u.tz, "is_admin": false, "is_owner": false,
        "is_bot": u.is_bot, "is_app_user": false, "updated": FIRST_TS,
        "profile": {"real_name": u.real_name, "display_name": u.name, "email": u.email,
            "real_name_normalized": u.real_name, "display_name_normalized": u.name, "team": FAKE_TEAM_ID}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_kit_limits_are_enforced() {
        let section = |t: &str| json!({"type": "section", "text": {"type": "mrkdwn", "text": t}});
        assert_eq!(check_content("", None), Err("no_text"));
        assert_eq!(check_content("hi", None), Ok(()));
        assert_eq!(
            check_content(&"x".repeat(MAX_TEXT + 1), None),
            Err("msg_too_long")
        );
        let ok = Value::Array(vec![section("a"); MAX_BLOCKS]);
        assert_eq!(check_content("", Some(&ok)), Ok(()));
        let many = Value::Array(vec![section("a"); MAX_BLOCKS + 1]);
        assert_eq!(check_content("", Some(&many)), Err("invalid_blocks"));
        let long = Value::Array(vec![section(&"x".repeat(MAX_SECTION_TEXT + 1))]);
        assert_eq!(check_content("", Some(&long)), Err("invalid_blocks"));
        assert_eq!(
            check_content("", Some(&json!({}))),
            Err("invalid_blocks_format")
        );
    }

    #[test]
    fn dm_ids_are_stable() {
        assert_eq!(dm_id("U2147483697"), "D2147483697");
    }
}
