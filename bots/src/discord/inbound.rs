//! From gateway dispatches to the app: DMs, their edits and deletions, slash commands.
//!
//! Owns: which dispatches carry something for the app (`MESSAGE_CREATE`/`UPDATE`/`DELETE` in a DM,
//! from a person: never from a bot, donebot included; `INTERACTION_CREATE` of a slash command),
//! their mapping to [`ChatReceived`], the deferred answer to an interaction (type 5, ephemeral,
//! before the app is asked, so Discord's 3-second deadline holds whatever the app takes), the
//! follow-up when the app answers with a reply, the registration of the slash commands on the first
//! `READY`, and the idempotency of all of it across RESUME.
//!
//! Why a per-message state: Discord replays missed dispatches after a RESUME (some of which may
//! have been handled already), and serenity hands each dispatch to its own task
//! (`client/dispatch.rs`, `dispatch_model`), so a message's create, edits and delete may reach
//! this module out of order. So, per message id, the app gets at most one `Message`, edits in
//! increasing `edited_timestamp`, at most one `Delete` and nothing after it, and no `Message`
//! after an edit or delete of the same id was handed over (a late create is stale: the edit
//! carried newer text). Interactions are handed over once per id.
//!
//! Invariant: a decision and the hand-over to the app's mailbox happen under one lock, so the app
//! sees one message's events in the order decided here (actix enqueues at `send`, unless the
//! mailbox is full, when the message waits for the request's first poll). Discord never delivers a dispatch again
//! once a session has seen it, so a `Transient` answer of the app is retried here (bounded); an
//! event the app never took is forgotten, so a later replay may deliver it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::json;
use serenity::http::{LightMethod, Route};
use serenity::model::application::{CommandInteraction, Interaction};
use serenity::model::channel::{Message, MessageType};
use serenity::model::event::{Event, MessageDeleteEvent, MessageUpdateEvent};
use serenity::model::id::{ApplicationId, InteractionId, MessageId, UserId};
use serenity::model::user::User;

use super::channel::NAME;
use super::commands::{definitions, dm_text, to_text};
use super::send::{Deliverer, EPHEMERAL, user_chat};
use crate::bus::{ChatAnswer, ChatEvent, ChatReceived, Outgoing, OutgoingBody};
use crate::channel::Inbox;

/// Messages whose state is remembered (a few days of DMs of a large team).
const REMEMBERED_MESSAGES: usize = 100_000;
const REMEMBERED_INTERACTIONS: usize = 10_000;

/// What the app has been handed for one message id.
#[derive(Debug, Clone, Copy)]
struct MessageState {
    author: UserId,
    /// The latest edit handed over (microseconds since the epoch).
    last_edit: Option<i64>,
    deleted: bool,
}

struct Seen {
    messages: std::collections::HashMap<MessageId, MessageState>,
    order: std::collections::VecDeque<MessageId>,
    interactions: std::collections::HashSet<InteractionId>,
    interaction_order: std::collections::VecDeque<InteractionId>,
}

impl Seen {
    /// Records (or overwrites) a message's state.
    fn remember_message(&mut self, id: MessageId, state: MessageState) {
        if self.messages.insert(id, state).is_none() {
            self.order.push_back(id);
            while self.order.len() > REMEMBERED_MESSAGES {
                if let Some(old) = self.order.pop_front() {
                    self.messages.remove(&old);
                }
            }
        }
    }

    fn remember_interaction(&mut self, id: InteractionId) -> bool {
        if !self.interactions.insert(id) {
            return false;
        }
        self.interaction_order.push_back(id);
        while self.interaction_order.len() > REMEMBERED_INTERACTIONS {
            if let Some(old) = self.interaction_order.pop_front() {
                self.interactions.remove(&old);
            }
        }
        true
    }
}

/// What the gateway handler shares.
pub(crate) struct Inbound {
    pub deliverer: Arc<Deliverer>,
    sink: Inbox,
    seen: Mutex<Seen>,
    /// The bot's own user id (from READY): its own messages are never the app's business.
    me: OnceLock<UserId>,
    commands_registering: AtomicBool,
    /// Set once the slash commands are registered (tests wait on it).
    pub registered: tokio::sync::watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The state stays consistent between statements; a panic elsewhere cannot tear it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A pending hand-over: the app's answer, once it comes.
type Answer = actix::dev::RecipientRequest<ChatReceived>;

impl Inbound {
    pub(crate) fn new(deliverer: Arc<Deliverer>, sink: Inbox) -> Self {
        Inbound {
            deliverer,
            sink,
            seen: Mutex::new(Seen {
                messages: Default::default(),
                order: Default::default(),
                interactions: Default::default(),
                interaction_order: Default::default(),
            }),
            me: OnceLock::new(),
            commands_registering: AtomicBool::new(false),
            registered: tokio::sync::watch::channel(false).0,
        }
    }

    /// Handles one dispatch.
    pub(crate) async fn handle(self: &Arc<Self>, event: Event) {
        match event {
            Event::Ready(ready) => {
                let ready = ready.ready;
                let _ = self.me.set(ready.user.id);
                self.register_commands(ready.application.id);
            }
            Event::MessageCreate(create) => self.message(create.message).await,
            Event::MessageUpdate(update) => self.update(update).await,
            Event::MessageDelete(delete) => self.delete(delete).await,
            Event::InteractionCreate(create) => {
                if let Interaction::Command(command) = create.interaction {
                    self.command(command).await;
                }
            }
            _ => {}
        }
    }

    fn is_us_or_a_bot(&self, user: &User) -> bool {
        user.bot || self.me.get() == Some(&user.id)
    }

    async fn message(&self, m: Message) {
        if m.guild_id.is_some()
            || m.webhook_id.is_some()
            || self.is_us_or_a_bot(&m.author)
            || !matches!(m.kind, MessageType::Regular | MessageType::InlineReply)
        {
            return;
        }
        self.deliverer.learn_dm(m.author.id, m.channel_id);
        if m.content.trim().is_empty() {
            return;
        }
        let received = ChatReceived {
            channel: NAME.to_owned(),
            update_id: m.id.to_string(),
            message_id: m.id.to_string(),
            chat_id: user_chat(m.author.id),
            private: true,
            user_id: m.author.id.to_string(),
            user_name: user_name(&m.author),
            text: dm_text(&m.content),
            reply_to: m
                .message_reference
                .as_ref()
                .and_then(|r| r.message_id)
                .map(|id| id.to_string()),
            event: ChatEvent::Message,
            at: *m.timestamp,
            deferred: false,
            answer_via: None,
        };
        let answer = {
            let mut seen = lock(&self.seen);
            if seen.messages.contains_key(&m.id) {
                tracing::debug!(message_id = %m.id, "discord message already handed over (a replay)");
                return;
            }
            seen.remember_message(
                m.id,
                MessageState {
                    author: m.author.id,
                    last_edit: None,
                    deleted: false,
                },
            );
            self.sink.send(received.clone())
        };
        if self.settle(answer, &received).await.is_none() {
            self.restore(m.id, None);
        }
    }

    async fn update(&self, u: MessageUpdateEvent) {
        if u.guild_id.is_some() {
            return;
        }
        if u.author.as_ref().is_some_and(|a| self.is_us_or_a_bot(a)) {
            return;
        }
        // An update without content or edit time is Discord adding an embed, not the person.
        let (Some(content), Some(edited)) = (u.content.as_ref(), u.edited_timestamp) else {
            return;
        };
        let edited_at: DateTime<Utc> = *edited;
        let stamp = edited_at.timestamp_micros();
        let known = lock(&self.seen).messages.get(&u.id).map(|s| s.author);
        let Some(author) = u
            .author
            .as_ref()
            .map(|a| a.id)
            .or(known)
            .or_else(|| self.deliverer.dm_user(u.channel_id))
        else {
            tracing::debug!(message_id = %u.id, "discord edit of a message of an unknown author; skipped");
            return;
        };
        let received = ChatReceived {
            channel: NAME.to_owned(),
            update_id: format!("{}:edit:{stamp}", u.id),
            message_id: u.id.to_string(),
            chat_id: user_chat(author),
            private: true,
            user_id: author.to_string(),
            user_name: u.author.as_ref().map(user_name).unwrap_or_default(),
            text: content.clone(),
            reply_to: None,
            event: ChatEvent::Edit,
            at: edited_at,
            deferred: false,
            answer_via: None,
        };
        let (answer, previous) = {
            let mut seen = lock(&self.seen);
            let previous = seen.messages.get(&u.id).copied();
            if let Some(state) = previous
                && (state.deleted || state.last_edit.is_some_and(|e| e >= stamp))
            {
                return;
            }
            seen.remember_message(
                u.id,
                MessageState {
                    author,
                    last_edit: Some(stamp),
                    deleted: false,
                },
            );
            (self.sink.send(received.clone()), previous)
        };
        if self.settle(answer, &received).await.is_none() {
            self.restore(u.id, previous);
        }
    }

    async fn delete(&self, d: MessageDeleteEvent) {
        if d.guild_id.is_some() {
            return;
        }
        let known = lock(&self.seen)
            .messages
            .get(&d.message_id)
            .map(|s| s.author);
        let Some(author) = known.or_else(|| self.deliverer.dm_user(d.channel_id)) else {
            tracing::debug!(message_id = %d.message_id, "discord deletion in an unknown DM; skipped");
            return;
        };
        if self.me.get() == Some(&author) {
            return;
        }
        let received = ChatReceived {
            channel: NAME.to_owned(),
            update_id: format!("{}:delete", d.message_id),
            message_id: d.message_id.to_string(),
            chat_id: user_chat(author),
            private: true,
            user_id: author.to_string(),
            user_name: String::new(),
            text: String::new(),
            reply_to: None,
            event: ChatEvent::Delete,
            at: Utc::now(),
            deferred: false,
            answer_via: None,
        };
        let (answer, previous) = {
            let mut seen = lock(&self.seen);
            let previous = seen.messages.get(&d.message_id).copied();
            if previous.is_some_and(|s| s.deleted) {
                return;
            }
            let state = MessageState {
                author,
                last_edit: previous.and_then(|s| s.last_edit),
                deleted: true,
            };
            seen.remember_message(d.message_id, state);
            (self.sink.send(received.clone()), previous)
        };
        if self.settle(answer, &received).await.is_none() {
            self.restore(d.message_id, previous);
        }
    }

    /// Puts a message's state back as it was before an event the app never took.
    fn restore(&self, id: MessageId, previous: Option<MessageState>) {
        let mut seen = lock(&self.seen);
        match previous {
            Some(state) => seen.remember_message(id, state),
            None => {
                seen.messages.remove(&id);
            }
        }
    }

    async fn command(&self, c: CommandInteraction) {
        if self.is_us_or_a_bot(&c.user) || !lock(&self.seen).remember_interaction(c.id) {
            return;
        }
        // Answer first: Discord wants an answer within 3 seconds, the app may take longer.
        let ack = json!({"type": 5, "data": {"flags": EPHEMERAL}});
        let acked = self
            .deliverer
            .rest()
            .call::<serde_json::Value>(
                Route::InteractionResponse {
                    interaction_id: c.id,
                    token: &c.token,
                },
                LightMethod::Post,
                Some(&ack),
            )
            .await;
        match acked {
            Ok(_) => self
                .deliverer
                .defer_interaction(c.id, c.application_id, c.token.clone()),
            // The command still counts; the app's answer goes to the DM instead.
            Err(e) => {
                tracing::warn!(interaction_id = %c.id, error = %e, "discord interaction not acknowledged")
            }
        }
        let received = ChatReceived {
            channel: NAME.to_owned(),
            update_id: c.id.to_string(),
            message_id: c.id.to_string(),
            chat_id: user_chat(c.user.id),
            private: c.guild_id.is_none(),
            user_id: c.user.id.to_string(),
            user_name: user_name(&c.user),
            text: to_text(&c.data),
            reply_to: None,
            event: ChatEvent::Message,
            at: *c.id.created_at(),
            deferred: false,
            answer_via: None,
        };
        let answer = self.sink.send(received.clone());
        let Some(answer) = self.settle(answer, &received).await else {
            lock(&self.seen).interactions.remove(&c.id);
            return;
        };
        if let Some(reply) = answer.reply {
            let send = Outgoing {
                key: format!("reply:{}", c.id),
                to: received.chat_id.clone(),
                body: OutgoingBody::Notice { text: reply },
                reply_to: Some(c.id.to_string()),
                answer_via: None,
            };
            if let Err(e) = self.deliverer.deliver(&send).await {
                tracing::warn!(key = %send.key, error = %e, "discord answer to a command not sent");
            }
        }
    }

    /// Waits for the app's answer to `first`, asking again (bounded, with backoff) while it answers
    /// `Transient`; `None` when it never took the event.
    async fn settle(&self, first: Answer, received: &ChatReceived) -> Option<ChatAnswer> {
        let tuning = self.deliverer.rest().tuning().clone();
        let mut answer = first;
        let mut attempt = 1;
        loop {
            let why = match answer.await {
                Ok(Ok(answer)) => {
                    tracing::info!(update_id = %received.update_id, event = ?received.event, "discord message received");
                    return Some(answer);
                }
                Ok(Err(e)) => e.to_string(),
                Err(e) => format!("the app did not answer: {e}"),
            };
            if attempt >= tuning.inbox_attempts {
                tracing::error!(update_id = %received.update_id, %why, attempt, "discord event not taken by the app; dropped");
                return None;
            }
            // A real delay: the app is busy (storage); Discord will not deliver this again.
            tokio::time::sleep(self.deliverer.rest().backoff(attempt)).await;
            attempt += 1;
            answer = self.sink.send(received.clone());
        }
    }

    /// `PUT /applications/{id}/commands` once per channel life, retried with backoff in the
    /// background (commands missing only mean `/done` is not offered yet; DMs still work).
    fn register_commands(self: &Arc<Self>, application: ApplicationId) {
        if self.commands_registering.swap(true, Ordering::SeqCst) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let body = definitions();
            let mut attempt = 1u32;
            loop {
                let result = this
                    .deliverer
                    .rest()
                    .call::<serde_json::Value>(
                        Route::Commands {
                            application_id: application,
                        },
                        LightMethod::Put,
                        Some(&body),
                    )
                    .await;
                match result {
                    Ok(_) => {
                        tracing::info!("discord slash commands registered");
                        this.registered.send_replace(true);
                        return;
                    }
                    Err(e) if attempt >= 5 => {
                        tracing::error!(error = %e, "discord slash commands not registered");
                        this.commands_registering.store(false, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, attempt, "discord slash commands not registered yet, retrying");
                        // A real delay: backoff before asking Discord again.
                        tokio::time::sleep(this.deliverer.rest().backoff(attempt)).await;
                        attempt += 1;
                    }
                }
            }
        });
    }
}

/// The display name (`global_name`), else the username.
fn user_name(user: &User) -> String {
    user.global_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| user.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::config::DiscordConfig;
    use crate::discord::rest::Rest;
    use actix::{Actor, Context, Handler};
    use serenity::model::event::{MessageCreateEvent, MessageDeleteEvent, MessageUpdateEvent};

    struct Record(Arc<Mutex<Vec<(ChatEvent, String)>>>);

    impl Actor for Record {
        type Context = Context<Self>;
    }

    impl Handler<ChatReceived> for Record {
        type Result = Result<ChatAnswer, crate::bus::ChatReceiveError>;

        fn handle(&mut self, msg: ChatReceived, _: &mut Context<Self>) -> Self::Result {
            self.0.lock().unwrap().push((msg.event, msg.text));
            Ok(ChatAnswer::default())
        }
    }

    fn message(id: u64, text: &str, edited: Option<&str>) -> serde_json::Value {
        json!({"id": id.to_string(), "channel_id": "1180000000000000000", "type": 0,
            "author": {"id": "80351110224678912", "username": "ada", "discriminator": "0", "global_name": "Ada"},
            "content": text, "timestamp": "2026-11-24T18:03:00.000000+00:00", "edited_timestamp": edited,
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": false})
    }

    fn create(id: u64, text: &str) -> Event {
        let m: MessageCreateEvent = serde_json::from_value(message(id, text, None)).unwrap();
        Event::MessageCreate(m)
    }

    fn update(id: u64, text: &str, minute: u32) -> Event {
        let at = format!("2026-11-24T18:{minute:02}:00.000000+00:00");
        let u: MessageUpdateEvent = serde_json::from_value(message(id, text, Some(&at))).unwrap();
        Event::MessageUpdate(u)
    }

    fn delete(id: u64) -> Event {
        let d: MessageDeleteEvent = serde_json::from_value(
            json!({"id": id.to_string(), "channel_id": "1180000000000000000"}),
        )
        .unwrap();
        Event::MessageDelete(d)
    }

    /// serenity hands each dispatch to its own task: whatever order they arrive in, the app gets
    /// one message's events converging on its latest state, each once.
    #[actix_rt::test]
    async fn out_of_order_and_replayed_dispatches_reach_the_app_once_each() {
        let mut config = DiscordConfig::new("MTE4.GhIjKl.abcdefghijklmnop");
        config.api_url = Some("http://127.0.0.1:9/api".into());
        let rest = Rest::new(&config.to_valid().unwrap()).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Record(seen.clone()).start().recipient();
        let inbound = Arc::new(Inbound::new(Arc::new(Deliverer::new(rest)), sink));
        for event in [
            update(7, "shipped the release", 5),
            create(7, "shipped"),
            update(7, "shipped (stale)", 4),
            update(7, "shipped the release", 5),
            update(7, "shipped the release, for real", 6),
            create(8, "fixed #42"),
            delete(7),
            delete(7),
            update(7, "after the deletion", 7),
            create(7, "shipped"),
            create(8, "fixed #42"),
        ] {
            inbound.handle(event).await;
        }
        let got = seen.lock().unwrap().clone();
        assert_eq!(
            got,
            vec![
                (ChatEvent::Edit, "shipped the release".to_owned()),
                (ChatEvent::Edit, "shipped the release, for real".to_owned()),
                (ChatEvent::Message, "fixed #42".to_owned()),
                (ChatEvent::Delete, String::new()),
            ]
        );
    }
}
