//! Delivering a [`ChatSend`] to Slack: find the conversation, render, post each part, once.
//!
//! Owns: where a message goes (a user id `U…`/`W…` is a DM, opened with `conversations.open` and
//! remembered; a `C…`/`G…`/`D…` id is posted to as is; `reply_to` puts the first part in that
//! thread), the per-key progress (which parts already went out, and the final answer), and the
//! mapping of [`SlackApiError`] to the bus's [`ChatSendError`]. It is not the retry of one call
//! ([`super::client`]) nor the layout ([`super::blocks`]).
//!
//! Invariants:
//! - A part whose post succeeded is recorded before the next one starts, so a retried key resumes
//!   after the last delivered part; a final answer (sent, broken, rejected) is remembered and
//!   returned again for the same key while this value lives. `Transient` is not final.
//! - A message id is `<channel>:<ts>`: a `ts` is unique only within its channel, and a thread
//!   reply names its parent by both.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use super::blocks::render;
use super::client::{SlackApi, SlackApiError};
use crate::bus::{ChatSend, ChatSendError, ChatSent};

/// Keys remembered; the oldest are forgotten beyond this (a day of prompts is ~10k).
const REMEMBERED_KEYS: usize = 100_000;

pub(crate) type SendResult = Result<ChatSent, ChatSendError>;

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

impl From<SlackApiError> for ChatSendError {
    fn from(e: SlackApiError) -> Self {
        match e {
            SlackApiError::Transient { .. } => ChatSendError::Transient(e.to_string()),
            SlackApiError::Broken(why) => ChatSendError::Blocked(why),
            SlackApiError::Permanent(why) => ChatSendError::Permanent(why),
        }
    }
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
    pub(crate) async fn deliver(&self, send: &ChatSend) -> SendResult {
        let entry = self.entry(&send.key);
        let mut progress = entry.lock().await;
        if let Some(outcome) = &progress.outcome {
            return outcome.clone();
        }
        let result = self.deliver_parts(send, &mut progress).await;
        if !matches!(result, Err(ChatSendError::Transient(_))) {
            progress.outcome = Some(result.clone());
        }
        result
    }

    async fn deliver_parts(&self, send: &ChatSend, progress: &mut Progress) -> SendResult {
        let posts = render(send);
        if posts.is_empty() {
            return Err(ChatSendError::Permanent(
                "nothing to send: the message is blank".into(),
            ));
        }
        let channel = self.conversation(&send.chat_id).await?;
        let thread = send.reply_to.as_deref().map(|id| split_message_id(id).1);
        for (i, post) in posts.iter().enumerate().skip(progress.sent.len()) {
            let posted = self
                .api
                .post_message(&channel, post, if i == 0 { thread } else { None })
                .await?;
            tracing::debug!(key = %send.key, part = i, ts = %posted.ts, "slack message posted");
            progress.sent.push(message_id(&posted.channel, &posted.ts));
        }
        Ok(ChatSent {
            message_ids: progress.sent.clone(),
        })
    }

    /// The channel to post in: a user's DM (opened once), or the id as given.
    async fn conversation(&self, chat_id: &str) -> Result<String, ChatSendError> {
        let is_user = chat_id.starts_with('U') || chat_id.starts_with('W');
        if !is_user {
            if chat_id.is_empty() || !chat_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ChatSendError::Permanent(format!(
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

    #[test]
    fn api_errors_map_to_bus_errors() {
        assert!(matches!(
            ChatSendError::from(SlackApiError::Broken("not_in_channel".into())),
            ChatSendError::Blocked(why) if why == "not_in_channel"
        ));
        assert!(matches!(
            ChatSendError::from(SlackApiError::Permanent("invalid_blocks".into())),
            ChatSendError::Permanent(_)
        ));
        assert!(matches!(
            ChatSendError::from(SlackApiError::Transient {
                reason: "429".into(),
                retry_after: None
            }),
            ChatSendError::Transient(_)
        ));
    }
}
