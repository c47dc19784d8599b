//! Chat channels, app side: what people write to the bot on any chat channel (links, commands,
//! dones), and the answers, which go out through the outbox like everything else.
//!
//! The channels in `bots` own the wire; this actor owns the meaning and hands commands to
//! [`crate::commands`]. A message from an account nobody linked gets a friendly explanation and
//! never becomes a done. Replies are matched to the prompt they answer (the platform's `reply_to`
//! → the prompt's delivery), else to the member's latest prompt, else to their local today. A
//! redelivered message is one set of dones (idempotent on the chat message id); an edit replaces
//! its dones; a command runs at most once per update.
//!
//! A `deferred` message (Slack's, whose webhook gets three seconds) is answered once it is in the
//! chat log (storage's `chat_log`, one entry per platform delivery key, so a redelivery is taken
//! once), then processed from there, one at a time in order, and removed; what a stop left in the
//! log is processed at the next start. In a group chat, only replies in the thread of the team's
//! prompt (Slack's thread style) become dones, silently.
//!
//! Invariant: the actor answers the channel `Ok` only once the message's effects and the answer
//! to it (an outbox message) are durable, or, for a deferred message, once it is in the log;
//! only then may the channel confirm the update.

use std::sync::Arc;

use actix::{Actor, AsyncContext, Context, Handler, Message, ResponseFuture};
use bots::bus::{ChatAnswer, ChatEvent, ChatReceiveError, ChatReceived, Outgoing, OutgoingBody};
use storage::{Channel, LinkedFrom, OutboxKind};

use crate::actors::Actors;
use crate::actors::outbox::chat::{self as chat_out, Recipient, message_key};
use crate::commands::{self, Command, Origin};
use crate::context::AppContext;
use crate::error::AppError;
use crate::events::Event;
use tracing::{debug, info, warn};

/// Receives `ChatReceived` from every chat channel.
pub struct ChatActor {
    app: AppContext,
    actors: Actors,
    /// Logged messages are processed one at a time, in the order they were taken (an edit after
    /// its message).
    logged: Arc<tokio::sync::Mutex<()>>,
}

impl ChatActor {
    pub fn new(app: AppContext, actors: Actors) -> ChatActor {
        ChatActor {
            app,
            actors,
            logged: Arc::default(),
        }
    }
}

impl Actor for ChatActor {
    type Context = Context<Self>;

    /// Processes what the log still holds: messages taken before the last stop.
    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Err(e) = self
            .app
            .store
            .prune_chat_log_keys(self.app.now().timestamp())
        {
            warn!(error = %e, "cannot prune the chat log's delivery keys");
        }
        let logged = match self.app.store.logged_chats() {
            Ok(logged) => logged,
            Err(e) => {
                warn!(error = %e, "cannot read the chat log; its messages wait for the next start");
                return;
            }
        };
        if !logged.is_empty() {
            info!(
                messages = logged.len(),
                "processing chat messages taken before the last stop"
            );
        }
        for (id, payload) in logged {
            match serde_json::from_slice::<ChatReceived>(&payload) {
                Ok(msg) => ctx.notify(ProcessLogged { id, msg }),
                Err(e) => {
                    // Written by this app from a bus message: unreadable only if corrupted.
                    warn!(log_id = id, error = %e, "an unreadable chat log entry is dropped");
                    let _ = self.app.store.chat_processed(id);
                }
            }
        }
    }
}

/// Processes a message from the chat log, then removes it.
#[derive(Message)]
#[rtype(result = "()")]
struct ProcessLogged {
    id: u64,
    msg: ChatReceived,
}

impl Handler<ChatReceived> for ChatActor {
    type Result = ResponseFuture<Result<ChatAnswer, ChatReceiveError>>;

    fn handle(&mut self, msg: ChatReceived, ctx: &mut Context<Self>) -> Self::Result {
        let app = self.app.clone();
        let actors = self.actors.clone();
        if msg.deferred {
            let me = ctx.address();
            return Box::pin(async move {
                let key = format!("{}.{}", msg.channel, msg.update_id);
                let payload = serde_json::to_vec(&msg)
                    .map_err(|e| ChatReceiveError::Transient(e.to_string()))?;
                let now = app.now().timestamp();
                let store = app.store.clone();
                let logged =
                    tokio::task::spawn_blocking(move || store.log_chat(&key, &payload, now))
                        .await
                        .map_err(|e| ChatReceiveError::Transient(e.to_string()))?
                        .map_err(|e| ChatReceiveError::Transient(e.to_string()))?;
                match logged {
                    Some(id) => me.do_send(ProcessLogged { id, msg }),
                    None => {
                        debug!(channel = %msg.channel, update = %msg.update_id, "a redelivered chat message; taken before")
                    }
                }
                Ok(ChatAnswer::default())
            });
        }
        Box::pin(async move {
            process(&app, &actors, &msg)
                .await
                .map(|()| ChatAnswer::default())
        })
    }
}

impl Handler<ProcessLogged> for ChatActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, logged: ProcessLogged, _: &mut Context<Self>) -> Self::Result {
        let app = self.app.clone();
        let actors = self.actors.clone();
        let turn = Arc::clone(&self.logged);
        Box::pin(async move {
            let _turn = turn.lock().await;
            match process(&app, &actors, &logged.msg).await {
                Ok(()) => {
                    if let Err(e) = app.store.chat_processed(logged.id) {
                        warn!(log_id = logged.id, error = %e, "cannot remove a processed chat message from the log");
                    }
                }
                // Left in the log: processed at the next start.
                Err(e) => {
                    warn!(log_id = logged.id, error = %e, "a logged chat message waits for the next start")
                }
            }
            app.emit(Event::ChatProcessed {
                channel: logged.msg.channel.clone(),
                update: logged.msg.update_id.clone(),
            });
        })
    }
}

/// A message's effects and the answer to it, made durable.
async fn process(
    app: &AppContext,
    actors: &Actors,
    msg: &ChatReceived,
) -> Result<(), ChatReceiveError> {
    let transient = |e: AppError| ChatReceiveError::Transient(e.to_string());
    let Some(channel) = Channel::try_new(&msg.channel) else {
        return Err(ChatReceiveError::Transient(format!(
            "unknown channel {:?}",
            msg.channel
        )));
    };
    let reply = match receive(app, actors, channel, msg).await {
        Ok(reply) => reply,
        Err(e @ (AppError::Storage(_) | AppError::Unavailable(_))) => {
            return Err(transient(e));
        }
        Err(e) => Some(e.to_string()),
    };
    if let Some(text) = reply {
        answer(app, actors, channel, msg, text).map_err(transient)?;
    }
    Ok(())
}

/// Queues the answer to a message in the chat it came from, durably, once per update.
fn answer(
    app: &AppContext,
    actors: &Actors,
    channel: Channel,
    msg: &ChatReceived,
    text: String,
) -> Result<(), AppError> {
    let message = Outgoing {
        key: format!("reply:{channel}:{}", msg.update_id),
        to: msg.chat_id.clone(),
        body: OutgoingBody::Notice { text },
        reply_to: Some(msg.message_id.clone()),
        answer_via: msg.answer_via.clone(),
    };
    let new = chat_out::new_message(
        channel,
        Recipient::Chat,
        OutboxKind::Confirmation,
        None,
        message,
        app.now(),
    )?;
    app.store.enqueue(&new, app.now())?;
    app.store.flush()?;
    actors.wake_outbox();
    Ok(())
}

const UNKNOWN: &str = "Hi! I'm donebot. I don't know this account yet: ask your team's donebot admin for your personal link (it is also in your welcome email), then open it here.";

async fn receive(
    app: &AppContext,
    actors: &Actors,
    channel: Channel,
    msg: &ChatReceived,
) -> Result<Option<String>, AppError> {
    let text = msg.text.trim();
    let (command, rest) = match text.strip_prefix('/') {
        Some(c) => {
            let (name, rest) = c.split_once(char::is_whitespace).unwrap_or((c, ""));
            (Some(name.to_ascii_lowercase()), rest.trim())
        }
        None => (None, text),
    };
    // Commands with side effects run at most once per update, even if it is delivered again.
    if command.is_some()
        && !app
            .store
            .mark_once(&format!("{channel}.update.{}", msg.update_id))?
    {
        return Ok(None);
    }
    let from = LinkedFrom {
        user_id: &msg.user_id,
        chat_id: &msg.chat_id,
    };
    match command.as_deref() {
        Some("start") if rest.is_empty() => return Ok(Some(UNKNOWN.into())),
        Some("start" | "connect") => {
            return commands::link::run(app, actors, channel, rest, from).map(Some);
        }
        _ => {}
    }
    let Some(member) = app.store.member_by_identity(channel, &msg.user_id)? else {
        // In a group, strangers' chatter is none of our business.
        return Ok(msg.private.then(|| UNKNOWN.to_string()));
    };
    let key = message_key(channel, &msg.chat_id, &msg.message_id);
    let command = match command.as_deref() {
        None if msg.event == ChatEvent::Delete => {
            let origin = Origin {
                channel,
                message_key: Some(key),
                answers: None,
                day: None,
                edit: true,
            };
            commands::retract(app, actors, &member, origin).await?;
            return Ok(None);
        }
        None if !msg.private => {
            // In a group, only replies in the thread of the team's prompt are dones; recorded
            // without a word back (the thread is the team's).
            if let Some(thread) = &msg.reply_to
                && let Some((team, day)) = app.store.chat_thread(channel, &msg.chat_id, thread)?
                && team == member.team_id
            {
                let origin = Origin {
                    channel,
                    message_key: Some(key),
                    answers: None,
                    day: Some(day),
                    edit: msg.event == ChatEvent::Edit,
                };
                let command = Command::Done(text.to_owned());
                match commands::run(app, actors, &member, channel, command, origin).await {
                    Ok(_) | Err(AppError::Invalid(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(None);
        }
        None => Command::Done(text.to_owned()),
        Some(name) => match commands::parse(name, rest) {
            Some(parsed) => parsed?,
            None => {
                return Ok(Some(format!(
                    "I don't know /{name}. /help lists what I understand."
                )));
            }
        },
    };
    let answers = match &msg.reply_to {
        Some(r) => app
            .store
            .prompt_by_message_id(&message_key(channel, &msg.chat_id, r))?,
        None => None,
    };
    let origin = Origin {
        channel,
        message_key: Some(key),
        answers,
        day: None,
        edit: msg.event == ChatEvent::Edit,
    };
    commands::run(app, actors, &member, channel, command, origin).await
}
