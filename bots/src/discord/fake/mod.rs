//! A fake Discord on `127.0.0.1`, for tests of the real client (serenity) and of donebot.
//!
//! Owns: a REST server ([`rest`], on the shared accept loop of [`crate::fake_http`]) answering
//! what donebot calls under `/api/v10` (`GET /gateway`, `GET /gateway/bot`, `GET /users/@me`,
//! `POST /users/@me/channels`, `POST /channels/{id}/messages`, `PUT /applications/{id}/commands`,
//! `POST /interactions/{id}/{token}/callback`, `POST /webhooks/{app}/{token}` and
//! `PATCH .../messages/@original`) with Discord's JSON shapes, error bodies, `X-RateLimit-*`
//! headers on every answer and `429`s when a route bucket or the global limit is exceeded; a
//! WebSocket gateway ([`gateway`]) speaking HELLO / IDENTIFY / READY / heartbeat and ACK /
//! dispatches with sequence numbers / RESUME (replaying what the session missed) / RESUMED; and
//! the controls a test needs: inject a DM, an edit, a deletion or a slash command, drop the
//! connection, stop acknowledging its heartbeats, send op 7 RECONNECT or op 9 INVALID_SESSION,
//! replay dispatches on the next RESUME,
//! queue REST faults, close a member's DMs, and read (or wait for) what was posted.
//!
//! It is not a model of Discord beyond what donebot uses (no guilds, no permissions, no gateway
//! compression: frames are text, which serenity accepts).
//!
//! Invariant: the fake stops when the [`FakeDiscord`] is dropped (both accept loops and every
//! connection are aborted), so a test cannot leak it; every wait is on a notification, never a
//! sleep.

mod gateway;
mod rest;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

/// The token the fake answers to (the shape of a real bot token).
pub const FAKE_TOKEN: &str =
    "MTE4MDAwMDAwMDAwMDAwMDAwMQ.GfAkE0.donebot-fake-discord-token_0123456789";
/// The bot's user id, which is also its application id (as for every bot made since 2016).
pub const FAKE_BOT_ID: u64 = 1180000000000000001;
/// Where the fake's snowflakes start.
const FIRST_ID: u64 = 1180000000000001000;

/// A person (or another bot) on the fake platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    pub id: u64,
    pub name: String,
    pub bot: bool,
}

impl FakeUser {
    pub fn new(id: u64, name: &str) -> Self {
        FakeUser {
            id,
            name: name.to_owned(),
            bot: false,
        }
    }

    pub fn bot(id: u64, name: &str) -> Self {
        FakeUser {
            bot: true,
            ..FakeUser::new(id, name)
        }
    }

    fn json(&self) -> Value {
        json!({"id": self.id.to_string(), "username": self.name.to_ascii_lowercase(),
            "discriminator": "0", "global_name": self.name, "avatar": null, "bot": self.bot})
    }
}

/// The REST routes a fault can be queued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Gateway,
    Me,
    DmChannels,
    Messages,
    Commands,
    Callback,
    FollowUp,
}

/// A failure to answer with, instead of the real answer, the next time an endpoint is called.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// `429` with `retry_after` (seconds) and `global`.
    RateLimited { retry_after: f64, global: bool },
    /// Discord's JSON error: `{"code": code, "message": ...}` with `status`.
    Error {
        status: u16,
        code: u64,
        message: String,
    },
    /// A 5xx without a JSON body (a proxy's page).
    ServerError(u16),
    /// The connection is closed without an answer.
    Drop,
}

/// The fake's rate limits: a bucket per route and major id, and the global limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages per `route_window` in each channel's bucket (Discord: 5 per 5 s per channel).
    pub route_limit: u32,
    pub route_window: Duration,
    /// Requests per `route_window` in the buckets of the other routes (creating DM channels,
    /// registering commands); Discord does not publish these, the fake allows 50 a second.
    pub other_limit: u32,
    /// Requests per second over every bucketed route (Discord: 50); `None`: no global limit.
    pub global_per_second: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            route_limit: 5,
            route_window: Duration::from_secs(5),
            other_limit: 250,
            global_per_second: Some(50),
        }
    }
}

/// A message the bot posted (to a channel or as an interaction follow-up).
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub id: u64,
    pub channel_id: u64,
    /// For a DM: the person it went to.
    pub recipient: Option<u64>,
    pub content: String,
    /// The whole JSON body as sent.
    pub body: Value,
    /// For a follow-up: the interaction it answers.
    pub interaction: Option<u64>,
}

/// One REST request as the fake saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub endpoint: Endpoint,
    pub status: u16,
    pub at: tokio::time::Instant,
}

/// A slash command invocation to inject.
#[derive(Debug, Clone)]
pub struct Slash {
    pub name: String,
    /// String options, `(name, value)`.
    pub options: Vec<(String, String)>,
    /// In a server channel rather than the DM.
    pub in_guild: bool,
}

impl Slash {
    pub fn new(name: &str, options: &[(&str, &str)]) -> Self {
        Slash {
            name: name.to_owned(),
            options: options
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            in_guild: false,
        }
    }
}

/// What the live gateway connection is told to do.
#[derive(Debug)]
enum Control {
    Send(Value),
    Drop,
    Reconnect,
    Invalidate { resumable: bool },
}

#[derive(Default)]
struct Session {
    id: String,
    seq: u64,
    /// Every dispatch of the session, for RESUME.
    log: Vec<(u64, Value)>,
}

/// Gateway counters a test waits on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayStats {
    pub connections: u32,
    pub identifies: u32,
    pub resumes: u32,
    /// RESUMEs answered with op 9 (unknown session).
    pub resumes_refused: u32,
    pub heartbeats: u32,
    pub last_seq_resumed_from: Option<u64>,
}

struct Interaction {
    token: String,
    user: u64,
    acked: bool,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    users: HashMap<u64, FakeUser>,
    dm_of_user: HashMap<u64, u64>,
    user_of_dm: HashMap<u64, u64>,
    guild_channels: HashSet<u64>,
    closed_dms: HashSet<u64>,
    messages: HashMap<u64, (u64, FakeUser, String)>,
    posted: Vec<Posted>,
    follow_ups: Vec<Posted>,
    callbacks: Vec<(u64, Value)>,
    commands: Option<Value>,
    interactions: HashMap<u64, Interaction>,
    faults: VecDeque<(Endpoint, Fault)>,
    seen: Vec<Seen>,
    too_many: u32,
    buckets: HashMap<String, (tokio::time::Instant, u32)>,
    global: (Option<tokio::time::Instant>, u32),
    limits: Limits,
    session: Option<Session>,
    /// Dispatches injected while no session exists: sent after the next READY.
    pending: Vec<(String, Value)>,
    live: Option<(u64, mpsc::UnboundedSender<Control>)>,
    next_connection: u64,
    stats: GatewayStats,
    replay_extra: u64,
    /// The connection whose heartbeats are no longer acknowledged (a zombied connection).
    zombie: Option<u64>,
    heartbeat_interval_ms: u64,
    gateway_url: String,
}

pub(crate) struct State {
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
}

impl State {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The fake's state is consistent between statements; a panicking test cannot tear it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn touch(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

impl Inner {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        FIRST_ID + self.next_id
    }

    fn user(&mut self, id: u64) -> FakeUser {
        self.users
            .entry(id)
            .or_insert_with(|| FakeUser::new(id, &format!("user{id}")))
            .clone()
    }

    fn dm_channel(&mut self, user: u64) -> u64 {
        if let Some(c) = self.dm_of_user.get(&user) {
            return *c;
        }
        let c = self.id();
        self.dm_of_user.insert(user, c);
        self.user_of_dm.insert(c, user);
        c
    }

    /// Sends a dispatch on the session (or keeps it for the next READY when there is none).
    fn dispatch(&mut self, t: &str, d: Value) {
        let Some(session) = self.session.as_mut() else {
            self.pending.push((t.to_owned(), d));
            return;
        };
        session.seq += 1;
        let payload = json!({"op": 0, "s": session.seq, "t": t, "d": d});
        session.log.push((session.seq, payload.clone()));
        if let Some((_, live)) = &self.live {
            let _ = live.send(Control::Send(payload));
        }
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

fn message_json(
    id: u64,
    channel: u64,
    author: &FakeUser,
    content: &str,
    reply_to: Option<u64>,
    edited: Option<&str>,
) -> Value {
    let mut m = json!({
        "id": id.to_string(), "channel_id": channel.to_string(),
        "type": if reply_to.is_some() { 19 } else { 0 },
        "author": author.json(), "content": content, "timestamp": now_rfc3339(),
        "edited_timestamp": edited, "tts": false, "mention_everyone": false, "mentions": [],
        "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "flags": 0,
    });
    if let Some(r) = reply_to {
        m["message_reference"] =
            json!({"message_id": r.to_string(), "channel_id": channel.to_string()});
    }
    m
}

/// A running fake Discord. Dropping it stops it.
pub struct FakeDiscord {
    state: Arc<State>,
    api_url: String,
    tasks: Vec<AbortHandle>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        // Ends the live connection's task too.
        self.state.lock().live = None;
    }
}

impl FakeDiscord {
    /// Starts the REST server and the gateway on two loopback ports, with Discord's limits.
    pub async fn start() -> std::io::Result<FakeDiscord> {
        FakeDiscord::with_limits(Limits::default()).await
    }

    pub async fn with_limits(limits: Limits) -> std::io::Result<FakeDiscord> {
        let rest_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let gateway_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api_url = format!("http://{}/api", rest_listener.local_addr()?);
        let gateway_url = format!("ws://{}", gateway_listener.local_addr()?);
        let mut inner = Inner {
            limits,
            heartbeat_interval_ms: 41_250,
            gateway_url,
            ..Inner::default()
        };
        inner
            .users
            .insert(FAKE_BOT_ID, FakeUser::bot(FAKE_BOT_ID, "donebot"));
        let state = Arc::new(State {
            inner: Mutex::new(inner),
            changed: watch::channel(0).0,
        });
        let tasks = vec![
            tokio::spawn(rest::serve(rest_listener, state.clone())).abort_handle(),
            tokio::spawn(gateway::serve(gateway_listener, state.clone())).abort_handle(),
        ];
        Ok(FakeDiscord {
            state,
            api_url,
            tasks,
        })
    }

    pub fn token(&self) -> &str {
        FAKE_TOKEN
    }

    /// The `api_url` to configure (`http://127.0.0.1:PORT/api`).
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The HELLO's `heartbeat_interval` for the next connections (default 41250 ms).
    pub fn set_heartbeat_interval(&self, interval: Duration) {
        self.state.lock().heartbeat_interval_ms = interval.as_millis().max(1) as u64;
    }

    pub fn set_limits(&self, limits: Limits) {
        self.state.lock().limits = limits;
    }

    /// Adds a person; their DMs to the bot are open.
    pub fn add_user(&self, user: &FakeUser) {
        self.state.lock().users.insert(user.id, user.clone());
    }

    /// A server text channel the bot may post in (a team's digest channel); returns its id.
    pub fn add_channel(&self) -> u64 {
        let mut s = self.state.lock();
        let id = s.id();
        s.guild_channels.insert(id);
        id
    }

    /// The person no longer accepts DMs from the bot: posting there answers `403` code 50007.
    pub fn close_dms(&self, user: u64) {
        self.state.lock().closed_dms.insert(user);
    }

    /// The DM channel with `user` (created as Discord does on first use).
    pub fn dm_channel_of(&self, user: u64) -> u64 {
        self.state.lock().dm_channel(user)
    }

    /// `user` writes `text` to the bot in their DM (`reply_to`: a message it replies to); returns
    /// the message id.
    pub fn dm(&self, user: &FakeUser, text: &str, reply_to: Option<u64>) -> u64 {
        let mut s = self.state.lock();
        s.users.insert(user.id, user.clone());
        let channel = s.dm_channel(user.id);
        let id = s.id();
        s.messages
            .insert(id, (channel, user.clone(), text.to_owned()));
        let m = message_json(id, channel, user, text, reply_to, None);
        s.dispatch("MESSAGE_CREATE", m);
        drop(s);
        self.state.touch();
        id
    }

    /// The author of message `id` changes its text to `text` (MESSAGE_UPDATE).
    pub fn edit(&self, id: u64, text: &str) {
        let mut s = self.state.lock();
        let Some((channel, author, _)) = s.messages.get(&id).cloned() else {
            panic!("no message {id} to edit");
        };
        s.messages
            .insert(id, (channel, author.clone(), text.to_owned()));
        let m = message_json(id, channel, &author, text, None, Some(&now_rfc3339()));
        s.dispatch("MESSAGE_UPDATE", m);
        drop(s);
        self.state.touch();
    }

    /// Message `id` is deleted (MESSAGE_DELETE).
    pub fn delete(&self, id: u64) {
        let mut s = self.state.lock();
        let Some((channel, _, _)) = s.messages.remove(&id) else {
            panic!("no message {id} to delete");
        };
        s.dispatch(
            "MESSAGE_DELETE",
            json!({"id": id.to_string(), "channel_id": channel.to_string()}),
        );
        drop(s);
        self.state.touch();
    }

    /// `user` runs a slash command (INTERACTION_CREATE); returns the interaction id.
    pub fn slash(&self, user: &FakeUser, command: &Slash) -> u64 {
        let mut s = self.state.lock();
        s.users.insert(user.id, user.clone());
        let id = s.id();
        let token = format!("aW50ZXJhY3Rpb24.{id}.fake-token");
        s.interactions.insert(
            id,
            Interaction {
                token: token.clone(),
                user: user.id,
                acked: false,
            },
        );
        let options: Vec<Value> = command
            .options
            .iter()
            .map(|(n, v)| json!({"name": n, "type": 3, "value": v}))
            .collect();
        let mut d = json!({
            "id": id.to_string(), "application_id": FAKE_BOT_ID.to_string(), "type": 2,
            "token": token, "version": 1, "locale": "en-US", "entitlements": [],
            "attachment_size_limit": 10485760, "authorizing_integration_owners": {},
            "data": {"id": "1180000000000000500", "name": command.name, "type": 1, "options": options},
        });
        if command.in_guild {
            let channel = s.guild_channels.iter().next().copied().unwrap_or(FIRST_ID);
            d["channel_id"] = json!(channel.to_string());
            d["guild_id"] = json!("1180000000000000400");
            d["context"] = json!(0);
            d["member"] = json!({"user": user.json(), "roles": [], "joined_at": now_rfc3339(),
                "deaf": false, "mute": false, "flags": 0, "permissions": "0"});
        } else {
            let channel = s.dm_channel(user.id);
            d["channel_id"] = json!(channel.to_string());
            d["context"] = json!(1);
            d["user"] = user.json();
        }
        s.dispatch("INTERACTION_CREATE", d);
        drop(s);
        self.state.touch();
        id
    }

    /// Closes the live gateway connection without a close frame (a network failure).
    pub fn drop_connection(&self) {
        self.control(Control::Drop);
    }

    /// Sends op 7 RECONNECT on the live connection.
    pub fn request_reconnect(&self) {
        self.control(Control::Reconnect);
    }

    /// Sends op 9 INVALID_SESSION; a session that is not resumable is forgotten.
    pub fn invalidate_session(&self, resumable: bool) {
        if !resumable {
            self.state.lock().session = None;
        }
        self.control(Control::Invalidate { resumable });
    }

    /// The live connection stops acknowledging heartbeats (it is "zombied"): the client must give
    /// it up and connect again.
    pub fn stop_acking_heartbeats(&self) {
        let mut s = self.state.lock();
        s.zombie = s.live.as_ref().map(|(id, _)| *id);
    }

    /// The next RESUME replays `n` dispatches before the client's sequence too (as Discord may,
    /// when the client acknowledged less than it handled).
    pub fn replay_extra_on_resume(&self, n: u64) {
        self.state.lock().replay_extra = n;
    }

    fn control(&self, c: Control) {
        let s = self.state.lock();
        if let Some((_, live)) = &s.live {
            let _ = live.send(c);
        }
    }

    /// Answers the next call of `endpoint` with `fault`.
    pub fn fail_next(&self, endpoint: Endpoint, fault: Fault) {
        self.state.lock().faults.push_back((endpoint, fault));
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.state.lock().posted.clone()
    }

    pub fn follow_ups(&self) -> Vec<Posted> {
        self.state.lock().follow_ups.clone()
    }

    /// The bodies of interaction callbacks, with the interaction id.
    pub fn callbacks(&self) -> Vec<(u64, Value)> {
        self.state.lock().callbacks.clone()
    }

    /// The last bulk overwrite of the global commands.
    pub fn commands(&self) -> Option<Value> {
        self.state.lock().commands.clone()
    }

    /// Every REST request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().seen.clone()
    }

    /// `429`s answered because a limit was exceeded (not queued faults).
    pub fn too_many_requests(&self) -> u32 {
        self.state.lock().too_many
    }

    pub fn gateway_stats(&self) -> GatewayStats {
        self.state.lock().stats
    }

    /// Waits until `done` holds for the fake's state (checked after every change).
    pub async fn wait_for(&self, mut done: impl FnMut(&FakeDiscord) -> bool) {
        let mut changed = self.state.changed.subscribe();
        loop {
            if done(self) {
                return;
            }
            if changed.changed().await.is_err() {
                return;
            }
        }
    }

    /// Waits until at least `n` messages were posted, and returns them.
    pub async fn wait_posted(&self, n: usize) -> Vec<Posted> {
        self.wait_for(|f| f.posted().len() >= n).await;
        self.posted()
    }

    pub async fn wait_follow_ups(&self, n: usize) -> Vec<Posted> {
        self.wait_for(|f| f.follow_ups().len() >= n).await;
        self.follow_ups()
    }

    /// Waits until a session is live (after READY or RESUMED) with these counts at least.
    pub async fn wait_gateway(&self, done: impl Fn(&GatewayStats) -> bool) -> GatewayStats {
        self.wait_for(|f| {
            let s = f.state.lock();
            s.live.is_some() && s.session.is_some() && done(&s.stats)
        })
        .await;
        self.gateway_stats()
    }
}
