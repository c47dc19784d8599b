//! Chat platforms, app side: what people write to the bot (links, commands, dones) and what the
//! app sends to chats (prompts to a member's private chat, the morning digest to a team's group).
//!
//! The channel actors in `bots` own the wire; this module owns the meaning. A message from an
//! account nobody linked gets a friendly explanation and never becomes a done. Replies are matched
//! to the prompt they answer (Telegram `reply_to` → the prompt's message), else to the member's
//! latest prompt, else to their local today. A redelivered update is one set of dones (idempotent on
//! the chat message id); an edited message replaces its dones; a command runs at most once per update.

use actix::{Actor, Context, Handler, ResponseFuture};
use bots::bus::{
    ChatAnswer, ChatKind, ChatPlatform, ChatReceiveError, ChatReceived, ChatSection, ChatSend,
    ChatSendError,
};
use chrono::{DateTime, NaiveDate, Utc};
use storage::{
    Channel, Delivery, Linked, Member, MemberState, Prompt, RecordOutcome, Source, Team,
};
use tracing::{info, warn};

use crate::actors::team::{RecordReply, Reload};
use crate::app::App;
use crate::domain::render::PROMPT_QUESTION;
use crate::error::AppError;
use crate::ops;

/// Receives `ChatReceived` from every chat channel.
pub struct ChatActor {
    app: App,
}

impl ChatActor {
    pub fn new(app: App) -> ChatActor {
        ChatActor { app }
    }
}

impl Actor for ChatActor {
    type Context = Context<Self>;
}

impl Handler<ChatReceived> for ChatActor {
    type Result = ResponseFuture<Result<ChatAnswer, ChatReceiveError>>;

    fn handle(&mut self, msg: ChatReceived, _: &mut Context<Self>) -> Self::Result {
        let app = self.app.clone();
        Box::pin(async move {
            match receive(&app, &msg).await {
                Ok(reply) => Ok(ChatAnswer { reply }),
                Err(AppError::Storage(e)) => Err(ChatReceiveError::Transient(e.to_string())),
                Err(AppError::Unavailable(e)) => Err(ChatReceiveError::Transient(e)),
                Err(e) => Ok(ChatAnswer {
                    reply: Some(e.to_string()),
                }),
            }
        })
    }
}

fn channel_of(p: ChatPlatform) -> Channel {
    match p {
        ChatPlatform::Slack => Channel::Slack,
        ChatPlatform::Discord => Channel::Discord,
        ChatPlatform::Telegram => Channel::Telegram,
    }
}

/// The id under which a chat message is known to storage (prompts' deliveries, dones' sources).
fn chat_message_key(platform: ChatPlatform, chat: &str, message: &str) -> String {
    format!("{}:{chat}:{message}", platform.as_str())
}

const UNKNOWN: &str = "Hi! I'm donebot. I don't know this account yet: ask your team's donebot admin for your personal link (it is also in your welcome email), then open it here.";

async fn receive(app: &App, msg: &ChatReceived) -> Result<Option<String>, AppError> {
    let text = msg.text.trim();
    let (command, rest) = match text.strip_prefix('/') {
        Some(c) => {
            let (name, rest) = c.split_once(char::is_whitespace).unwrap_or((c, ""));
            (Some(name.to_ascii_lowercase()), rest.trim())
        }
        None => (None, text),
    };
    let channel = channel_of(msg.platform);
    // Commands with side effects run at most once per update, even if it is delivered again.
    if command.is_some()
        && !app.store.mark_once(&format!(
            "{}.update.{}",
            msg.platform.as_str(),
            msg.update_id
        ))?
    {
        return Ok(None);
    }
    match command.as_deref() {
        Some("start") if rest.is_empty() => return Ok(Some(UNKNOWN.into())),
        Some("start") => return link(app, channel, rest, &msg.chat_id, msg.at).map(Some),
        Some("connect") => return link(app, channel, rest, &msg.chat_id, msg.at).map(Some),
        _ => {}
    }
    let Some(member) = app.store.member_by_identity(channel, &msg.user_id)? else {
        // In a group, strangers' chatter is none of our business.
        return Ok(msg.private.then(|| UNKNOWN.to_string()));
    };
    match command.as_deref() {
        None if !msg.private => Ok(None),
        None => record(app, msg, &member, text).await,
        Some("done") if rest.is_empty() => Ok(Some("Usage: /done what you got done".into())),
        Some("done") => record(app, msg, &member, rest).await,
        Some("undo") => match app.store.last_done_of(member.id)? {
            Some(d) => {
                app.store.update_done(d.id, app.now(), |d| d.deleted = true)?;
                Ok(Some(format!("Removed: {}", d.text)))
            }
            None => Ok(Some("There is nothing to undo.".into())),
        },
        Some("pause") => {
            let until = match rest.strip_prefix("until").map(str::trim) {
                Some(d) => Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| AppError::Invalid("Usage: /pause or /pause until YYYY-MM-DD".into()))?),
                None if rest.is_empty() => None,
                None => return Err(AppError::Invalid("Usage: /pause or /pause until YYYY-MM-DD".into())),
            };
            set_state(app, &member, MemberState::Paused { until })?;
            Ok(Some(match until {
                Some(d) => format!("Paused until {d} (inclusive). /resume to come back earlier."),
                None => "Paused. /resume to start again.".into(),
            }))
        }
        Some("resume") => {
            set_state(app, &member, MemberState::Active)?;
            Ok(Some("Welcome back: the daily question is on again.".into()))
        }
        Some("today") => {
            let day = member_today(app, &member)?;
            let team = app.store.team(member.team_id)?;
            let mine: Vec<String> = app.store.team_dones(team.id, day, day)?.into_iter().filter(|d| d.member_id == member.id).map(|d| format!("- {}", d.text)).collect();
            Ok(Some(if mine.is_empty() { format!("Nothing recorded for {day} yet.") } else { format!("{day}:\n{}", mine.join("\n")) }))
        }
        Some("digest") => {
            let on = match rest {
                "here" | "on" => true,
                "off" => false,
                _ => return Err(AppError::Invalid("Usage: /digest here (also get the morning digest in this chat) or /digest off".into())),
            };
            let m = app.store.update_member(member.id, |m| {
                m.digest_channels.retain(|c| *c != channel);
                if on {
                    m.digest_channels.push(channel);
                }
            })?;
            app.store.flush()?;
            app.team_actor(m.team_id)?.do_send(Reload);
            Ok(Some(if on { "You'll get the morning digest here too.".into() } else { "No more digest here (it still comes by email).".into() }))
        }
        Some("help") => Ok(Some("Reply to my question with one line per thing you got done.\n/done TEXT adds one any time, /undo removes your last one, /today shows today's, /pause [until YYYY-MM-DD] and /resume, /digest here or off.".into())),
        Some(other) => Ok(Some(format!("I don't know /{other}. /help lists what I understand."))),
    }
}

fn link(
    app: &App,
    channel: Channel,
    code: &str,
    chat_id: &str,
    at: DateTime<Utc>,
) -> Result<String, AppError> {
    let _ = at;
    match app
        .store
        .consume_link_code(code.trim(), chat_id, app.now())?
    {
        Linked::Member(m) => {
            info!(
                member_id = m.id,
                channel = channel.as_str(),
                "chat account linked"
            );
            app.team_actor(m.team_id)?.do_send(Reload);
            Ok(format!(
                "Hi {}! You're linked: I'll ask you here what you got done each workday. Just reply with one line per thing.",
                m.name
            ))
        }
        Linked::TeamChat(t) => {
            info!(
                team_id = t.id,
                channel = channel.as_str(),
                "team chat connected"
            );
            app.team_actor(t.id)?.do_send(Reload);
            Ok(format!("This chat now gets {}'s morning digest.", t.name))
        }
    }
}

fn set_state(app: &App, member: &Member, state: MemberState) -> Result<(), AppError> {
    app.store
        .update_member(member.id, |m| m.state = state.clone())?;
    app.store.flush()?;
    app.team_actor(member.team_id)?.do_send(Reload);
    Ok(())
}

fn member_today(app: &App, member: &Member) -> Result<NaiveDate, AppError> {
    let team = app.store.team(member.team_id)?;
    let tz = ops::parse_tz(member.timezone.as_deref().unwrap_or(&team.timezone))?;
    Ok(app.now().with_timezone(&tz).date_naive())
}

async fn record(
    app: &App,
    msg: &ChatReceived,
    member: &Member,
    text: &str,
) -> Result<Option<String>, AppError> {
    let answered: Option<Prompt> = match &msg.reply_to {
        Some(r) => {
            app.store
                .prompt_by_message_id(&chat_message_key(msg.platform, &msg.chat_id, r))?
        }
        None => None,
    };
    let prompt = match answered {
        Some(p) => Some(p),
        None => app.store.latest_prompt(member.id)?,
    };
    let day = match &prompt {
        Some(p) => p.day,
        None => member_today(app, member)?,
    };
    let source = Source {
        channel: channel_of(msg.platform),
        message_id: Some(chat_message_key(
            msg.platform,
            &msg.chat_id,
            &msg.message_id,
        )),
        prompt_id: prompt.as_ref().map(|p| p.id),
        inbound_id: None,
    };
    let outcome = app
        .team_actor(member.team_id)?
        .send(RecordReply {
            member: member.id,
            day,
            text: text.to_string(),
            source,
            replace: msg.edited,
        })
        .await??;
    app.store.flush_async().await?;
    tracing::debug!(
        member_id = member.id,
        edited = msg.edited,
        ?outcome,
        "chat message recorded"
    );
    Ok(match outcome {
        RecordOutcome::Recorded(ids) if msg.edited => {
            Some(format!("Updated: {} for {day}.", plural(ids.len())))
        }
        RecordOutcome::Recorded(ids) => Some(format!("Got it: {} for {day}.", plural(ids.len()))),
        RecordOutcome::Duplicate(_) => None,
    })
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 done".into()
    } else {
        format!("{n} dones")
    }
}

/// Sends a prompt to a member's Telegram chat and records the delivery, so a reply to it is matched.
/// A blocked bot unlinks the account (the member still gets the prompt by email).
pub fn send_prompt(app: &App, prompt: &Prompt, member: u64, chat: i64) {
    let Some(tg) = app.telegram() else {
        tracing::debug!(
            member_id = member,
            "telegram is not configured; prompt not sent there"
        );
        return;
    };
    tracing::debug!(member_id = member, chat, "sending prompt on telegram");
    let app = app.clone();
    let prompt_id = prompt.id;
    let text = format!(
        "{PROMPT_QUESTION} ({})\nReply to this message with one line per thing.",
        prompt.day.format("%A, %B %-d")
    );
    let send = ChatSend {
        key: format!("prompt:{prompt_id}:telegram"),
        chat_id: chat.to_string(),
        kind: ChatKind::Prompt,
        text,
        sections: vec![],
        reply_to: None,
    };
    actix_rt::spawn(async move {
        match tg.send(send).await {
            Ok(Ok(sent)) => {
                for id in sent.message_ids {
                    let delivery = Delivery {
                        channel: Channel::Telegram,
                        outbox_id: None,
                        message_id: Some(chat_message_key(
                            ChatPlatform::Telegram,
                            &chat.to_string(),
                            &id,
                        )),
                    };
                    if let Err(e) = app.store.add_delivery(prompt_id, delivery) {
                        warn!(prompt_id, error = %e, "cannot record the telegram delivery of a prompt");
                    }
                }
                info!(prompt_id, member_id = member, "prompt sent on telegram");
            }
            Ok(Err(ChatSendError::Blocked(why))) => {
                warn!(member_id = member, %why, "the member blocked the bot; unlinking telegram");
                if let Err(e) = app.store.unlink_identity(member, Channel::Telegram) {
                    warn!(member_id = member, error = %e, "cannot unlink telegram");
                }
            }
            Ok(Err(e)) => warn!(prompt_id, error = %e, "telegram prompt not sent"),
            Err(e) => warn!(prompt_id, error = %e, "telegram channel unavailable"),
        }
    });
}

/// Posts the digest of `from..=to` into a team's Telegram group, once per team and day. Returns
/// whether it was queued now (false: Telegram is off, or it went out before).
pub fn send_team_digest(
    app: &App,
    team: &Team,
    from: NaiveDate,
    to: NaiveDate,
    chat: i64,
) -> Result<bool, AppError> {
    send_digest(
        app,
        team,
        from,
        to,
        chat,
        &format!("telegram.digest.{}.{to}", team.id),
    )
}

/// The same digest in a member's private chat, for a member who asked for it (`/digest here`).
pub fn send_member_digest(
    app: &App,
    team: &Team,
    member: &Member,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<bool, AppError> {
    match member.identities.telegram_chat_id {
        Some(chat) if member.digest_channels.contains(&Channel::Telegram) => send_digest(
            app,
            team,
            from,
            to,
            chat,
            &format!("telegram.digest.member.{}.{to}", member.id),
        ),
        _ => Ok(false),
    }
}

fn send_digest(
    app: &App,
    team: &Team,
    from: NaiveDate,
    to: NaiveDate,
    chat: i64,
    once_key: &str,
) -> Result<bool, AppError> {
    let Some(tg) = app.telegram() else {
        return Ok(false);
    };
    if !app.store.mark_once(once_key)? {
        return Ok(false);
    }
    let dones = app.store.team_dones(team.id, from, to)?;
    let members = app.store.members_of(team.id)?;
    let mut sections = Vec::new();
    let mut quiet = Vec::new();
    for m in &members {
        let lines: Vec<String> = dones
            .iter()
            .filter(|d| d.member_id == m.id)
            .map(|d| match d.kind {
                storage::DoneKind::Done => d.text.clone(),
                storage::DoneKind::Goal => format!("Goal: {}", d.text),
                storage::DoneKind::Blocker => format!("Blocker: {}", d.text),
            })
            .collect();
        if lines.is_empty() {
            if matches!(m.state, MemberState::Active) {
                quiet.push(m.name.clone());
            }
        } else {
            sections.push(ChatSection {
                title: m.name.clone(),
                lines,
            });
        }
    }
    if !quiet.is_empty() {
        sections.push(ChatSection {
            title: "No answer from".into(),
            lines: quiet,
        });
    }
    let span = if from == to {
        from.format("%A, %B %-d").to_string()
    } else {
        format!("{} – {}", from.format("%a %b %-d"), to.format("%a %b %-d"))
    };
    let text = format!("What {} got done on {span}", team.name);
    let send = ChatSend {
        key: format!("{once_key}:telegram"),
        chat_id: chat.to_string(),
        kind: ChatKind::Digest,
        text,
        sections,
        reply_to: None,
    };
    let team_id = team.id;
    actix_rt::spawn(async move {
        match tg.send(send).await {
            Ok(Ok(_)) => info!(team_id, %to, "digest posted on telegram"),
            Ok(Err(e)) => warn!(team_id, error = %e, "telegram digest not posted"),
            Err(e) => warn!(team_id, error = %e, "telegram channel unavailable"),
        }
    });
    Ok(true)
}
