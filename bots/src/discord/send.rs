//! Delivering an [`Outgoing`] to Discord: resolve where it goes, render, post each part, never twice.
//!
//! Owns: the addresses a Discord `to` may hold (a channel id, or `user:<id>` for a member's DM, whose
//! DM channel is created with `POST /users/@me/channels` and remembered), the per-key progress (which
//! parts already went out, and the final answer), answering a slash command (an [`Outgoing`] whose
//! `reply_to` is a pending interaction becomes an ephemeral follow-up on the interaction's webhook
//! while its token lasts), and the mapping of Discord's answers to [`ChatSendError`]. The waits and
//! retries of one call are [`super::rest`]'s.
//!
//! Invariants:
//! - The same key is never sent twice while this value lives: concurrent calls with one key queue on
//!   the key's lock, a part is recorded before the next one starts, and a final answer (sent,
//!   blocked, rejected) is remembered and returned again. `Transient` and `RateLimited` are not
//!   final: the outbox asks again and the send resumes after the last part that went out.
//! - Every message is posted with `allowed_mentions: {"parse": []}`: nothing donebot posts pings.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::json;
use serenity::http::{LightMethod, Route};
use serenity::model::channel::{Message, PrivateChannel};
use serenity::model::id::{ApplicationId, ChannelId, InteractionId, UserId};
use tokio::time::Instant;

use super::render::{MAX_CONTENT_LEN, render};
use super::rest::{ApiError, Rest};
use crate::bus::{ChatSendError, ChatSent, Outgoing};

/// Keys remembered; the oldest are forgotten beyond this (a day of prompts is ~10k).
const REMEMBERED_KEYS: usize = 100_000;
/// DM channels remembered (one per member who wrote or was prompted).
const REMEMBERED_DMS: usize = 100_000;
/// Interactions awaiting the app's answer, at most (each lives 15 minutes).
const PENDING_INTERACTIONS: usize = 10_000;
/// An interaction token works for 15 minutes; a follow-up is not tried in the last minute.
const INTERACTION_TOKEN_LIFE: Duration = Duration::from_secs(14 * 60);
/// `flags` of a message: SUPPRESS_EMBEDS (no link previews of what members wrote).
const SUPPRESS_EMBEDS: u64 = 1 << 2;
/// `flags` of an interaction answer: only the person who typed the command sees it.
pub(crate) const EPHEMERAL: u64 = 1 << 6;

/// The prefix of a `to` (and of a received `chat_id`) that names a person: their DM.
pub const USER_PREFIX: &str = "user:";

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

/// A bounded map that forgets its oldest insertions first.
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: std::hash::Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
            while self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }
}

/// An interaction acknowledged with a deferred answer, waiting for the app's.
#[derive(Clone)]
struct Pending {
    application_id: ApplicationId,
    token: String,
    expires: Instant,
}

pub(crate) struct Deliverer {
    rest: Rest,
    keys: Mutex<KeyLog>,
    /// user id → their DM channel, and back.
    dms: Mutex<Bounded<UserId, ChannelId>>,
    dm_users: Mutex<Bounded<ChannelId, UserId>>,
    interactions: Mutex<Bounded<InteractionId, Pending>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded maps stay consistent between statements; a panic elsewhere cannot tear them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where an [`Outgoing`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Channel(ChannelId),
    User(UserId),
}

/// `"1180000000000000000"` (a channel) or `"user:80351110224678912"` (that person's DM).
pub(crate) fn parse_target(to: &str) -> Option<Target> {
    let snowflake = |s: &str| {
        s.parse::<u64>()
            .ok()
            .filter(|&n| n != 0 && s.bytes().all(|b| b.is_ascii_digit()))
    };
    match to.strip_prefix(USER_PREFIX) {
        Some(user) => snowflake(user).map(|n| Target::User(UserId::new(n))),
        None => snowflake(to).map(|n| Target::Channel(ChannelId::new(n))),
    }
}

/// The `chat_id` under which a person's DM is known to the app.
pub(crate) fn user_chat(user: UserId) -> String {
    format!("{USER_PREFIX}{user}")
}

impl Deliverer {
    pub(crate) fn new(rest: Rest) -> Self {
        Deliverer {
            rest,
            keys: Mutex::default(),
            dms: Mutex::new(Bounded::new(REMEMBERED_DMS)),
            dm_users: Mutex::new(Bounded::new(REMEMBERED_DMS)),
            interactions: Mutex::new(Bounded::new(PENDING_INTERACTIONS)),
        }
    }

    pub(crate) fn rest(&self) -> &Rest {
        &self.rest
    }

    /// Remembers `user`'s DM channel (seen in a message they wrote).
    pub(crate) fn learn_dm(&self, user: UserId, channel: ChannelId) {
        lock(&self.dms).insert(user, channel);
        lock(&self.dm_users).insert(channel, user);
    }

    /// The person whose DM `channel` is, if known.
    pub(crate) fn dm_user(&self, channel: ChannelId) -> Option<UserId> {
        lock(&self.dm_users).map.get(&channel).copied()
    }

    /// Records a deferred interaction: an [`Outgoing`] replying to `id` becomes its follow-up.
    pub(crate) fn defer_interaction(
        &self,
        id: InteractionId,
        application_id: ApplicationId,
        token: String,
    ) {
        lock(&self.interactions).insert(
            id,
            Pending {
                application_id,
                token,
                expires: Instant::now() + INTERACTION_TOKEN_LIFE,
            },
        );
    }

    /// Sends `send` once per key; see the module invariants.
    pub(crate) async fn deliver(&self, send: &Outgoing) -> SendResult {
        let entry = self.entry(&send.key);
        let mut progress = entry.lock().await;
        if let Some(outcome) = &progress.outcome {
            return outcome.clone();
        }
        let result = self.deliver_parts(send, &mut progress).await;
        if matches!(
            result,
            Ok(_) | Err(ChatSendError::Blocked(_) | ChatSendError::Permanent(_))
        ) {
            progress.outcome = Some(result.clone());
        }
        result
    }

    async fn deliver_parts(&self, send: &Outgoing, progress: &mut Progress) -> SendResult {
        let target = parse_target(&send.to).ok_or_else(|| {
            ChatSendError::Permanent(format!(
                "{:?} is not a Discord channel id nor user:<id>",
                send.to
            ))
        })?;
        let parts = render(&send.body, MAX_CONTENT_LEN);
        if parts.is_empty() {
            return Err(ChatSendError::Permanent(
                "nothing to send: the message is blank".into(),
            ));
        }
        let interaction = send.reply_to.as_deref().and_then(|r| self.pending(r));
        let answers_interaction = interaction.is_some();
        if let Some((id, pending)) = interaction {
            match self.follow_up_parts(&pending, &parts, progress).await {
                Ok(()) => {
                    lock(&self.interactions).map.remove(&id);
                    return Ok(ChatSent {
                        chat_id: None,
                        message_ids: progress.sent.clone(),
                    });
                }
                // Discord no longer knows the token (expired early, or the interaction was
                // answered elsewhere): nothing went out yet, so the answer goes to the DM.
                Err(ApiError::Refused { code, .. }) if progress.sent.is_empty() => {
                    tracing::info!(interaction_id = %id, code, "discord follow-up refused; answering in the DM");
                    lock(&self.interactions).map.remove(&id);
                }
                Err(e) => return Err(classify(e)),
            }
        }
        let channel = match target {
            Target::Channel(c) => c,
            Target::User(u) => self.dm_channel(u).await.map_err(classify)?,
        };
        // An interaction is not a message: an answer that falls back to the DM references nothing.
        let reply_to = send
            .reply_to
            .as_deref()
            .filter(|_| !answers_interaction)
            .and_then(|r| r.parse::<u64>().ok().filter(|&n| n != 0));
        for (i, part) in parts.iter().enumerate().skip(progress.sent.len()) {
            let mut body = json!({
                "content": part,
                "allowed_mentions": {"parse": []},
                "flags": SUPPRESS_EMBEDS,
            });
            if let (0, Some(id)) = (i, reply_to) {
                // A reply to a message that is gone is still posted, without the reference.
                body["message_reference"] =
                    json!({"message_id": id.to_string(), "fail_if_not_exists": false});
            }
            let message: Message = self
                .rest
                .call(
                    Route::ChannelMessages {
                        channel_id: channel,
                    },
                    LightMethod::Post,
                    Some(&body),
                )
                .await
                .map_err(classify)?;
            tracing::debug!(key = %send.key, part = i, message_id = %message.id, "discord message sent");
            progress.sent.push(message.id.to_string());
        }
        Ok(ChatSent {
            chat_id: None,
            message_ids: progress.sent.clone(),
        })
    }

    fn pending(&self, reply_to: &str) -> Option<(InteractionId, Pending)> {
        let id = InteractionId::new(reply_to.parse::<u64>().ok().filter(|&n| n != 0)?);
        let mut interactions = lock(&self.interactions);
        let pending = interactions.map.get(&id)?.clone();
        if pending.expires <= Instant::now() {
            // Its token no longer works: the answer goes to the DM instead.
            interactions.map.remove(&id);
            return None;
        }
        Some((id, pending))
    }

    async fn follow_up_parts(
        &self,
        pending: &Pending,
        parts: &[String],
        progress: &mut Progress,
    ) -> Result<(), ApiError> {
        for part in parts.iter().skip(progress.sent.len()) {
            let message = self.follow_up(pending, part).await?;
            progress.sent.push(message.id.to_string());
        }
        Ok(())
    }

    /// `POST /webhooks/{application}/{token}`: an ephemeral follow-up message.
    async fn follow_up(&self, pending: &Pending, content: &str) -> Result<Message, ApiError> {
        let body = json!({
            "content": content,
            "flags": EPHEMERAL | SUPPRESS_EMBEDS,
            "allowed_mentions": {"parse": []},
        });
        self.rest
            .call(
                Route::WebhookFollowupMessages {
                    application_id: pending.application_id,
                    token: &pending.token,
                },
                LightMethod::Post,
                Some(&body),
            )
            .await
    }

    /// The DM channel with `user`, created (`POST /users/@me/channels`) the first time.
    pub(crate) async fn dm_channel(&self, user: UserId) -> Result<ChannelId, ApiError> {
        if let Some(c) = lock(&self.dms).map.get(&user) {
            return Ok(*c);
        }
        let body = json!({"recipient_id": user.to_string()});
        let channel: PrivateChannel = self
            .rest
            .call(Route::UserMeDmChannels, LightMethod::Post, Some(&body))
            .await?;
        self.learn_dm(user, channel.id);
        Ok(channel.id)
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
}

/// Discord JSON error codes that mean the chat cannot be reached any more.
const CANNOT_DM: u64 = 50007;
const UNKNOWN_CHANNEL: u64 = 10003;
const UNKNOWN_USER: u64 = 10013;
const MISSING_ACCESS: u64 = 50001;

/// Discord's answer as the outbox needs it.
pub(crate) fn classify(error: ApiError) -> ChatSendError {
    match error {
        ApiError::RateLimited(wait) => ChatSendError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        },
        ApiError::Transient(why) => ChatSendError::Transient(why),
        ApiError::Refused {
            code,
            message,
            status,
        } => match code {
            // The member closed their DMs or left every shared server; the bot was removed from
            // the channel; the channel or user is gone: the link to that chat is broken.
            CANNOT_DM | UNKNOWN_CHANNEL | UNKNOWN_USER | MISSING_ACCESS => {
                ChatSendError::Blocked(format!("{message} (code {code})"))
            }
            _ => ChatSendError::Permanent(format!(
                "Discord answered {status}: {message} (code {code})"
            )),
        },
        ApiError::Broken(why) => ChatSendError::Permanent(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("1180000000000000000"),
            Some(Target::Channel(ChannelId::new(1180000000000000000)))
        );
        assert_eq!(
            parse_target("user:80351110224678912"),
            Some(Target::User(UserId::new(80351110224678912)))
        );
        for bad in [
            "",
            "0",
            "user:",
            "user:0",
            "-5",
            "+5",
            "C024BE91L",
            "user:x",
            "99999999999999999999",
        ] {
            assert_eq!(parse_target(bad), None, "{bad}");
        }
        assert_eq!(user_chat(UserId::new(5)), "user:5");
    }

    #[test]
    fn errors_map_to_the_outbox_answers() {
        let refused = |status, code| ApiError::Refused {
            status,
            code,
            message: "x".into(),
        };
        assert!(matches!(
            classify(refused(403, 50007)),
            ChatSendError::Blocked(_)
        ));
        assert!(matches!(
            classify(refused(404, 10003)),
            ChatSendError::Blocked(_)
        ));
        assert!(matches!(
            classify(refused(400, 50035)),
            ChatSendError::Permanent(_)
        ));
        assert!(matches!(
            classify(refused(401, 0)),
            ChatSendError::Permanent(_)
        ));
        assert_eq!(
            classify(ApiError::RateLimited(Duration::from_millis(1200))),
            ChatSendError::RateLimited {
                retry_after_secs: 2
            }
        );
        assert!(matches!(
            classify(ApiError::Transient("503".into())),
            ChatSendError::Transient(_)
        ));
    }
}
