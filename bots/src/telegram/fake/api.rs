//! The fake's Bot API: the state behind the methods donebot uses, and their answers.
//!
//! Owns: the update queue with offset semantics (an update stays until a `getUpdates` asks with a
//! higher offset; a negative offset keeps only the last ones), `allowed_updates` remembered across
//! calls, long polls held up to `timeout` and woken by a change (a `watch` channel, no sleeping),
//! `409` for a second poller or while a webhook is set, `sendMessage` checks (HTML entities, the
//! 4096-character limit, blocked chats), the record of sent messages, and queued faults.
//!
//! Invariant: every answer is an envelope the real API would send, `{"ok":true,"result":...}` or
//! `{"ok":false,"error_code":N,"description":"...","parameters":{...}}` with the same HTTP status,
//! and the lock on the state is never held across an `.await`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::html::parse_html;
use super::{Fault, IncomingMessage, Injected, SentMessage, WebhookInfo};

const BOT_ID: i64 = 123456789;
/// Telegram's default `allowed_updates`: everything except these.
const NOT_BY_DEFAULT: [&str; 3] = ["chat_member", "message_reaction", "message_reaction_count"];

pub(super) enum Answer {
    Json(u16, Value),
    Html(u16, String),
    Drop,
}

impl Answer {
    pub(super) fn ok(result: Value) -> Answer {
        Answer::Json(200, json!({"ok": true, "result": result}))
    }

    pub(super) fn error(code: u16, description: &str) -> Answer {
        Answer::Json(
            code,
            json!({"ok": false, "error_code": code, "description": description}),
        )
    }

    fn fault(fault: &Fault) -> Answer {
        match fault {
            Fault::RetryAfter(seconds) => Answer::Json(
                429,
                json!({"ok": false, "error_code": 429,
                       "description": format!("Too Many Requests: retry after {seconds}"),
                       "parameters": {"retry_after": seconds}}),
            ),
            Fault::ServerError(500) => Answer::error(500, "Internal Server Error"),
            Fault::ServerError(code) => Answer::Html(
                *code,
                format!(
                    "<html>\r\n<head><title>{code} Bad Gateway</title></head>\r\n<body>\r\n<center><h1>{code} Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
                ),
            ),
            Fault::Blocked => Answer::error(403, "Forbidden: bot was blocked by the user"),
            Fault::BadRequest(description) => {
                Answer::error(400, &format!("Bad Request: {description}"))
            }
            Fault::DropConnection => Answer::Drop,
            Fault::MigrateTo(to) => migrated(*to),
        }
    }
}

/// `400` for a group that became a supergroup, with its new id in `parameters`.
fn migrated(to: i64) -> Answer {
    Answer::Json(
        400,
        json!({"ok": false, "error_code": 400,
               "description": "Bad Request: group chat was upgraded to a supergroup chat",
               "parameters": {"migrate_to_chat_id": to}}),
    )
}

fn too_many(retry_after: u64) -> Answer {
    Answer::Json(
        429,
        json!({"ok": false, "error_code": 429,
               "description": format!("Too Many Requests: retry after {retry_after}"),
               "parameters": {"retry_after": retry_after}}),
    )
}

/// Telegram's documented sending limits, enforced when a test turns them on.
#[derive(Default)]
struct Limits {
    on: bool,
    /// Send times, per chat and overall, within the longest window (a minute).
    per_chat: HashMap<i64, VecDeque<std::time::Instant>>,
    overall: VecDeque<std::time::Instant>,
    refused: usize,
}

impl Limits {
    /// `Some(retry_after)` when a send to `chat` now would break a limit: one a second per chat,
    /// 20 a minute per group, 30 a second overall. Otherwise records the send.
    fn check(&mut self, chat: i64) -> Option<u64> {
        use std::time::{Duration, Instant};
        if !self.on {
            return None;
        }
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let minute = Duration::from_secs(60);
        while self.overall.front().is_some_and(|t| now - *t >= second) {
            self.overall.pop_front();
        }
        let sends = self.per_chat.entry(chat).or_default();
        while sends.front().is_some_and(|t| now - *t >= minute) {
            sends.pop_front();
        }
        let wait = if sends.back().is_some_and(|t| now - *t < second) {
            Some(1)
        } else if chat < 0 && sends.len() >= 20 {
            let oldest = sends.front().copied().unwrap_or(now);
            Some((minute.saturating_sub(now - oldest)).as_secs().max(1))
        } else if self.overall.len() >= 30 {
            Some(1)
        } else {
            None
        };
        match wait {
            Some(w) => {
                self.refused += 1;
                Some(w)
            }
            None => {
                sends.push_back(now);
                self.overall.push_back(now);
                None
            }
        }
    }
}

#[derive(Default)]
struct Inner {
    next_update_id: i64,
    next_message_id: i64,
    /// Unconfirmed updates, in `update_id` order.
    queue: VecDeque<Value>,
    allowed_updates: Option<Vec<String>>,
    webhook: Option<WebhookInfo>,
    /// Bumped by each `getUpdates`; an older long poll seeing a newer one answers 409.
    poll_generation: u64,
    /// Per method: `None` lets a call through, `Some` fails it.
    faults: HashMap<String, VecDeque<Option<Fault>>>,
    calls: HashMap<String, usize>,
    blocked: HashSet<i64>,
    /// Groups that became supergroups: old id → new id.
    migrated: HashMap<i64, i64>,
    limits: Limits,
    sent: Vec<SentMessage>,
    /// Messages by (chat, id), to fill `reply_to_message`.
    messages: HashMap<(i64, i64), Value>,
}

pub(super) struct State {
    pub(super) token: String,
    username: String,
    inner: Mutex<Inner>,
    /// Bumped on any change a long poll may wait for (an update, a newer poll, a webhook).
    pub(super) changes: watch::Sender<u64>,
    pub(super) sent_count: watch::Sender<usize>,
    pub(super) confirmed: watch::Sender<i64>,
    /// Bumped on every call, for tests waiting on a number of calls.
    pub(super) call_count: watch::Sender<u64>,
}

impl State {
    pub(super) fn new(token: &str, username: &str) -> State {
        State {
            token: token.to_owned(),
            username: username.to_owned(),
            inner: Mutex::new(Inner {
                next_update_id: 10_001,
                next_message_id: 1,
                ..Inner::default()
            }),
            changes: watch::Sender::new(0),
            sent_count: watch::Sender::new(0),
            confirmed: watch::Sender::new(0),
            call_count: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation leaves the state consistent before it can panic: poisoning carries no news.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    pub(super) async fn call(&self, method: &str, params: Map<String, Value>) -> Answer {
        let fault = {
            let mut inner = self.lock();
            *inner.calls.entry(method.to_owned()).or_default() += 1;
            inner
                .faults
                .get_mut(method)
                .and_then(VecDeque::pop_front)
                .flatten()
        };
        self.call_count.send_modify(|n| *n += 1);
        if let Some(fault) = fault {
            return Answer::fault(&fault);
        }
        let p = Params(params);
        match method {
            "getme" => Answer::ok(self.bot_user(true)),
            "getupdates" => self.get_updates(&p).await,
            "setwebhook" => self.set_webhook(&p),
            "deletewebhook" => self.delete_webhook(&p),
            "getwebhookinfo" => self.webhook_info(),
            "sendmessage" => self.send_message(&p),
            "setmycommands" | "deletemycommands" => Answer::ok(json!(true)),
            _ => Answer::error(404, "Not Found: method not found"),
        }
    }

    fn bot_user(&self, me: bool) -> Value {
        let mut user = json!({"id": BOT_ID, "is_bot": true, "first_name": "donebot", "username": self.username});
        if me {
            let extra = json!({"can_join_groups": true, "can_read_all_group_messages": false,
                "supports_inline_queries": false, "can_connect_to_business": false, "has_main_web_app": false});
            if let (Some(u), Some(e)) = (user.as_object_mut(), extra.as_object()) {
                u.extend(e.clone());
            }
        }
        user
    }

    async fn get_updates(&self, p: &Params) -> Answer {
        let offset = p.i64("offset");
        let limit = p.i64("limit").unwrap_or(100).clamp(1, 100) as usize;
        let timeout = p.i64("timeout").unwrap_or(0).max(0) as u64;
        let allowed = match p.json("allowed_updates") {
            Some(Value::Array(kinds)) => Some(
                kinds
                    .iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        };
        let generation = {
            let mut inner = self.lock();
            if inner.webhook.is_some() {
                return Answer::error(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
                );
            }
            if let Some(allowed) = allowed {
                inner.allowed_updates = Some(allowed);
            }
            match offset {
                Some(offset) if offset < 0 => {
                    let keep = offset.unsigned_abs() as usize;
                    let excess = inner.queue.len().saturating_sub(keep);
                    inner.queue.drain(..excess);
                }
                Some(offset) => {
                    inner.queue.retain(|u| update_id(u) >= offset);
                    self.confirmed.send_if_modified(|c| {
                        let moved = offset > *c;
                        *c = (*c).max(offset);
                        moved
                    });
                }
                None => {}
            }
            inner.poll_generation += 1;
            inner.poll_generation
        };
        let mut changes = self.changes.subscribe();
        self.changed();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        loop {
            {
                let mut inner = self.lock();
                if inner.poll_generation != generation {
                    return Answer::error(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                    );
                }
                if inner.webhook.is_some() {
                    return Answer::error(
                        409,
                        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
                    );
                }
                let ready = inner.deliverable(limit);
                if !ready.is_empty() || tokio::time::Instant::now() >= deadline {
                    return Answer::ok(Value::Array(ready));
                }
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // Timed out, or the state is going away: answer with what there is.
                Ok(Err(_)) | Err(_) => {
                    return Answer::ok(Value::Array(self.lock().deliverable(limit)));
                }
            }
        }
    }

    fn set_webhook(&self, p: &Params) -> Answer {
        let url = p.str("url").unwrap_or_default();
        if url.is_empty() {
            self.lock().webhook = None;
        } else {
            if !url.starts_with("https://")
                && !url.starts_with("http://127.0.0.1")
                && !url.starts_with("http://localhost")
            {
                return Answer::error(
                    400,
                    "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
                );
            }
            let secret = p.str("secret_token");
            if let Some(s) = &secret {
                let ok = (1..=256).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !ok {
                    return Answer::error(
                        400,
                        "Bad Request: secret token contains unallowed characters",
                    );
                }
            }
            let allowed_updates = match p.json("allowed_updates") {
                Some(Value::Array(kinds)) => Some(
                    kinds
                        .iter()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect::<Vec<String>>(),
                ),
                _ => None,
            };
            let mut inner = self.lock();
            if let Some(kinds) = &allowed_updates {
                inner.allowed_updates = Some(kinds.clone());
            }
            if p.bool("drop_pending_updates") {
                inner.queue.clear();
            }
            inner.webhook = Some(WebhookInfo {
                url,
                secret_token: secret,
                allowed_updates,
            });
        }
        self.changed();
        Answer::ok(json!(true))
    }

    fn delete_webhook(&self, p: &Params) -> Answer {
        {
            let mut inner = self.lock();
            inner.webhook = None;
            if p.bool("drop_pending_updates") {
                inner.queue.clear();
            }
        }
        self.changed();
        Answer::ok(json!(true))
    }

    fn webhook_info(&self) -> Answer {
        let inner = self.lock();
        let url = inner
            .webhook
            .as_ref()
            .map(|w| w.url.clone())
            .unwrap_or_default();
        Answer::ok(
            json!({"url": url, "has_custom_certificate": false, "pending_update_count": inner.queue.len()}),
        )
    }

    fn send_message(&self, p: &Params) -> Answer {
        let Some(chat_id) = p.chat_id() else {
            return Answer::error(400, "Bad Request: chat_id is empty");
        };
        let text = p.str("text").unwrap_or_default();
        let parse_mode = p.str("parse_mode");
        let plain = match parse_mode
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") => text.clone(),
            Some("html") => match parse_html(&text) {
                Ok(plain) => plain,
                Err(e) => {
                    return Answer::error(400, &format!("Bad Request: can't parse entities: {e}"));
                }
            },
            Some(_) => return Answer::error(400, "Bad Request: unsupported parse_mode"),
        };
        if plain.trim().is_empty() {
            return Answer::error(400, "Bad Request: message text is empty");
        }
        if plain.encode_utf16().count() > 4096 {
            return Answer::error(400, "Bad Request: message is too long");
        }
        let reply_to = p
            .json("reply_parameters")
            .and_then(|r| r.get("message_id").and_then(Value::as_i64))
            .or_else(|| p.i64("reply_to_message_id"));
        let numeric_chat = chat_id.parse::<i64>().ok();
        let mut inner = self.lock();
        if numeric_chat.is_some_and(|c| inner.blocked.contains(&c)) {
            return Answer::error(403, "Forbidden: bot was blocked by the user");
        }
        if let Some(to) = numeric_chat.and_then(|c| inner.migrated.get(&c).copied()) {
            return migrated(to);
        }
        if let Some(wait) = numeric_chat.and_then(|c| inner.limits.check(c)) {
            return too_many(wait);
        }
        let message_id = inner.next_message_id;
        inner.next_message_id += 1;
        let chat = numeric_chat.map_or_else(
            || json!({"id": -1001, "type": "channel", "title": chat_id}),
            chat_json,
        );
        let mut message = json!({"message_id": message_id, "from": self.bot_user(false), "chat": chat,
                                 "date": now(), "text": plain});
        if let Some(reply) =
            reply_to.and_then(|r| numeric_chat.and_then(|c| inner.messages.get(&(c, r)).cloned()))
        {
            message["reply_to_message"] = reply;
        }
        if let Some(c) = numeric_chat {
            let mut stored = message.clone();
            if let Some(m) = stored.as_object_mut() {
                m.remove("reply_to_message");
            }
            inner.messages.insert((c, message_id), stored);
        }
        inner.sent.push(SentMessage {
            message_id,
            chat_id,
            text,
            parse_mode,
            reply_markup: p.json("reply_markup"),
            reply_to,
        });
        let count = inner.sent.len();
        drop(inner);
        self.sent_count.send_replace(count);
        Answer::ok(message)
    }

    // ---- test controls ----

    pub(super) fn inject(&self, message: IncomingMessage, edits: Option<i64>) -> Injected {
        let mut inner = self.lock();
        let message_id = edits.unwrap_or_else(|| {
            let id = inner.next_message_id;
            inner.next_message_id += 1;
            id
        });
        let date = message.date.unwrap_or_else(now);
        let mut from = json!({"id": message.from.id, "is_bot": false, "first_name": message.from.first_name, "language_code": "en"});
        if let Some(username) = &message.from.username {
            from["username"] = json!(username);
        }
        let mut chat = chat_json(message.chat_id);
        if message.chat_id > 0 {
            chat["first_name"] = json!(message.from.first_name);
        }
        let mut m = json!({"message_id": message_id, "date": date, "from": from, "chat": chat, "text": message.text});
        if let Some(length) = command_length(&message.text) {
            m["entities"] = json!([{"type": "bot_command", "offset": 0, "length": length}]);
        }
        if let Some(reply_to) = message.reply_to {
            m["reply_to_message"] = inner.messages.get(&(message.chat_id, reply_to)).cloned().unwrap_or_else(|| {
                json!({"message_id": reply_to, "date": date, "chat": chat_json(message.chat_id)})
            });
        }
        let kind = if edits.is_some() {
            m["edit_date"] = json!(now().max(date));
            "edited_message"
        } else {
            let mut stored = m.clone();
            if let Some(s) = stored.as_object_mut() {
                s.remove("reply_to_message");
            }
            inner.messages.insert((message.chat_id, message_id), stored);
            "message"
        };
        let update_id = inner.next_update_id;
        inner.next_update_id += 1;
        let update = json!({"update_id": update_id, kind: m});
        inner.queue.push_back(update.clone());
        drop(inner);
        self.changed();
        Injected {
            update_id,
            message_id,
            update,
        }
    }

    pub(super) fn inject_raw(&self, mut update: Value) -> i64 {
        let mut inner = self.lock();
        let update_id = match update.get("update_id").and_then(Value::as_i64) {
            Some(id) => id,
            None => {
                let id = inner.next_update_id;
                update["update_id"] = json!(id);
                id
            }
        };
        inner.next_update_id = inner.next_update_id.max(update_id + 1);
        inner.queue.push_back(update);
        drop(inner);
        self.changed();
        update_id
    }

    pub(super) fn queue_fault(&self, method: &str, passes: usize, times: usize, fault: Fault) {
        let mut inner = self.lock();
        let queue = inner.faults.entry(method.to_ascii_lowercase()).or_default();
        queue.extend(std::iter::repeat_n(None, passes));
        queue.extend(std::iter::repeat_n(Some(fault), times));
    }

    pub(super) fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    pub(super) fn migrate(&self, from: i64, to: i64) {
        self.lock().migrated.insert(from, to);
    }

    pub(super) fn enforce_limits(&self, on: bool) {
        self.lock().limits.on = on;
    }

    pub(super) fn rate_limited(&self) -> usize {
        self.lock().limits.refused
    }

    pub(super) fn block(&self, chat_id: i64) {
        self.lock().blocked.insert(chat_id);
    }

    pub(super) fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    pub(super) fn calls(&self, method: &str) -> usize {
        self.lock()
            .calls
            .get(&method.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    pub(super) fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    pub(super) fn webhook(&self) -> Option<WebhookInfo> {
        self.lock().webhook.clone()
    }
}

impl Inner {
    /// Up to `limit` queued updates of an allowed kind; updates of other kinds are dropped, as
    /// Telegram does (they are never delivered, so nothing waits for them).
    fn deliverable(&mut self, limit: usize) -> Vec<Value> {
        let allowed = self.allowed_updates.clone();
        self.queue.retain(|u| is_allowed(u, allowed.as_deref()));
        self.queue.iter().take(limit).cloned().collect()
    }
}

fn is_allowed(update: &Value, allowed: Option<&[String]>) -> bool {
    let Some(kind) = update
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "update_id"))
    else {
        return true;
    };
    match allowed {
        Some(list) if !list.is_empty() => list.iter().any(|a| a == kind),
        _ => !NOT_BY_DEFAULT.contains(&kind.as_str()),
    }
}

fn update_id(update: &Value) -> i64 {
    update.get("update_id").and_then(Value::as_i64).unwrap_or(0)
}

fn chat_json(chat_id: i64) -> Value {
    if chat_id > 0 {
        json!({"id": chat_id, "type": "private", "first_name": "Member"})
    } else if chat_id <= -1_000_000_000_000 {
        json!({"id": chat_id, "type": "supergroup", "title": "Team"})
    } else {
        json!({"id": chat_id, "type": "group", "title": "Team"})
    }
}

/// Length of a leading `/command[@bot]`, in UTF-16 units as Telegram counts entity lengths.
fn command_length(text: &str) -> Option<usize> {
    let rest = text.strip_prefix('/')?;
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    (end > 0).then(|| 1 + rest[..end].encode_utf16().count())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Parameters whatever their encoding: JSON values, or strings from a form, query or multipart.
struct Params(Map<String, Value>);

impl Params {
    fn str(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    fn i64(&self, key: &str) -> Option<i64> {
        match self.0.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn bool(&self, key: &str) -> bool {
        matches!(self.0.get(key), Some(Value::Bool(true)))
            || matches!(self.0.get(key), Some(Value::String(s)) if s == "true")
    }

    /// An object or array, given as JSON or as a JSON string (forms, multipart).
    fn json(&self, key: &str) -> Option<Value> {
        match self.0.get(key)? {
            Value::String(s) => serde_json::from_str(s).ok(),
            Value::Null => None,
            other => Some(other.clone()),
        }
    }

    fn chat_id(&self) -> Option<String> {
        self.str("chat_id").filter(|c| !c.is_empty())
    }
}
