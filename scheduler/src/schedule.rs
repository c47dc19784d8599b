//! A cron expression evaluated in the wall-clock time of one zone: when prompts and digests fire.
//!
//! This module owns the order of fires on the timeline; what an expression means is
//! `dialect`'s, how a wall-clock time becomes an instant is [`crate::zone`]'s. The expression is run
//! over *naive* wall-clock times (the `cron` crate is handed them dressed as UTC so it applies no
//! zone rules of its own), and each nominal time is placed with the zone's DST rules. It reads no
//! clock: "now" is always a parameter.
//!
//! Invariant: fires are strictly increasing instants with no duplicates, and each nominal wall-clock
//! time fires at most once. Because a time in a spring-forward gap moves forward, nominal order is not
//! instant order (Lord Howe's 02:15 fires at 02:45, after 02:40), so [`Schedule::next_after`] keeps
//! scanning past gap times and stops only at a time that exists: everything nominally later fires
//! later still.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::ScheduleError;
use crate::dialect::{cron_crate_reason, to_cron_crate_dialect};
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

#[cfg(test)]
mod tests;
