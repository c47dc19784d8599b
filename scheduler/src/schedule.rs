//! A cron expression evaluated in the wall-clock time of one zone: when prompts and digests fire.
//!
//! This module owns the cron dialect (5-field Unix cron, or the `cron` crate's 6/7-field form with
//! seconds) and the order of fires on the timeline. The expression is run over *naive* wall-clock
//! times (the `cron` crate is handed them dressed as UTC so it applies no zone rules of its own), and
//! each nominal time is placed with [`crate::zone`]'s DST rules. It reads no clock: "now" is always
//! a parameter.
//!
//! Invariant: fires are strictly increasing instants with no duplicates, and each nominal wall-clock
//! time fires at most once. Because a time in a spring-forward gap moves forward, nominal order is not
//! instant order (Lord Howe's 02:15 fires at 02:45, after 02:40), so [`Schedule::next_after`] keeps
//! scanning past gap times and stops only at a time that exists: everything nominally later fires
//! later still.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::ScheduleError;
use crate::weekdays::parse_unix_day_of_week;
use crate::zone::{offset_duration, resolve, smallest_recent_offset};

/// A cron expression evaluated in local wall-clock time of a zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    tz: Tz,
    cron: cron::Schedule,
}

/// One firing of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fire {
    /// The instant it fires.
    pub at: DateTime<Utc>,
    /// The wall-clock date, in the schedule's zone, of the *nominal* (cron) time. It differs from the
    /// date of `at` only when a gap pushes a late-evening time past midnight.
    pub local_date: NaiveDate,
}

/// The `cron` crate's years: it yields nothing outside them.
const FIRST_CRON_YEAR: i32 = 1970;
const LAST_CRON_YEAR: i32 = 2100;

impl Schedule {
    /// Accepts standard 5-field cron (`"0 18 * * 1-5"`: minute, hour, day of month, month, day of
    /// week with 0 and 7 for Sunday), and also the `cron` crate's 6/7-field form with seconds first
    /// and an optional year last, whose day-of-week numbers are Quartz's (1 is Sunday; names such as
    /// `MON-FRI` mean the same in both). `@daily`, `@weekly`, … are accepted too.
    ///
    /// A 5-field expression that restricts both day of month and day of week is rejected: Unix cron
    /// fires when *either* matches, the `cron` crate only when both do, and guessing would be wrong
    /// for someone.
    pub fn new(expr: &str, tz: Tz) -> Result<Schedule, ScheduleError> {
        let invalid = |reason: String| ScheduleError::InvalidCron {
            expr: expr.to_owned(),
            reason,
        };
        let for_cron_crate = to_cron_crate_dialect(expr).map_err(invalid)?;
        let cron = cron::Schedule::from_str(&for_cron_crate)
            .map_err(|e| invalid(cron_crate_reason(&e.to_string(), &for_cron_crate)))?;
        Ok(Schedule {
            expr: expr.to_owned(),
            tz,
            cron,
        })
    }

    /// The expression as given by the user.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The first firing instant strictly after `after`; `None` once the `cron` crate's calendar
    /// (years 1970–2100) is exhausted.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<Fire> {
        let start = self.nominal_search_start(after)?;
        let mut best: Option<Fire> = None;
        for nominal in self.cron.after(&start.and_utc()) {
            let nominal = nominal.naive_utc();
            let Some(placed) = resolve(self.tz, nominal) else {
                continue;
            };
            // Strictly earlier only: of two nominal times that land on one instant, the first wins.
            if placed.at > after && best.is_none_or(|b| placed.at < b.at) {
                best = Some(Fire {
                    at: placed.at,
                    local_date: nominal.date(),
                });
            }
            // A time that exists fires before every nominally later time (module invariant).
            if !placed.shifted && placed.at > after {
                break;
            }
        }
        best
    }

    /// Every fire strictly after `after`, in order.
    pub fn fires_after(&self, after: DateTime<Utc>) -> Fires<'_> {
        Fires {
            schedule: self,
            after: Some(after),
        }
    }

    /// Every firing in (from, to], in order.
    pub fn fires_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Fire> {
        self.fires_after(from).take_while(|f| f.at <= to).collect()
    }

    /// The next `count` firings from the start (00:00 local) of `from` local date, inclusive of fires
    /// at exactly 00:00. If midnight itself is skipped by a gap, the day starts where the DST rules
    /// place 00:00 (the end of the gap, in practice).
    pub fn preview(&self, from: NaiveDate, count: usize) -> Vec<DateTime<Tz>> {
        let midnight = from.and_time(NaiveTime::MIN);
        let Some(before_midnight) = resolve(self.tz, midnight)
            .and_then(|start| start.at.checked_sub_signed(Duration::nanoseconds(1)))
        else {
            return Vec::new();
        };
        self.fires_after(before_midnight)
            .take(count)
            .map(|f| f.at.with_timezone(&self.tz))
            .collect()
    }

    /// A wall-clock time from which the cron crate may search: every nominal time whose fire is
    /// after `after` is strictly later than it. Reading `after` with the smallest recent offset makes
    /// room for gap times just before `after`'s wall-clock time that were moved past `after`.
    fn nominal_search_start(&self, after: DateTime<Utc>) -> Option<NaiveDateTime> {
        // Nothing fires before 1970, and far-past instants would overflow the offset arithmetic.
        let floor = NaiveDate::from_ymd_opt(FIRST_CRON_YEAR - 1, 12, 30)?.and_time(NaiveTime::MIN);
        let after = after.max(floor.and_utc());
        let offset = smallest_recent_offset(self.tz, after);
        let start = after
            .naive_utc()
            .checked_add_signed(offset_duration(offset))?;
        // The cron crate cannot start before its first year and yields nothing after its last.
        let earliest =
            NaiveDate::from_ymd_opt(FIRST_CRON_YEAR - 1, 12, 31)?.and_time(NaiveTime::MIN);
        if start.date() > NaiveDate::from_ymd_opt(LAST_CRON_YEAR, 12, 31)? {
            return None;
        }
        Some(start.max(earliest))
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\" in {}", self.expr, self.tz)
    }
}

/// The fires of a [`Schedule`] after an instant, in order; see [`Schedule::fires_after`].
#[derive(Debug, Clone)]
pub struct Fires<'a> {
    schedule: &'a Schedule,
    /// `None` once exhausted.
    after: Option<DateTime<Utc>>,
}

impl Iterator for Fires<'_> {
    type Item = Fire;

    fn next(&mut self) -> Option<Fire> {
        let fire = self.schedule.next_after(self.after?);
        self.after = fire.map(|f| f.at);
        fire
    }
}

impl std::iter::FusedIterator for Fires<'_> {}

/// Rewrites a user's expression into the `cron` crate's 6/7-field dialect; the error is the reason.
fn to_cron_crate_dialect(expr: &str) -> Result<String, String> {
    let trimmed = expr.trim();
    if trimmed.starts_with('@') {
        return Ok(trimmed.to_owned());
    }
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    match fields.as_slice() {
        [minute, hour, day_of_month, month, day_of_week] => {
            check_numbers("minute", minute, 0..=59)?;
            check_numbers("hour", hour, 0..=23)?;
            check_numbers("day of month", day_of_month, 1..=31)?;
            check_numbers("month", month, 1..=12)?;
            let unrestricted = |f: &str| f.starts_with('*') || f.starts_with('?');
            if !unrestricted(day_of_month) && !unrestricted(day_of_week) {
                return Err(format!(
                    "day of month ({day_of_month:?}) and day of week ({day_of_week:?}) are both \
                     restricted, which cron reads as \"either\"; restrict only one of them"
                ));
            }
            let day_of_week = if unrestricted(day_of_week) && !day_of_week.contains('/') {
                (*day_of_week).to_owned()
            } else {
                let days = parse_unix_day_of_week(day_of_week)
                    .map_err(|reason| format!("day of week: {reason}"))?;
                crate::weekdays::format_weekdays(days)
            };
            Ok(format!(
                "0 {minute} {hour} {day_of_month} {month} {day_of_week}"
            ))
        }
        [_, _, _, _, _, _] | [_, _, _, _, _, _, _] => Ok(fields.join(" ")),
        _ => Err(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), or 6-7 with seconds \
             first and an optional year last; found {}",
            fields.len()
        )),
    }
}

/// Range-checks the numbers of one 5-field cron field, so the message names the field and its range
/// (the `cron` crate would say "Hours must be less than 23" about a 5-field expression it never saw).
fn check_numbers(name: &str, field: &str, range: RangeInclusive<u32>) -> Result<(), String> {
    for item in field.split(',') {
        let (base, step) = item
            .split_once('/')
            .map_or((item, None), |(b, s)| (b, Some(s)));
        if let Some(step) = step
            && !matches!(step.parse::<u32>(), Ok(n) if n > 0)
        {
            return Err(format!(
                "{name}: step {step:?} must be a whole number above 0"
            ));
        }
        for value in base.split('-').filter_map(|v| v.parse::<u32>().ok()) {
            if !range.contains(&value) {
                let (lo, hi) = (range.start(), range.end());
                return Err(format!("{name} {value} is out of range ({lo}-{hi})"));
            }
        }
    }
    Ok(())
}

/// The `cron` crate's message without its echo of the expression and caret line, which would show
/// the rewritten 6-field form rather than what the user typed.
fn cron_crate_reason(message: &str, expr: &str) -> String {
    message
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('^'))
        .filter(|line| *line != expr.trim())
        .map_or_else(
            || "not a cron expression (expected e.g. \"0 18 * * 1-5\")".to_owned(),
            str::to_owned,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW_YORK: Tz = Tz::America__New_York;
    const LONDON: Tz = Tz::Europe__London;
    const LORD_HOWE: Tz = Tz::Australia__Lord_Howe;
    const KATHMANDU: Tz = Tz::Asia__Kathmandu;
    const SYDNEY: Tz = Tz::Australia__Sydney;

    fn instant(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid test instant")
            .to_utc()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("valid test date")
    }

    /// Fires in (from, to] as local RFC 3339 strings.
    fn fires(expr: &str, tz: Tz, from: &str, to: &str) -> Vec<String> {
        let s = Schedule::new(expr, tz).expect("valid test expression");
        s.fires_between(instant(from), instant(to))
            .iter()
            .map(|f| f.at.with_timezone(&tz).to_rfc3339())
            .collect()
    }

    #[test]
    fn keeps_the_expression_and_zone() {
        let s = Schedule::new("0 18 * * 1-5", NEW_YORK).expect("valid");
        assert_eq!(s.expr(), "0 18 * * 1-5");
        assert_eq!(s.tz(), NEW_YORK);
        assert_eq!(s.to_string(), "\"0 18 * * 1-5\" in America/New_York");
    }

    #[test]
    fn rejects_bad_expressions_with_the_input_quoted() {
        let err = |expr: &str| {
            Schedule::new(expr, LONDON)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            err("0 25 * * *"),
            Err(
                "invalid cron expression \"0 25 * * *\": hour 25 is out of range (0-23)".to_owned()
            )
        );
        assert_eq!(
            err("@often"),
            Err(
                "invalid cron expression \"@often\": not a cron expression (expected e.g. \
                 \"0 18 * * 1-5\")"
                    .to_owned()
            )
        );
        assert!(err("*/0 * * * *").is_err());
        assert!(err("0 0 25 * * *").is_err());
        assert_eq!(
            err("0 18 * *"),
            Err("invalid cron expression \"0 18 * *\": expected 5 fields (minute hour day-of-month \
                 month day-of-week), or 6-7 with seconds first and an optional year last; found 4"
                .to_owned())
        );
        assert!(err("0 18 * * mon-fry").is_err());
        assert!(err("0 18 * * 8").is_err());
        assert!(
            err("0 9 1 * 1")
                .expect_err("dom and dow")
                .contains("restrict only one")
        );
        assert!(err("").is_err());
        assert!(err("a b c d e").is_err());
    }

    #[test]
    fn five_field_day_of_week_is_unix_numbering() {
        // 2026-03-09 is a Monday.
        let s = Schedule::new("0 18 * * 1-5", Tz::UTC).expect("valid");
        let dates: Vec<NaiveDate> = s
            .fires_between(
                instant("2026-03-07T00:00:00Z"),
                instant("2026-03-16T00:00:00Z"),
            )
            .iter()
            .map(|f| f.local_date)
            .collect();
        let expected: Vec<NaiveDate> = ["09", "10", "11", "12", "13"]
            .iter()
            .map(|d| date(&format!("2026-03-{d}")))
            .collect();
        assert_eq!(dates, expected);
        for sunday in ["0 9 * * 0", "0 9 * * 7", "0 9 * * sun", "0 0 9 * * 1"] {
            let s = Schedule::new(sunday, Tz::UTC).expect("valid");
            let next = s
                .next_after(instant("2026-03-09T00:00:00Z"))
                .expect("a fire");
            assert_eq!(next.at, instant("2026-03-15T09:00:00Z"), "{sunday}");
        }
    }

    #[test]
    fn preview_moves_a_skipped_time_forward() {
        let s = Schedule::new("30 2 * * *", NEW_YORK).expect("valid");
        let shown: Vec<String> = s
            .preview(date("2026-03-07"), 3)
            .iter()
            .map(|t| t.to_rfc3339())
            .collect();
        assert_eq!(
            shown,
            [
                "2026-03-07T02:30:00-05:00",
                "2026-03-08T03:30:00-04:00",
                "2026-03-09T02:30:00-04:00"
            ]
        );
    }

    #[test]
    fn preview_includes_midnight() {
        let s = Schedule::new("0 0 * * *", LONDON).expect("valid");
        let shown: Vec<String> = s
            .preview(date("2026-03-29"), 2)
            .iter()
            .map(|t| t.to_rfc3339())
            .collect();
        assert_eq!(
            shown,
            ["2026-03-29T00:00:00+00:00", "2026-03-30T00:00:00+01:00"]
        );
        assert!(s.preview(date("2026-03-29"), 0).is_empty());
    }

    #[test]
    fn new_york_spring_forward() {
        assert_eq!(
            fires(
                "*/30 * * * *",
                NEW_YORK,
                "2026-03-08T01:00:00-05:00",
                "2026-03-08T04:00:00-04:00"
            ),
            [
                "2026-03-08T01:30:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-08T03:30:00-04:00",
                "2026-03-08T04:00:00-04:00",
            ]
        );
        let s = Schedule::new("30 2 * * *", NEW_YORK).expect("valid");
        let gap_day = s
            .next_after(instant("2026-03-07T12:00:00Z"))
            .expect("a fire");
        assert_eq!(gap_day.at, instant("2026-03-08T07:30:00Z"));
        assert_eq!(gap_day.local_date, date("2026-03-08"));
        // From inside the hour after the jump, the moved 02:30 (03:30 EDT) is still ahead.
        let from_inside = s
            .next_after(instant("2026-03-08T03:10:00-04:00"))
            .expect("a fire");
        assert_eq!(from_inside, gap_day);
    }

    #[test]
    fn new_york_fall_back() {
        assert_eq!(
            fires(
                "*/30 * * * *",
                NEW_YORK,
                "2026-11-01T00:00:00-04:00",
                "2026-11-01T02:00:00-05:00"
            ),
            [
                "2026-11-01T00:30:00-04:00",
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-01T02:00:00-05:00",
            ]
        );
        assert_eq!(
            fires(
                "30 1 * * *",
                NEW_YORK,
                "2026-10-31T00:00:00-04:00",
                "2026-11-03T00:00:00-05:00"
            ),
            [
                "2026-10-31T01:30:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-02T01:30:00-05:00",
            ]
        );
        // From inside the repeated hour, 01:30 has already fired: the next is tomorrow's.
        let s = Schedule::new("30 1 * * *", NEW_YORK).expect("valid");
        let next = s
            .next_after(instant("2026-11-01T01:15:00-05:00"))
            .expect("a fire");
        assert_eq!(
            next.at.with_timezone(&NEW_YORK).to_rfc3339(),
            "2026-11-02T01:30:00-05:00"
        );
    }

    #[test]
    fn london_at_one_thirty() {
        assert_eq!(
            fires(
                "30 1 * * *",
                LONDON,
                "2026-03-28T00:00:00Z",
                "2026-03-31T00:00:00Z"
            ),
            [
                "2026-03-28T01:30:00+00:00",
                "2026-03-29T02:30:00+01:00",
                "2026-03-30T01:30:00+01:00",
            ]
        );
        assert_eq!(
            fires(
                "30 1 * * *",
                LONDON,
                "2026-10-24T00:00:00Z",
                "2026-10-27T00:00:00Z"
            ),
            [
                "2026-10-24T01:30:00+01:00",
                "2026-10-25T01:30:00+01:00",
                "2026-10-26T01:30:00+00:00",
            ]
        );
    }

    #[test]
    fn lord_howe_half_hour_dst() {
        // DST ends 2026-04-05 at 02:00 (+11:00) back to 01:30 (+10:30): 01:30-02:00 repeats.
        assert_eq!(
            fires(
                "45 1 * * *",
                LORD_HOWE,
                "2026-04-03T12:00:00Z",
                "2026-04-06T00:00:00Z"
            ),
            [
                "2026-04-04T01:45:00+11:00",
                "2026-04-05T01:45:00+11:00",
                "2026-04-06T01:45:00+10:30",
            ]
        );
        assert_eq!(
            fires(
                "*/30 * * * *",
                LORD_HOWE,
                "2026-04-05T00:30:00+11:00",
                "2026-04-05T02:00:00+10:30"
            ),
            [
                "2026-04-05T01:00:00+11:00",
                "2026-04-05T01:30:00+11:00",
                "2026-04-05T02:00:00+10:30",
            ]
        );
        // DST starts 2026-10-04 at 02:00 (+10:30), straight to 02:30 (+11:00).
        assert_eq!(
            fires(
                "15 2 * * *",
                LORD_HOWE,
                "2026-10-02T12:00:00Z",
                "2026-10-05T12:00:00Z"
            ),
            [
                "2026-10-03T02:15:00+10:30",
                "2026-10-04T02:45:00+11:00",
                "2026-10-05T02:15:00+11:00",
            ]
        );
        assert_eq!(
            fires(
                "*/30 * * * *",
                LORD_HOWE,
                "2026-10-04T01:00:00+10:30",
                "2026-10-04T03:00:00+11:00"
            ),
            [
                "2026-10-04T01:30:00+10:30",
                "2026-10-04T02:30:00+11:00",
                "2026-10-04T03:00:00+11:00",
            ]
        );
        // Nominal 02:15 moves to 02:45, after the real 02:40: instant order, not nominal order.
        assert_eq!(
            fires(
                "15,40 2 * * *",
                LORD_HOWE,
                "2026-10-04T00:00:00+10:30",
                "2026-10-04T12:00:00+11:00"
            ),
            ["2026-10-04T02:40:00+11:00", "2026-10-04T02:45:00+11:00"]
        );
    }

    #[test]
    fn kathmandu_quarter_hour_offset() {
        assert_eq!(
            fires(
                "30 2 * * *",
                KATHMANDU,
                "2026-03-07T00:00:00Z",
                "2026-03-08T12:00:00Z"
            ),
            ["2026-03-08T02:30:00+05:45"]
        );
        // +05:30 became +05:45 at midnight on 1986-01-01.
        assert_eq!(
            fires(
                "5,20 0 * * *",
                KATHMANDU,
                "1985-12-31T12:00:00Z",
                "1986-01-01T12:00:00Z"
            ),
            ["1986-01-01T00:20:00+05:45"]
        );
    }

    #[test]
    fn sydney_southern_hemisphere() {
        assert_eq!(
            fires(
                "30 2 * * *",
                SYDNEY,
                "2026-04-03T12:00:00Z",
                "2026-04-05T12:00:00Z"
            ),
            ["2026-04-04T02:30:00+11:00", "2026-04-05T02:30:00+11:00"]
        );
        assert_eq!(
            fires(
                "30 2 * * *",
                SYDNEY,
                "2026-10-02T12:00:00Z",
                "2026-10-04T12:00:00Z"
            ),
            ["2026-10-03T02:30:00+10:00", "2026-10-04T03:30:00+11:00"]
        );
    }

    #[test]
    fn a_whole_skipped_day_fires_once() {
        // Samoa skipped 2011-12-30: its 18:00 lands on the instant of 2011-12-31 18:00.
        let apia = Tz::Pacific__Apia;
        let s = Schedule::new("0 18 * * *", apia).expect("valid");
        let got = s.fires_between(
            instant("2011-12-29T12:00:00Z"),
            instant("2012-01-02T00:00:00Z"),
        );
        let shown: Vec<(String, NaiveDate)> = got
            .iter()
            .map(|f| (f.at.with_timezone(&apia).to_rfc3339(), f.local_date))
            .collect();
        assert_eq!(
            shown,
            [
                ("2011-12-29T18:00:00-10:00".to_owned(), date("2011-12-29")),
                ("2011-12-31T18:00:00+14:00".to_owned(), date("2011-12-30")),
                ("2012-01-01T18:00:00+14:00".to_owned(), date("2012-01-01")),
            ]
        );
    }

    #[test]
    fn seconds_form_and_the_edges_of_the_calendar() {
        let s = Schedule::new("30 0 9 * * Mon-Fri", LONDON).expect("valid");
        let next = s
            .next_after(instant("2026-03-07T00:00:00Z"))
            .expect("a fire");
        assert_eq!(
            next.at.with_timezone(&LONDON).to_rfc3339(),
            "2026-03-09T09:00:30+00:00"
        );
        let s = Schedule::new("0 18 * * *", LONDON).expect("valid");
        assert_eq!(s.next_after(instant("2101-01-01T00:00:00Z")), None);
        assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC), None);
        let first = s.next_after(DateTime::<Utc>::MIN_UTC).expect("a fire");
        assert_eq!(first.local_date, date("1970-01-01"));
        assert!(s.preview(NaiveDate::MAX, 3).is_empty());
    }
}
