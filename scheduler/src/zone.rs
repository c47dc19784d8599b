//! Time zones, and how a wall-clock time in a zone becomes an instant.
//!
//! This module owns the DST rules of the crate and nothing else: a wall-clock time that exists once is
//! that instant; one that exists twice (the fall-back overlap) is its *first* occurrence; one that does
//! not exist (the spring-forward gap) is read with the UTC offset in effect just before the gap, so it
//! moves forward by the gap's length, as RFC 5545 prescribes (02:30 on 2026-03-08 in New York is 03:30
//! EDT). Invariant: `resolve` is a pure function of the zone and the wall-clock time; callers that
//! order or deduplicate fires rely on it returning the same instant every time.

use chrono::{DateTime, Duration, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::ScheduleError;

/// Looks up an IANA zone name (`"Europe/London"`, `"America/New_York"`, `"UTC"`); surrounding blanks
/// are ignored, case is not.
pub fn parse_tz(name: &str) -> Result<Tz, ScheduleError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| ScheduleError::UnknownTimeZone {
            name: name.to_owned(),
        })
}

/// A wall-clock time placed on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) at: DateTime<Utc>,
    /// The wall-clock time fell in a gap and was moved forward by the gap's length.
    pub(crate) shifted: bool,
}

/// The longest a DST or zone change can skip. The tz database's longest gap is a whole day (Samoa
/// skipped 2011-12-30; Kwajalein skipped 1993-08-21); two days leaves room.
const MAX_GAP: Duration = Duration::days(2);

/// Places a wall-clock time of `tz` on the timeline (see the module doc for the three cases).
/// `None` only when the arithmetic leaves chrono's range, never for years chrono-tz covers.
pub(crate) fn resolve(tz: Tz, local: NaiveDateTime) -> Option<Resolved> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Some(Resolved {
            at: at.to_utc(),
            shifted: false,
        }),
        LocalResult::None => {
            let before = offset_before_gap(tz, local)?;
            let at = local.checked_sub_signed(offset_duration(before))?.and_utc();
            Some(Resolved { at, shifted: true })
        }
    }
}

/// The offset in effect just before the gap that contains `local`: that of the latest wall-clock
/// time before it that exists. Gaps start on whole minutes in every zone since the 1970s, and any
/// existing time within the minute before a gap still carries the old offset.
fn offset_before_gap(tz: Tz, local: NaiveDateTime) -> Option<FixedOffset> {
    let mut probe = local;
    let mut walked = Duration::zero();
    while walked <= MAX_GAP {
        probe = probe.checked_sub_signed(Duration::minutes(1))?;
        walked += Duration::minutes(1);
        match tz.offset_from_local_datetime(&probe) {
            LocalResult::Single(offset) | LocalResult::Ambiguous(_, offset) => {
                return Some(offset.fix());
            }
            LocalResult::None => {}
        }
    }
    None
}

/// The smallest UTC offset of `tz` at any moment of the [`MAX_GAP`] before `at`, sampled hourly
/// (no offset in the tz database lasts less than an hour). A wall-clock time that fires after `at`
/// is never earlier than `at` read with this offset, so a search for the next fire may start there.
pub(crate) fn smallest_recent_offset(tz: Tz, at: DateTime<Utc>) -> FixedOffset {
    let offset_at = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let hours = MAX_GAP.num_hours() + 1;
    (1..=hours)
        .filter_map(|h| at.checked_sub_signed(Duration::hours(h)))
        .map(offset_at)
        .fold(offset_at(at), |a, b| {
            if b.local_minus_utc() < a.local_minus_utc() {
                b
            } else {
                a
            }
        })
}

pub(crate) fn offset_duration(offset: FixedOffset) -> Duration {
    Duration::seconds(i64::from(offset.local_minus_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|date| date.and_hms_opt(h, min, 0))
            .expect("valid test date")
    }

    fn rfc3339(tz: Tz, r: Resolved) -> String {
        r.at.with_timezone(&tz).to_rfc3339()
    }

    #[test]
    fn parses_known_zones_and_names_unknown_ones() {
        assert_eq!(parse_tz("Europe/London"), Ok(Tz::Europe__London));
        assert_eq!(parse_tz(" UTC "), Ok(Tz::UTC));
        assert_eq!(
            parse_tz("Mars/Base").map_err(|e| e.to_string()),
            Err(
                "unknown time zone \"Mars/Base\" (expected an IANA name such as \"Europe/London\" \
                 or \"UTC\")"
                    .to_owned()
            )
        );
    }

    #[test]
    fn gap_moves_forward_by_its_length() {
        let ny = Tz::America__New_York;
        let r = resolve(ny, local(2026, 3, 8, 2, 30)).expect("in range");
        assert!(r.shifted);
        assert_eq!(rfc3339(ny, r), "2026-03-08T03:30:00-04:00");

        let lord_howe = Tz::Australia__Lord_Howe;
        let r = resolve(lord_howe, local(2026, 10, 4, 2, 15)).expect("in range");
        assert_eq!(rfc3339(lord_howe, r), "2026-10-04T02:45:00+11:00");

        // Kathmandu moved from +05:30 to +05:45 at midnight on 1986-01-01: a 15-minute gap.
        let kathmandu = Tz::Asia__Kathmandu;
        let r = resolve(kathmandu, local(1986, 1, 1, 0, 5)).expect("in range");
        assert_eq!(rfc3339(kathmandu, r), "1986-01-01T00:20:00+05:45");
    }

    #[test]
    fn overlap_takes_the_first_occurrence() {
        let ny = Tz::America__New_York;
        let r = resolve(ny, local(2026, 11, 1, 1, 30)).expect("in range");
        assert!(!r.shifted);
        assert_eq!(rfc3339(ny, r), "2026-11-01T01:30:00-04:00");

        let london = Tz::Europe__London;
        let r = resolve(london, local(2026, 10, 25, 1, 30)).expect("in range");
        assert_eq!(rfc3339(london, r), "2026-10-25T01:30:00+01:00");
    }

    #[test]
    fn samoa_skipped_day_reads_with_the_old_offset() {
        // Pacific/Apia went from -10:00 to +14:00 at the end of 2011-12-29 (local).
        let apia = Tz::Pacific__Apia;
        let r = resolve(apia, local(2011, 12, 30, 18, 0)).expect("in range");
        assert_eq!(rfc3339(apia, r), "2011-12-31T18:00:00+14:00");
    }

    #[test]
    fn smallest_recent_offset_sees_the_offset_before_a_spring_forward() {
        let ny = Tz::America__New_York;
        let after_change = DateTime::parse_from_rfc3339("2026-03-08T03:10:00-04:00")
            .expect("valid")
            .to_utc();
        assert_eq!(
            smallest_recent_offset(ny, after_change).local_minus_utc(),
            -5 * 3600
        );
    }
}
