//! The in-memory chat channel: a second channel behind the seam of [`crate::channel`], for tests of
//! what is common to every channel (commands, digests, the outbox's retries of chat messages).
//!
//! Owns: a [`MemoryHub`], a process-wide named place where a test reads what the channel sent,
//! queues the answers of its next sends (a failure of any [`ChatSendError`] kind) and writes
//! messages as a person would ([`MemoryHub::say`]). The channel is on when `config.toml` has
//! `[memory] hub = "<name>"` and a hub of that name exists in the process. It is not a model of any
//! platform: no rate limits, no rendering beyond keeping the [`Outgoing`] value as it came.
//!
//! Invariant: a key the channel sent is never sent again while the hub lives (as on a real
//! platform's channel, which remembers its keys while it runs); a queued failure is used once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::Deserialize;
use tokio::sync::watch;

use crate::bus::{
    ChatAnswer, ChatEvent, ChatReceiveError, ChatReceived, ChatSendError, ChatSent, Outgoing,
};
use crate::channel::{BoxFuture, ChannelConfig, ChannelSpec, ChatChannel, Inbox};

/// The channel's name.
pub const NAME: &str = "memory";

/// The registry entry of the in-memory channel.
pub const SPEC: ChannelSpec = ChannelSpec {
    name: NAME,
    configure,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    /// The name of the [`MemoryHub`] to use; the channel is off without one.
    hub: Option<String>,
}

fn configure(table: Option<&serde_json::Value>) -> Result<Option<Arc<dyn ChannelConfig>>, String> {
    let t: Table = crate::channel::read_table("memory", table)?;
    match t.hub {
        None => Ok(None),
        Some(name) => match MemoryHub::named(&name) {
            Some(hub) => Ok(Some(Arc::new(MemoryConfig { hub }))),
            None => Err(format!(
                "[memory] hub: no in-memory hub {name:?} exists in this process (it is for tests)"
            )),
        },
    }
}

fn hubs() -> &'static Mutex<HashMap<String, Arc<MemoryHub>>> {
    static HUBS: OnceLock<Mutex<HashMap<String, Arc<MemoryHub>>>> = OnceLock::new();
    HUBS.get_or_init(Mutex::default)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section leaves the state consistent; a panic elsewhere cannot tear it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct HubState {
    sent: Vec<(Outgoing, Vec<String>)>,
    keys: HashSet<String>,
    faults: VecDeque<ChatSendError>,
    inbox: Option<Inbox>,
    next_message: u64,
    next_update: u64,
    attempts: usize,
}

/// What a test sees of the in-memory platform.
pub struct MemoryHub {
    name: String,
    state: Mutex<HubState>,
    sent_count: watch::Sender<usize>,
    connected: watch::Sender<bool>,
}

impl MemoryHub {
    /// Creates (or replaces) the hub `name`; use a name unique to the test.
    pub fn create(name: &str) -> Arc<MemoryHub> {
        let hub = Arc::new(MemoryHub {
            name: name.to_owned(),
            state: Mutex::default(),
            sent_count: watch::channel(0).0,
            connected: watch::channel(false).0,
        });
        lock(hubs()).insert(name.to_owned(), hub.clone());
        hub
    }

    pub fn named(name: &str) -> Option<Arc<MemoryHub>> {
        lock(hubs()).get(name).cloned()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Everything sent so far, in order, with the message ids it got.
    pub fn sent(&self) -> Vec<Outgoing> {
        lock(&self.state)
            .sent
            .iter()
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// How many sends were asked for, failed ones included.
    pub fn attempts(&self) -> usize {
        lock(&self.state).attempts
    }

    /// Waits until at least `n` messages were sent, then returns them all (no timeout: wrap it).
    pub async fn wait_sent(&self, n: usize) -> Vec<Outgoing> {
        let mut rx = self.sent_count.subscribe();
        // The sender lives in `self`: `wait_for` cannot see it closed while we borrow it.
        let _ = rx.wait_for(|count| *count >= n).await;
        self.sent()
    }

    /// The next `times` sends fail with `error`.
    pub fn fail_next(&self, times: usize, error: ChatSendError) {
        lock(&self.state)
            .faults
            .extend(std::iter::repeat_n(error, times));
    }

    /// Waits until a running channel is connected to this hub (no timeout: wrap it).
    pub async fn wait_connected(&self) {
        let mut rx = self.connected.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// `user` writes `text` in `chat`: a private chat when it is the user's own id or starts with
    /// `dm-` (a DM whose id differs from the user's, as on Slack). Answers what the app answered
    /// once the message's effects are durable.
    pub async fn say(
        &self,
        user: &str,
        chat: &str,
        text: &str,
    ) -> Result<ChatAnswer, ChatReceiveError> {
        self.deliver(user, chat, text, ChatEvent::Message, None)
            .await
    }

    /// Delivers one message event; `message_id` is the edited or deleted message's (a new id when
    /// `None`). Returns the app's answer.
    pub async fn deliver(
        &self,
        user: &str,
        chat: &str,
        text: &str,
        event: ChatEvent,
        message_id: Option<String>,
    ) -> Result<ChatAnswer, ChatReceiveError> {
        let (inbox, received) = {
            let mut s = lock(&self.state);
            let Some(inbox) = s.inbox.clone() else {
                return Err(ChatReceiveError::Transient(
                    "no channel is connected to this hub".into(),
                ));
            };
            s.next_update += 1;
            s.next_message += 1;
            let received = ChatReceived {
                channel: NAME.to_owned(),
                update_id: s.next_update.to_string(),
                message_id: message_id.unwrap_or_else(|| format!("in{}", s.next_message)),
                chat_id: chat.to_owned(),
                private: user == chat || chat.starts_with("dm-"),
                user_id: user.to_owned(),
                user_name: user.to_owned(),
                text: text.to_owned(),
                reply_to: None,
                event,
                at: chrono::Utc::now(),
                deferred: false,
                answer_via: None,
            };
            (inbox, received)
        };
        inbox
            .send(received)
            .await
            .map_err(|e| ChatReceiveError::Transient(e.to_string()))?
    }

    fn send(&self, message: Outgoing) -> Result<ChatSent, ChatSendError> {
        let mut s = lock(&self.state);
        s.attempts += 1;
        if let Some(error) = s.faults.pop_front() {
            return Err(error);
        }
        if !s.keys.insert(message.key.clone()) {
            let ids = s
                .sent
                .iter()
                .find(|(m, _)| m.key == message.key)
                .map(|(_, ids)| ids.clone())
                .unwrap_or_default();
            return Ok(ChatSent {
                message_ids: ids,
                chat_id: None,
            });
        }
        s.next_message += 1;
        let ids = vec![format!("out{}", s.next_message)];
        s.sent.push((message, ids.clone()));
        let count = s.sent.len();
        drop(s);
        self.sent_count.send_replace(count);
        Ok(ChatSent {
            message_ids: ids,
            chat_id: None,
        })
    }
}

#[derive(Clone)]
struct MemoryConfig {
    hub: Arc<MemoryHub>,
}

impl std::fmt::Debug for MemoryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryConfig")
            .field("hub", &self.hub.name)
            .finish()
    }
}

impl ChannelConfig for MemoryConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&self, inbox: Inbox) -> Result<Arc<dyn ChatChannel>, String> {
        lock(&self.hub.state).inbox = Some(inbox);
        self.hub.connected.send_replace(true);
        Ok(Arc::new(MemoryChannel {
            hub: self.hub.clone(),
        }))
    }

    fn link_hint(&self, code: &str) -> String {
        format!("On the in-memory channel, say: /start {code}")
    }
}

struct MemoryChannel {
    hub: Arc<MemoryHub>,
}

impl ChatChannel for MemoryChannel {
    fn name(&self) -> &'static str {
        NAME
    }

    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<ChatSent, ChatSendError>> {
        Box::pin(async move { self.hub.send(message) })
    }

    fn deep_link(&self, code: &str) -> BoxFuture<'_, Option<String>> {
        let link = format!("memory://{}/start/{code}", self.hub.name);
        Box::pin(async move { Some(link) })
    }

    fn stop(&self) {
        lock(&self.hub.state).inbox = None;
        self.hub.connected.send_replace(false);
    }
}
