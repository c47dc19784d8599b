//! Delivering one message to Slack: find the conversation, render, post each part, once per key.
//!
//! Owns: where a message goes (a user id `U…`/`W…` is a DM, opened with `conversations.open` and
//! remembered; a `C…`/`G…`/`D…` id is posted to as is; `reply_to` puts the first part in that
//! thread), and the per-key progress (which parts already went out, and the final answer). It is
//! not the retry of one call ([`super::client`]) nor the layout ([`super::blocks`]), and it uses
//! only this module's types, so the bus's message types can change without touching it.
//!
//! Invariants:
//! - A part whose post succeeded is recorded before the next one starts, so a retried key resumes
//!   after the last delivered part; a final answer (sent, broken, rejected) is remembered and
//!   returned again for the same key while this value lives. `Transient` is not final.
//! - A message id is `<channel>:<ts>`: a `ts` is unique only within its channel, and a thread
//!   reply names its parent by both.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use super::blocks::{Section, render};
use super::client::{SlackApi, SlackApiError};

/// Keys remembered; the oldest are forgotten beyond this (a day of prompts is ~10k).
const REMEMBERED_KEYS: usize = 100_000;

/// The ids (`<channel>:<ts>`) of the messages posted, or why not.
pub type SendResult = Result<Vec<String>, SlackApiError>;

/// One message to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackOutgoing {
    /// The idempotency key (`prompt:17:slack`): posted once while the channel runs.
    pub key: String,
    /// A user id (`U…`, a DM) or a conversation id (`C…`, `G…`, `D…`).
    pub to: String,
    /// donebot's own text.
    pub text: String,
    /// Members' lines (a digest), escaped and laid out as Block Kit sections.
    pub sections: Vec<Section>,
    /// A message id (`<channel>:<ts>`, or a bare `ts`) whose thread the first part goes to.
    pub reply_to: Option<String>,
}

#[derive(Default)]
struct Progress {
    sent: Vec<String>,
    outcome: Option<SendResult>,
}

#[derive(Default)]
struct Keys {
    entries: HashMap<String, Arc<tokio::sync::Mutex<Progress>>>,
    order: VecDeque<String>,
}

/// `<channel>:<ts>`, the id of a message donebot posted.
pub fn message_id(channel: &str, ts: &str) -> String {
    format!("{channel}:{ts}")
}

/// The `(channel, ts)` of a message id; a bare `ts` has no channel.
pub fn split_message_id(id: &str) -> (Option<&str>, &str) {
    match id.split_once(':') {
        Some((channel, ts)) => (Some(channel), ts),
        None => (None, id),
    }
}

pub(crate) struct Deliverer {
    api: SlackApi,
    keys: Mutex<Keys>,
    /// User id → DM channel id, from `conversations.open`.
    dms: Mutex<HashMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded maps stay consistent between statements; a panic elsewhere cannot tear them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Deliverer {
    pub(crate) fn new(api: SlackApi) -> Self {
        Deliverer {
            api,
            keys: Mutex::default(),
            dms: Mutex::default(),
        }
    }

    pub(crate) fn api(&self) -> &SlackApi {
        &self.api
    }

    /// Sends `send` once per key; see the module invariants.
    pub(crate) async fn deliver(&self, send: &SlackOutgoing) -> SendResult {
        let entry = self.entry(&send.key);
        let mut progress = entry.lock().await;
        if let Some(outcome) = &progress.outcome {
            return outcome.clone();
        }
        let result = self.deliver_parts(send, &mut progress).await;
        if !matches!(result, Err(SlackApiError::Transient { .. })) {
            progress.outcome = Some(result.clone());
        }
        result
    }

    async fn deliver_parts(&self, send: &SlackOutgoing, progress: &mut Progress) -> SendResult {
        let posts = render(&send.text, &send.sections);
        if posts.is_empty() {
            return Err(SlackApiError::Permanent(
                "nothing to send: the message is blank".into(),
            ));
        }
        let channel = self.conversation(&send.to).await?;
        let thread = send.reply_to.as_deref().map(|id| split_message_id(id).1);
        for (i, post) in posts.iter().enumerate().skip(progress.sent.len()) {
            let posted = self
                .api
                .post_message(&channel, post, if i == 0 { thread } else { None })
                .await?;
            tracing::debug!(key = %send.key, part = i, ts = %posted.ts, "slack message posted");
            progress.sent.push(message_id(&posted.channel, &posted.ts));
        }
        Ok(progress.sent.clone())
    }

    /// The channel to post in: a user's DM (opened once), or the id as given.
    async fn conversation(&self, chat_id: &str) -> Result<String, SlackApiError> {
        let is_user = chat_id.starts_with('U') || chat_id.starts_with('W');
        if !is_user {
            if chat_id.is_empty() || !chat_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(SlackApiError::Permanent(format!(
                    "{chat_id:?} is not a Slack channel or user id"
                )));
            }
            return Ok(chat_id.to_owned());
        }
        if let Some(dm) = lock(&self.dms).get(chat_id) {
            return Ok(dm.clone());
        }
        let dm = self.api.open_dm(chat_id).await?;
        lock(&self.dms).insert(chat_id.to_owned(), dm.clone());
        Ok(dm)
    }

    fn entry(&self, key: &str) -> Arc<tokio::sync::Mutex<Progress>> {
        let mut keys = lock(&self.keys);
        if let Some(entry) = keys.entries.get(key) {
            return entry.clone();
        }
        while keys.order.len() >= REMEMBERED_KEYS {
            let Some(oldest) = keys.order.pop_front() else {
                break;
            };
            keys.entries.remove(&oldest);
        }
        let entry = Arc::new(tokio::sync::Mutex::new(Progress::default()));
        keys.entries.insert(key.to_owned(), entry.clone());
        keys.order.push_back(key.to_owned());
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_name_channel_and_ts() {
        let id = message_id("C024BE91L", "1764010800.000100");
        assert_eq!(id, "C024BE91L:1764010800.000100");
        assert_eq!(
            split_message_id(&id),
            (Some("C024BE91L"), "1764010800.000100")
        );
        assert_eq!(
            split_message_id("1764010800.000100"),
            (None, "1764010800.000100")
        );
    }
}
