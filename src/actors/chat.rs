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
//! Invariant: the actor answers the channel `Ok` only once the message's effects and the answer
//! to it (an outbox message) are durable; only then may the channel confirm the update.

use actix::{Actor, Context, Handler, ResponseFuture};
use bots::bus::{ChatAnswer, ChatEvent, ChatReceiveError, ChatReceived, Outgoing, OutgoingBody};
use storage::{Channel, LinkedFrom, OutboxKind};

use crate::actors::Actors;
use crate::actors::outbox::chat::{self as chat_out, Recipient, message_key};
use crate::commands::{self, Command, Origin};
use crate::context::AppContext;
use crate::error::AppError;

/// Receives `ChatReceived` from every chat channel.
pub struct ChatActor {
    app: AppContext,
    actors: Actors,
}

impl ChatActor {
    pub fn new(app: AppContext, actors: Actors) -> ChatActor {
        ChatActor { app, actors }
    }
}

impl Actor for ChatActor {
    type Context = Context<Self>;
}

impl Handler<ChatReceived> for ChatActor {
    type Result = ResponseFuture<Result<ChatAnswer, ChatReceiveError>>;

    fn handle(&mut self, msg: ChatReceived, _: &mut Context<Self>) -> Self::Result {
        let app = self.app.clone();
        let actors = self.actors.clone();
        Box::pin(async move {
            let transient = |e: AppError| ChatReceiveError::Transient(e.to_string());
            let Some(channel) = Channel::try_new(&msg.channel) else {
                return Err(ChatReceiveError::Transient(format!(
                    "unknown channel {:?}",
                    msg.channel
                )));
            };
            let reply = match receive(&app, &actors, channel, &msg).await {
                Ok(reply) => reply,
                Err(e @ (AppError::Storage(_) | AppError::Unavailable(_))) => {
                    return Err(transient(e));
                }
                Err(e) => Some(e.to_string()),
            };
            if let Some(text) = reply {
                answer(&app, &actors, channel, &msg, text).map_err(transient)?;
            }
            Ok(ChatAnswer::default())
        })
    }
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
    let command = match command.as_deref() {
        None if !msg.private => return Ok(None),
        None if msg.event == ChatEvent::Delete => {
            let origin = Origin {
                channel,
                message_key: Some(message_key(channel, &msg.chat_id, &msg.message_id)),
                answers: None,
                edit: true,
            };
            commands::retract(app, actors, &member, origin).await?;
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
        message_key: Some(message_key(channel, &msg.chat_id, &msg.message_id)),
        answers,
        edit: msg.event == ChatEvent::Edit,
    };
    commands::run(app, actors, &member, channel, command, origin).await
}
