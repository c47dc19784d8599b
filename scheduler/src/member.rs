//! A member's own prompt schedule: their days and time over the team's.
//!
//! A member may keep the team's schedule, or choose their own prompt days (ISO weekdays, 1 =
//! Monday … 7 = Sunday) and their own time ("HH:MM" in their zone). This module turns the team's
//! expression and calendar plus the member's choices into the expression and calendar their prompt
//! follows: with a choice of their own the expression fires every day at their time (the team's
//! time when they chose only days), and their calendar's working days are their days (the team's
//! when they chose only a time); the team's holidays always hold. Invariant: with no choice of
//! their own, the team's expression and calendar come back unchanged.

use chrono::{NaiveTime, Timelike, Weekday, WeekdaySet};

use crate::calendar::Calendar;
use crate::error::ScheduleError;

/// A member's own choices; `None` keeps the team's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberChoice<'a> {
    pub days: Option<&'a [u8]>,
    pub time: Option<NaiveTime>,
}

/// The weekday of an ISO number (1 = Monday … 7 = Sunday).
pub fn iso_weekday(n: u8) -> Option<Weekday> {
    match n {
        1 => Some(Weekday::Mon),
        2 => Some(Weekday::Tue),
        3 => Some(Weekday::Wed),
        4 => Some(Weekday::Thu),
        5 => Some(Weekday::Fri),
        6 => Some(Weekday::Sat),
        7 => Some(Weekday::Sun),
        _ => None,
    }
}

/// Checks a list of ISO weekdays: 1 to 7, at least one, none twice.
pub fn parse_iso_days(days: &[u8]) -> Result<WeekdaySet, ScheduleError> {
    let invalid = |reason: String| ScheduleError::InvalidWeekdays {
        input: format!("{days:?}"),
        reason,
    };
    if days.is_empty() {
        return Err(invalid("at least one day (1 = Monday … 7 = Sunday)".into()));
    }
    let mut set = WeekdaySet::EMPTY;
    for &n in days {
        let day = iso_weekday(n)
            .ok_or_else(|| invalid(format!("{n} is not a weekday (1 = Monday … 7 = Sunday)")))?;
        if !set.insert(day) {
            return Err(invalid(format!("{n} is given twice")));
        }
    }
    Ok(set)
}

/// The expression of the member's prompt.
pub fn prompt_expr(team_expr: &str, choice: &MemberChoice<'_>) -> Result<String, ScheduleError> {
    if choice.days.is_none() && choice.time.is_none() {
        return Ok(team_expr.to_owned());
    }
    let (minute, hour) = match choice.time {
        Some(t) => (t.minute().to_string(), t.hour().to_string()),
        None => {
            // The team's time of day: its minute and hour fields (5-field cron).
            let fields: Vec<&str> = team_expr.split_whitespace().collect();
            match fields.as_slice() {
                [minute, hour, _, _, _] => ((*minute).to_owned(), (*hour).to_owned()),
                _ => {
                    return Err(ScheduleError::InvalidCron {
                        expr: team_expr.to_owned(),
                        reason: "a member's own prompt days need the team's prompt as a 5-field \
                                 expression (minute hour day-of-month month day-of-week)"
                            .into(),
                    });
                }
            }
        }
    };
    // Every day at that time; which days prompt is the member's calendar's business.
    Ok(format!("{minute} {hour} * * *"))
}

/// The calendar of the member's prompt: their days (or the team's working days) and the team's
/// holidays.
pub fn prompt_calendar(
    team: &Calendar,
    choice: &MemberChoice<'_>,
) -> Result<Calendar, ScheduleError> {
    let working_days = match choice.days {
        Some(days) => parse_iso_days(days)?,
        None if choice.time.is_some() => team.working_days,
        None => return Ok(team.clone()),
    };
    Ok(Calendar {
        working_days,
        holidays: team.holidays.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_choice_is_the_team_schedule() {
        let team = Calendar::default();
        let none = MemberChoice::default();
        assert_eq!(prompt_expr("0 18 * * 1-5", &none).unwrap(), "0 18 * * 1-5");
        assert_eq!(prompt_calendar(&team, &none).unwrap(), team);
    }

    #[test]
    fn days_and_time_are_the_members() {
        let team = Calendar::default();
        let days = [1, 3, 5, 6];
        let choice = MemberChoice {
            days: Some(&days),
            time: NaiveTime::from_hms_opt(17, 5, 0),
        };
        assert_eq!(prompt_expr("0 18 * * 1-5", &choice).unwrap(), "5 17 * * *");
        let cal = prompt_calendar(&team, &choice).unwrap();
        assert!(cal.working_days.contains(Weekday::Sat));
        assert!(!cal.working_days.contains(Weekday::Tue));
        let only_days = MemberChoice {
            days: Some(&days),
            time: None,
        };
        assert_eq!(
            prompt_expr("30 18 * * 1-5", &only_days).unwrap(),
            "30 18 * * *"
        );
        assert!(prompt_expr("0 0 18 * * *", &only_days).is_err());
    }

    #[test]
    fn bad_days_are_refused() {
        for days in [&[][..], &[0], &[8], &[1, 1]] {
            assert!(parse_iso_days(days).is_err(), "{days:?}");
        }
    }
}
