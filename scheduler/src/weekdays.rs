//! Weekday lists as people write them: `"mon-fri"`, `"mon,wed,fri"`, and cron's day-of-week field.
//!
//! This module owns the *Unix* meaning of day-of-week numbers — 0 and 7 are Sunday, 1 is Monday — and
//! the names (`sun`/`sunday` … `sat`/`saturday`, any case). It is used by [`crate::Calendar`] config and
//! by [`crate::Schedule`] to translate a 5-field expression for the `cron` crate, whose own numbering
//! is Quartz's (1 is Sunday). Invariant: a parsed list is never silently empty — an unknown word, a
//! number above 7 or a zero step is an error, not "no days".

use chrono::{Weekday, WeekdaySet};

use crate::ScheduleError;

/// Unix day-of-week numbers 0..=6, in order.
const BY_UNIX_NUMBER: [Weekday; 7] = [
    Weekday::Sun,
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
];

/// Parses a weekday list such as `"mon-fri"`, `"Mon,Tue,Wed"`, `"sat-sun"`, `"1-5"` or `"*"`.
///
/// Items are separated by commas; each is a day, a range `a-b` (which may wrap, `fri-mon`), or `*`,
/// optionally followed by `/step`. Numbers follow Unix cron: 0 and 7 are Sunday.
pub fn parse_weekdays(input: &str) -> Result<WeekdaySet, ScheduleError> {
    parse_unix_day_of_week(input).map_err(|reason| ScheduleError::InvalidWeekdays {
        input: input.to_owned(),
        reason,
    })
}

/// Formats a set the way [`parse_weekdays`] reads it back: `"Mon,Tue,Wed,Thu,Fri"` (Monday first).
pub fn format_weekdays(days: WeekdaySet) -> String {
    days.iter(Weekday::Mon)
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The day-of-week grammar shared by config strings and 5-field cron; the error is the reason only.
pub(crate) fn parse_unix_day_of_week(field: &str) -> Result<WeekdaySet, String> {
    let field = field.trim();
    if field.is_empty() {
        return Err("no days given (expected e.g. \"mon-fri\" or \"mon,wed,fri\")".to_owned());
    }
    field
        .split(',')
        .map(parse_item)
        .try_fold(WeekdaySet::EMPTY, |acc, item| Ok(acc.union(item?)))
}

fn parse_item(item: &str) -> Result<WeekdaySet, String> {
    let item = item.trim();
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base.trim(), Some(parse_step(step.trim())?)),
        None => (item, None),
    };
    // Bounds are Unix numbers 0..=7; `*` and `N/step` run to 7 as in cronie.
    let (start, end) = if base == "*" || base == "?" {
        (0, 7)
    } else if let Some((a, b)) = base.split_once('-') {
        (parse_day(a.trim())?, parse_day(b.trim())?)
    } else {
        let day = parse_day(base)?;
        if step.is_some() { (day, 7) } else { (day, day) }
    };
    // A range that runs backwards wraps through the end of the week: fri-mon is Fri, Sat, Sun, Mon.
    let end = if end < start { end + 7 } else { end };
    Ok((start..=end)
        .step_by(usize::from(step.unwrap_or(1)))
        .map(|n| BY_UNIX_NUMBER[usize::from(n % 7)])
        .collect())
}

fn parse_step(step: &str) -> Result<u8, String> {
    match step.parse::<u8>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "step {step:?} must be a whole number of days above 0"
        )),
    }
}

fn parse_day(word: &str) -> Result<u8, String> {
    if let Ok(n) = word.parse::<u8>() {
        return if n <= 7 {
            Ok(n)
        } else {
            Err(format!(
                "day {n} is out of range (0-7, where 0 and 7 are Sunday)"
            ))
        };
    }
    let n = match word.to_ascii_lowercase().as_str() {
        "sun" | "sunday" => 0,
        "mon" | "monday" => 1,
        "tue" | "tues" | "tuesday" => 2,
        "wed" | "wednesday" => 3,
        "thu" | "thur" | "thurs" | "thursday" => 4,
        "fri" | "friday" => 5,
        "sat" | "saturday" => 6,
        _ => {
            return Err(format!(
                "{word:?} is not a day (expected mon, tue, wed, thu, fri, sat, sun or 0-7)"
            ));
        }
    };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Weekday::*;

    #[test]
    fn parses_names_ranges_and_lists() {
        let weekdays = WeekdaySet::from_array([Mon, Tue, Wed, Thu, Fri]);
        assert_eq!(parse_weekdays("mon-fri"), Ok(weekdays));
        assert_eq!(parse_weekdays("Monday - Friday"), Ok(weekdays));
        assert_eq!(parse_weekdays("1-5"), Ok(weekdays));
        assert_eq!(
            parse_weekdays("mon,tue,wed"),
            Ok(WeekdaySet::from_array([Mon, Tue, Wed]))
        );
        assert_eq!(
            parse_weekdays(" sat , sun "),
            Ok(WeekdaySet::from_array([Sat, Sun]))
        );
        assert_eq!(parse_weekdays("*"), Ok(WeekdaySet::ALL));
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        assert_eq!(parse_weekdays("0"), Ok(WeekdaySet::single(Sun)));
        assert_eq!(parse_weekdays("7"), Ok(WeekdaySet::single(Sun)));
        assert_eq!(
            parse_weekdays("5-7"),
            Ok(WeekdaySet::from_array([Fri, Sat, Sun]))
        );
        assert_eq!(parse_weekdays("0-6"), Ok(WeekdaySet::ALL));
    }

    #[test]
    fn ranges_wrap_and_steps_apply() {
        assert_eq!(
            parse_weekdays("fri-mon"),
            Ok(WeekdaySet::from_array([Fri, Sat, Sun, Mon]))
        );
        assert_eq!(
            parse_weekdays("sat-sun"),
            Ok(WeekdaySet::from_array([Sat, Sun]))
        );
        assert_eq!(
            parse_weekdays("*/2"),
            Ok(WeekdaySet::from_array([Sun, Tue, Thu, Sat]))
        );
        assert_eq!(
            parse_weekdays("1-5/2"),
            Ok(WeekdaySet::from_array([Mon, Wed, Fri]))
        );
        assert_eq!(
            parse_weekdays("1/3"),
            Ok(WeekdaySet::from_array([Mon, Thu, Sun]))
        );
    }

    #[test]
    fn rejects_nonsense_with_a_reason() {
        assert_eq!(
            parse_weekdays("mon-fry").map_err(|e| e.to_string()),
            Err(
                "invalid weekdays \"mon-fry\": \"fry\" is not a day (expected mon, tue, wed, thu, \
                 fri, sat, sun or 0-7)"
                    .to_owned()
            )
        );
        assert!(parse_weekdays("").is_err());
        assert!(parse_weekdays("8").is_err());
        assert!(parse_weekdays("*/0").is_err());
        assert!(parse_weekdays("mon,,tue").is_err());
        assert!(parse_weekdays("mon-").is_err());
    }

    #[test]
    fn format_round_trips() {
        let days = WeekdaySet::from_array([Sun, Mon, Fri]);
        assert_eq!(format_weekdays(days), "Mon,Fri,Sun");
        assert_eq!(parse_weekdays(&format_weekdays(days)), Ok(days));
    }
}
