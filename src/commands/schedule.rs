//! `days mon wed fri` / `time 17:00` (and `days team`, `time team`): the member's own prompt days
//! and time, over the team's. Checked against the team's schedule before it is stored, so a choice
//! that cannot work is refused with the reason rather than stored.

use chrono::{NaiveTime, Weekday};
use storage::Member;

use super::Command;
use crate::actors::Actors;
use crate::actors::team::Reload;
use crate::context::AppContext;
use crate::error::{AppError, AppResult};

const DAYS_USAGE: &str =
    "Usage: days mon wed fri (or mon-fri, or team for the team's working days)";
const TIME_USAGE: &str = "Usage: time 17:00 (in your time zone, or team for the team's time)";

/// `days …`: weekday names or ranges (`mon wed fri`, `mon-thu`), or `team`.
pub fn parse_days(rest: &str) -> AppResult<Command> {
    parse_day_list(rest).map(Command::Days)
}

/// Weekday names or ranges (`mon wed fri`, `mon-thu`, `1,3,5` as in cron) as ISO weekdays;
/// `team` (or `default`): `None`.
pub fn parse_day_list(rest: &str) -> AppResult<Option<Vec<u8>>> {
    let rest = rest.trim();
    if rest.eq_ignore_ascii_case("team") || rest.eq_ignore_ascii_case("default") {
        return Ok(None);
    }
    if rest.is_empty() {
        return Err(AppError::Invalid(DAYS_USAGE.into()));
    }
    let list = rest
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(",");
    let days = scheduler::parse_weekdays(&list)
        .map_err(|_| AppError::Invalid(format!("I can't read the days {rest:?}. {DAYS_USAGE}")))?;
    Ok(Some(
        days.iter(Weekday::Mon)
            .map(|d| d.number_from_monday() as u8)
            .collect(),
    ))
}

/// `time HH:MM`, or `team`.
pub fn parse_time(rest: &str) -> AppResult<Command> {
    let rest = rest.trim();
    if rest.eq_ignore_ascii_case("team") || rest.eq_ignore_ascii_case("default") {
        return Ok(Command::Time(None));
    }
    NaiveTime::parse_from_str(rest, "%H:%M")
        .map(|t| Command::Time(Some(t)))
        .map_err(|_| AppError::Invalid(format!("I can't read the time {rest:?}. {TIME_USAGE}")))
}

/// Stores the member's own days (`Some(Some(_))`), or the team's (`Some(None)`), and/or time.
pub fn run(
    app: &AppContext,
    actors: &Actors,
    member: &Member,
    days: Option<Option<Vec<u8>>>,
    time: Option<Option<NaiveTime>>,
) -> AppResult<String> {
    let team = app.store.team(member.team_id)?;
    let new_days = days.unwrap_or_else(|| member.prompt_days.clone());
    let new_time = time.unwrap_or(member.prompt_time);
    let choice = scheduler::MemberChoice {
        days: new_days.as_deref(),
        time: new_time,
    };
    scheduler::prompt_expr(&team.prompt_cron, &choice)
        .and_then(|_| scheduler::prompt_calendar(&scheduler::Calendar::default(), &choice))
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let m = app.store.update_member(member.id, |m| {
        m.prompt_days = new_days.clone();
        m.prompt_time = new_time;
    })?;
    app.store.flush()?;
    actors.team(m.team_id)?.do_send(Reload);
    Ok(describe(&m, &team))
}

/// "Your prompts come on Mon, Wed, Fri at 17:00 (Europe/Berlin)."
pub fn describe(m: &Member, team: &storage::Team) -> String {
    let days = match &m.prompt_days {
        Some(days) => days
            .iter()
            .filter_map(|n| scheduler::iso_weekday(*n))
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        None => "the team's working days".to_owned(),
    };
    let time = match m.prompt_time {
        Some(t) => t.format("%H:%M").to_string(),
        None => "the team's time".to_owned(),
    };
    let zone = m.timezone.as_deref().unwrap_or(&team.timezone);
    format!("Your prompts now come on {days} at {time} ({zone}).")
}
