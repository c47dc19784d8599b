//! `digest here` / `digest off`: the morning digest also on this channel, or no more.

use storage::{Channel, Member};

use super::Command;
use crate::actors::Actors;
use crate::actors::team::Reload;
use crate::context::AppContext;
use crate::error::{AppError, AppResult};

pub fn parse(rest: &str) -> AppResult<Command> {
    match rest {
        "here" | "on" => Ok(Command::Digest(true)),
        "off" => Ok(Command::Digest(false)),
        _ => Err(AppError::Invalid(
            "Usage: /digest here (also get the morning digest in this chat) or /digest off".into(),
        )),
    }
}

pub fn run(
    app: &AppContext,
    actors: &Actors,
    member: &Member,
    channel: Channel,
    on: bool,
) -> AppResult<String> {
    let m = app.store.update_member(member.id, |m| {
        m.digest_channels.retain(|c| *c != channel);
        if on {
            m.digest_channels.push(channel);
        }
    })?;
    app.store.flush()?;
    actors.team(m.team_id)?.do_send(Reload);
    Ok(if on {
        "You'll get the morning digest here too.".into()
    } else {
        "No more digest here (it still comes by email).".into()
    })
}
