//! The commands people give donebot, one file each, shared by every channel: a chat message
//! (`/pause`), an email reply (`pause`), a link in an email (the pause page).
//!
//! Owns: parsing a command's words ([`parse`]), applying it ([`run`]) and the answer's wording. A
//! command makes its effects durable (flushed) before it returns its answer, so a channel may
//! acknowledge the message that carried it (a webhook's `200`, an SMTP `250` came earlier and the
//! inbound log covers it) only then. It is not the channel: who is writing (the member) and
//! where to answer are the caller's business.
//!
//! Who writes what: dones are written by the member's team actor (`done` goes through
//! `RecordReply`); a member's state and digest channels (`pause`, `resume`, `unsubscribe`,
//! `digest`) and `undo`'s deletion are written here directly, in one storage transaction each,
//! and the team actor is told to reload.

mod digest;
pub mod done;
pub mod link;
mod pause;
mod resume;
pub mod schedule;
mod today;
mod undo;
mod unsubscribe;
pub mod words;

use chrono::NaiveDate;
use storage::{Channel, Member, MemberState};

use crate::actors::Actors;
use crate::actors::team::Reload;
use crate::context::AppContext;
use crate::error::{AppError, AppResult};

pub use done::{Origin, retract};

/// A command, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Record what follows as dones (`/done TEXT`, or a plain message).
    Done(String),
    Undo,
    Pause(Option<NaiveDate>),
    Resume,
    Unsubscribe,
    Today,
    /// Also get the digest on this channel (`true`) or no more (`false`).
    Digest(bool),
    /// The member's own prompt days (ISO weekdays), or the team's (`None`).
    Days(Option<Vec<u8>>),
    /// The member's own prompt time in their zone, or the team's (`None`).
    Time(Option<chrono::NaiveTime>),
    Help,
}

const PAUSE_USAGE: &str = "Usage: /pause or /pause until YYYY-MM-DD";

/// Parses a command's name (without `/`) and its argument. `None`: not a command donebot knows.
pub fn parse(name: &str, rest: &str) -> Option<AppResult<Command>> {
    let rest = rest.trim();
    Some(match name {
        "done" if rest.is_empty() => {
            Err(AppError::Invalid("Usage: /done what you got done".into()))
        }
        "done" => Ok(Command::Done(rest.to_owned())),
        "undo" => Ok(Command::Undo),
        "pause" => pause::parse(rest),
        "resume" | "unpause" => Ok(Command::Resume),
        "unsubscribe" | "stop" => Ok(Command::Unsubscribe),
        "today" => Ok(Command::Today),
        "digest" => digest::parse(rest),
        "days" => schedule::parse_days(rest),
        "time" => schedule::parse_time(rest),
        "help" => Ok(Command::Help),
        _ => return None,
    })
}

/// Applies `command` for `member`, who gave it on `channel`; answers what to tell them.
pub async fn run(
    app: &AppContext,
    actors: &Actors,
    member: &Member,
    channel: Channel,
    command: Command,
    origin: Origin,
) -> AppResult<Option<String>> {
    Ok(Some(match command {
        Command::Done(text) => return done::run(app, actors, member, &text, origin).await,
        Command::Undo => undo::run(app, member)?,
        Command::Pause(until) => pause::run(app, actors, member, until)?,
        Command::Resume => resume::run(app, actors, member)?,
        Command::Unsubscribe => unsubscribe::run(app, actors, member)?,
        Command::Today => today::run(app, member)?,
        Command::Digest(on) => digest::run(app, actors, member, channel, on)?,
        Command::Days(days) => schedule::run(app, actors, member, Some(days), None)?,
        Command::Time(time) => schedule::run(app, actors, member, None, Some(time))?,
        Command::Help => HELP.to_owned(),
    }))
}

const HELP: &str = "Reply to my question with one line per thing you got done.\n/done TEXT adds one any time, /undo removes your last one, /today shows today's, /pause [until YYYY-MM-DD] and /resume, /digest here or off, /days mon wed fri and /time 17:00 for your own prompt days and time.";

/// Changes a member's state, durably, and tells their team actor.
pub fn set_state(
    app: &AppContext,
    actors: &Actors,
    member: u64,
    state: MemberState,
) -> AppResult<Member> {
    // A former member stays one: "resume" from an old email does not bring them back.
    if matches!(app.store.member(member)?.state, MemberState::Removed { .. }) {
        return Err(AppError::Invalid(
            "you are no longer a member of this team".into(),
        ));
    }
    let m = app
        .store
        .update_member(member, |m| m.state = state.clone())?;
    app.store.flush()?;
    actors.team(m.team_id)?.do_send(Reload);
    Ok(m)
}

/// The member's local today.
pub fn member_today(app: &AppContext, member: &Member) -> AppResult<NaiveDate> {
    let team = app.store.team(member.team_id)?;
    let tz = crate::ops::parse_tz(member.timezone.as_deref().unwrap_or(&team.timezone))?;
    Ok(app.now().with_timezone(&tz).date_naive())
}
