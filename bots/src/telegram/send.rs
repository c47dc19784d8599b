//! Delivering an [`Outgoing`]: render, send each part, retry what can be retried, never twice.
//!
//! Owns: the per-key progress (which parts of a message already went out, and the final answer), the
//! rate-limit gates (a `429 retry_after` closes the chat's gate and the bot's global gate for that long;
//! a `retry_after` beyond the patience is answered as [`ChatSendError::RateLimited`] for the outbox to
//! defer the message until then), the pacing when it is on (at most `max_sends_per_second` sends start
//! per second overall, one a second per chat, one every three seconds per group: Telegram's documented
//! limits), and the bounded retry of transient failures with exponential backoff. It is not the actor (it is shared by the actor's handler, the
//! polling loop and the webhook handle, so it is `Sync` and holds no actor state).
//!
//! Invariants:
//! - A part is sent again only after a call that failed; a part whose call succeeded is recorded
//!   before the next one starts, so a retried key resumes after the last delivered part.
//! - The same key is never sent twice while this value lives: concurrent calls with one key queue on
//!   the key's lock, and a final answer (sent, blocked, rejected) is remembered and returned again.
//!   A `Transient`, `RateLimited` or `Migrated` answer is not final: the app may ask again (to the
//!   new chat, for `Migrated`) and the send resumes.
//! - Telegram has no idempotency key: a call that timed out *after* Telegram accepted it is
//!   indistinguishable from one that never arrived, and is retried (at most `max_attempts`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use teloxide::Bot;
use teloxide::payloads::SendMessageSetters;
use teloxide::prelude::Requester;
use teloxide::types::{
    ChatId, ForceReply, LinkPreviewOptions, MessageId, ParseMode, Recipient, ReplyParameters,
};
use tokio::time::Instant;

use super::client::{Failure, classify};
use super::config::TelegramTuning;
use super::format::{MAX_MESSAGE_LEN, render};
use crate::bus::{ChatKind, ChatSendError, ChatSent, Outgoing};

/// Shown in the reply field of a prompt (Telegram allows 1–64 characters).
const PROMPT_PLACEHOLDER: &str = "What did you get done? One per line";
/// Keys remembered; the oldest finished ones are forgotten beyond this (a day of prompts is ~10k).
const REMEMBERED_KEYS: usize = 100_000;

pub(crate) type SendResult = Result<ChatSent, ChatSendError>;

#[derive(Default)]
struct Progress {
    sent: Vec<String>,
    outcome: Option<SendResult>,
}

#[derive(Default)]
struct KeyLog {
    entries: HashMap<String, Arc<tokio::sync::Mutex<Progress>>>,
    order: VecDeque<String>,
}

struct Gates {
    global: Option<Instant>,
    chats: HashMap<String, Instant>,
    next_slot: Instant,
    /// When pacing is on: the next moment a send to each chat may start.
    chat_slots: HashMap<String, Instant>,
}

/// One message as Telegram gets it.
struct Part<'a> {
    chat: &'a Recipient,
    text: &'a str,
    force_reply: bool,
    reply_to: Option<i32>,
}

pub(crate) struct Deliverer {
    bot: Bot,
    tuning: TelegramTuning,
    keys: Mutex<KeyLog>,
    gates: Mutex<Gates>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded maps stay consistent between statements; a panic elsewhere cannot tear them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Deliverer {
    pub(crate) fn new(bot: Bot, tuning: TelegramTuning) -> Self {
        Deliverer {
            bot,
            tuning,
            keys: Mutex::default(),
            gates: Mutex::new(Gates {
                global: None,
                chats: HashMap::new(),
                next_slot: Instant::now(),
                chat_slots: HashMap::new(),
            }),
        }
    }

    pub(crate) fn bot(&self) -> &Bot {
        &self.bot
    }

    pub(crate) fn tuning(&self) -> &TelegramTuning {
        &self.tuning
    }

    /// Sends `send` once per key; see the module invariants.
    pub(crate) async fn deliver(&self, send: &Outgoing) -> SendResult {
        let entry = self.entry(&send.key);
        let mut progress = entry.lock().await;
        if let Some(outcome) = &progress.outcome {
            return outcome.clone();
        }
        let result = self.deliver_parts(send, &mut progress).await;
        // Only an answer that asking again cannot change is final.
        if matches!(
            result,
            Ok(_) | Err(ChatSendError::Blocked(_) | ChatSendError::Permanent(_))
        ) {
            progress.outcome = Some(result.clone());
        }
        result
    }

    async fn deliver_parts(&self, send: &Outgoing, progress: &mut Progress) -> SendResult {
        let chat = parse_chat(&send.to)?;
        let reply_to = match &send.reply_to {
            None => None,
            Some(id) => Some(id.parse::<i32>().map_err(|_| {
                ChatSendError::Permanent(format!("reply_to {id:?} is not a Telegram message id"))
            })?),
        };
        let parts = render(send, MAX_MESSAGE_LEN);
        if parts.is_empty() {
            return Err(ChatSendError::Permanent(
                "nothing to send: the message is blank".into(),
            ));
        }
        let last = parts.len() - 1;
        for (i, text) in parts.iter().enumerate().skip(progress.sent.len()) {
            let part = Part {
                chat: &chat,
                text,
                force_reply: send.body.kind() == ChatKind::Prompt && i == last,
                reply_to: if i == 0 { reply_to } else { None },
            };
            let id = self.send_part(&send.to, &part).await?;
            tracing::debug!(key = %send.key, part = i, message_id = %id, "telegram message sent");
            progress.sent.push(id);
        }
        Ok(ChatSent {
            message_ids: progress.sent.clone(),
            chat_id: None,
        })
    }

    async fn send_part(&self, chat_key: &str, part: &Part<'_>) -> Result<String, ChatSendError> {
        let mut attempt: u32 = 1;
        let mut rate_waited = Duration::ZERO;
        loop {
            self.pass_gates(chat_key).await;
            let mut request = self
                .bot
                .send_message(part.chat.clone(), part.text)
                .parse_mode(ParseMode::Html)
                .link_preview_options(no_preview());
            if part.force_reply {
                request = request.reply_markup(
                    ForceReply::new().input_field_placeholder(PROMPT_PLACEHOLDER.to_owned()),
                );
            }
            if let Some(id) = part.reply_to {
                request = request.reply_parameters(
                    ReplyParameters::new(MessageId(id)).allow_sending_without_reply(),
                );
            }
            let error = match request.await {
                Ok(message) => return Ok(message.id.0.to_string()),
                Err(e) => e,
            };
            match classify(&error) {
                Failure::RetryAfter(wait) => {
                    if rate_waited + wait > self.tuning.rate_limit_patience {
                        // Beyond our patience: the outbox defers the message until then (a gate
                        // closed here would hold a later send that the outbox already timed).
                        return Err(ChatSendError::RateLimited {
                            retry_after_secs: wait.as_secs().max(1),
                        });
                    }
                    tracing::info!(
                        chat_id = chat_key,
                        retry_after = wait.as_secs(),
                        "telegram rate limit"
                    );
                    rate_waited += wait;
                    self.close_gates(chat_key, wait);
                }
                Failure::Transient(why) => {
                    if attempt >= self.tuning.max_attempts {
                        return Err(ChatSendError::Transient(format!(
                            "{why} (after {attempt} attempts)"
                        )));
                    }
                    tracing::debug!(chat_id = chat_key, attempt, %why, "telegram send failed, retrying");
                    // A real delay: backoff before retrying a transient failure of the Bot API.
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                }
                Failure::Migrated(to) => {
                    return Err(ChatSendError::Migrated { to: to.to_string() });
                }
                Failure::Blocked(why) => return Err(ChatSendError::Blocked(why)),
                Failure::Permanent(why) => return Err(ChatSendError::Permanent(why)),
            }
        }
    }

    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.tuning
            .backoff
            .saturating_mul(factor)
            .min(self.tuning.max_backoff)
    }

    fn entry(&self, key: &str) -> Arc<tokio::sync::Mutex<Progress>> {
        let mut log = lock(&self.keys);
        if let Some(entry) = log.entries.get(key) {
            return entry.clone();
        }
        while log.order.len() >= REMEMBERED_KEYS {
            let Some(oldest) = log.order.pop_front() else {
                break;
            };
            log.entries.remove(&oldest);
        }
        let entry = Arc::new(tokio::sync::Mutex::new(Progress::default()));
        log.entries.insert(key.to_owned(), entry.clone());
        log.order.push_back(key.to_owned());
        entry
    }

    /// Waits until neither the global nor the chat's gate is closed, then takes a pacing slot.
    async fn pass_gates(&self, chat_key: &str) {
        loop {
            let closed_until = {
                let gates = lock(&self.gates);
                gates
                    .global
                    .into_iter()
                    .chain(gates.chats.get(chat_key).copied())
                    .max()
            };
            match closed_until {
                // A real delay: Telegram told us (429 retry_after) not to send to this chat until then.
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        if let Some(per_second) = self.tuning.max_sends_per_second {
            let slot = {
                let mut gates = lock(&self.gates);
                let now = Instant::now();
                gates.chat_slots.retain(|_, t| *t > now);
                let chat_slot = gates.chat_slots.get(chat_key).copied().unwrap_or(now);
                let slot = gates.next_slot.max(chat_slot).max(now);
                gates.next_slot = slot + Duration::from_secs(1) / per_second.max(1);
                gates
                    .chat_slots
                    .insert(chat_key.to_owned(), slot + chat_interval(chat_key));
                slot
            };
            // A real delay: pacing to Telegram's documented limits (about 30 messages/s overall,
            // one a second per chat, 20 a minute per group).
            tokio::time::sleep_until(slot).await;
        }
    }

    fn close_gates(&self, chat_key: &str, wait: Duration) {
        let now = Instant::now();
        let until = now + wait;
        let mut gates = lock(&self.gates);
        gates.chats.retain(|_, t| *t > now);
        let chat = gates.chats.entry(chat_key.to_owned()).or_insert(until);
        *chat = (*chat).max(until);
        gates.global = Some(gates.global.map_or(until, |g| g.max(until)));
    }
}

/// The pause between two sends to one chat: groups (negative ids) allow 20 a minute, a private
/// chat about one a second; a quarter second more, since Telegram counts arrivals, not our starts.
fn chat_interval(chat_key: &str) -> Duration {
    let margin = Duration::from_millis(250);
    if chat_key.starts_with('-') {
        Duration::from_secs(3) + margin
    } else {
        Duration::from_secs(1) + margin
    }
}

fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

/// A numeric chat id, or `@channelusername`.
fn parse_chat(chat_id: &str) -> Result<Recipient, ChatSendError> {
    if let Ok(id) = chat_id.parse::<i64>() {
        return Ok(Recipient::Id(ChatId(id)));
    }
    if chat_id.len() > 1 && chat_id.starts_with('@') {
        return Ok(Recipient::ChannelUsername(chat_id.to_owned()));
    }
    Err(ChatSendError::Permanent(format!(
        "{chat_id:?} is not a Telegram chat id"
    )))
}
