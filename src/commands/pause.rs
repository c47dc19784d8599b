//! `pause` / `pause until YYYY-MM-DD`: no prompts until resumed, or through that day.

use chrono::NaiveDate;
use storage::{Member, MemberState};

use super::{Command, PAUSE_USAGE, set_state};
use crate::actors::Actors;
use crate::context::AppContext;
use crate::error::{AppError, AppResult};

pub fn parse(rest: &str) -> AppResult<Command> {
    match rest.strip_prefix("until").map(str::trim) {
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(|d| Command::Pause(Some(d)))
            .map_err(|_| AppError::Invalid(PAUSE_USAGE.into())),
        None if rest.is_empty() => Ok(Command::Pause(None)),
        None => Err(AppError::Invalid(PAUSE_USAGE.into())),
    }
}

pub fn run(
    app: &AppContext,
    actors: &Actors,
    member: &Member,
    until: Option<NaiveDate>,
) -> AppResult<String> {
    set_state(app, actors, member.id, MemberState::Paused { until })?;
    Ok(match until {
        Some(d) => format!("Paused until {d} (inclusive). /resume to come back earlier."),
        None => "Paused. /resume to start again.".into(),
    })
}
