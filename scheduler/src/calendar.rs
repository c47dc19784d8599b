//! A team's working days and holidays, and which local dates get a prompt or a digest.
//!
//! This module owns the meaning of "a workday" — a working weekday that is not a holiday — and the
//! span of days a digest reports. It works on local *dates* only; which instant a date starts at is
//! [`crate::Schedule`]'s business. Invariant: every search over dates is bounded
//! ([`LOOKBACK_DAYS`]), so a calendar with no working days answers `None`, never loops.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, Weekday, WeekdaySet};
use serde::{Deserialize, Serialize};

/// How far back [`Calendar::previous_workday`] looks before giving up.
pub const LOOKBACK_DAYS: u32 = 366;

/// Working days and holidays of a team.
///
/// In config and storage `working_days` is a list of day names (`["Mon", "Tue"]`) or one string in
/// the [`crate::parse_weekdays`] syntax (`"mon-fri"`); holidays are ISO dates. Both may be omitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    #[serde(with = "working_days_serde", default = "monday_to_friday")]
    pub working_days: WeekdaySet,
    #[serde(default)]
    pub holidays: BTreeSet<NaiveDate>,
}

fn monday_to_friday() -> WeekdaySet {
    WeekdaySet::from_array([
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ])
}

impl Default for Calendar {
    /// Monday to Friday, no holidays.
    fn default() -> Self {
        Calendar {
            working_days: monday_to_friday(),
            holidays: BTreeSet::new(),
        }
    }
}

impl Calendar {
    /// A working weekday that is not a holiday.
    pub fn is_workday(&self, d: NaiveDate) -> bool {
        self.working_days.contains(d.weekday()) && !self.holidays.contains(&d)
    }

    /// The last workday strictly before `d`; `None` if there is none within [`LOOKBACK_DAYS`].
    pub fn previous_workday(&self, d: NaiveDate) -> Option<NaiveDate> {
        d.iter_days()
            .rev()
            .skip(1)
            .take(LOOKBACK_DAYS as usize)
            .find(|&day| self.is_workday(day))
    }

    /// The days a digest sent on local date `d` covers: from the previous workday up to and including
    /// the day before `d` (Monday's digest covers Friday, Saturday, Sunday; after a Monday holiday,
    /// Tuesday's covers Friday to Monday). `None` if there is no previous workday.
    pub fn digest_span(&self, d: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        let first = self.previous_workday(d)?;
        let last = d.pred_opt()?;
        Some((first, last))
    }
}

/// Whether a member should be prompted on local date `d`: a workday, not a holiday, and not paused
/// (`paused_until` is inclusive: paused through that date, prompted again the day after).
pub fn should_prompt(cal: &Calendar, d: NaiveDate, paused_until: Option<NaiveDate>) -> bool {
    cal.is_workday(d) && paused_until.is_none_or(|until| d > until)
}

/// `WeekdaySet` has no serde support of its own: written as day names, read from names or a string.
mod working_days_serde {
    use chrono::{Weekday, WeekdaySet};
    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::ser::{SerializeSeq, Serializer};

    use crate::weekdays::parse_weekdays;

    pub(super) fn serialize<S: Serializer>(days: &WeekdaySet, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(usize::from(days.len())))?;
        for day in days.iter(Weekday::Mon) {
            seq.serialize_element(&day)?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<WeekdaySet, D::Error> {
        d.deserialize_any(WorkingDays)
    }

    struct WorkingDays;

    impl<'de> Visitor<'de> for WorkingDays {
        type Value = WeekdaySet;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(
                "a list of weekday names like [\"Mon\", \"Tue\"] or a string like \"mon-fri\"",
            )
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<WeekdaySet, E> {
            parse_weekdays(v).map_err(E::custom)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WeekdaySet, A::Error> {
            let mut days = WeekdaySet::EMPTY;
            while let Some(name) = seq.next_element::<String>()? {
                days = days.union(parse_weekdays(&name).map_err(de::Error::custom)?);
            }
            Ok(days)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("valid test date")
    }

    #[test]
    fn default_is_monday_to_friday() {
        let cal = Calendar::default();
        assert!(cal.is_workday(date("2026-03-06"))); // Friday
        assert!(!cal.is_workday(date("2026-03-07"))); // Saturday
        assert!(!cal.is_workday(date("2026-03-08"))); // Sunday
        assert!(cal.is_workday(date("2026-03-09"))); // Monday
    }

    #[test]
    fn monday_digest_covers_the_weekend() {
        let cal = Calendar::default();
        assert_eq!(
            cal.digest_span(date("2026-03-09")),
            Some((date("2026-03-06"), date("2026-03-08")))
        );
        assert_eq!(
            cal.digest_span(date("2026-03-10")),
            Some((date("2026-03-09"), date("2026-03-09")))
        );
    }

    #[test]
    fn holidays_are_skipped_and_folded_into_the_next_digest() {
        let cal = Calendar {
            holidays: [date("2026-05-25")].into(), // a Monday
            ..Calendar::default()
        };
        assert!(!cal.is_workday(date("2026-05-25")));
        assert_eq!(
            cal.previous_workday(date("2026-05-26")),
            Some(date("2026-05-22"))
        );
        assert_eq!(
            cal.digest_span(date("2026-05-26")),
            Some((date("2026-05-22"), date("2026-05-25")))
        );
        // Friday 2026-12-25 off: Monday's digest reaches back to Thursday.
        let cal = Calendar {
            holidays: [date("2026-12-25")].into(),
            ..Calendar::default()
        };
        assert_eq!(
            cal.digest_span(date("2026-12-28")),
            Some((date("2026-12-24"), date("2026-12-27")))
        );
    }

    #[test]
    fn no_working_days_means_no_previous_workday() {
        let cal = Calendar {
            working_days: WeekdaySet::EMPTY,
            holidays: BTreeSet::new(),
        };
        assert_eq!(cal.previous_workday(date("2026-03-09")), None);
        assert_eq!(cal.digest_span(date("2026-03-09")), None);
        assert_eq!(Calendar::default().previous_workday(NaiveDate::MIN), None);
    }

    #[test]
    fn prompts_on_workdays_unless_paused_through_the_date() {
        let cal = Calendar::default();
        let monday = date("2026-03-09");
        assert!(should_prompt(&cal, monday, None));
        assert!(!should_prompt(&cal, date("2026-03-08"), None));
        assert!(!should_prompt(&cal, monday, Some(monday)));
        assert!(!should_prompt(&cal, monday, Some(date("2026-03-20"))));
        assert!(should_prompt(&cal, monday, Some(date("2026-03-08"))));
        let holiday = Calendar {
            holidays: [monday].into(),
            ..Calendar::default()
        };
        assert!(!should_prompt(&holiday, monday, None));
    }

    #[test]
    fn serde_reads_names_or_a_string_and_writes_names() {
        let json = r#"{"working_days":["Mon","Tue","Wed","Thu","Fri"],"holidays":["2026-12-25"]}"#;
        let cal: Calendar = serde_json_like(json);
        assert_eq!(cal.working_days, monday_to_friday());
        assert_eq!(cal.holidays, [date("2026-12-25")].into());
        assert_eq!(to_json(&cal), json);

        let cal: Calendar = serde_json_like(r#"{"working_days":"sun-thu"}"#);
        assert_eq!(
            cal.working_days,
            WeekdaySet::from_array([
                Weekday::Sun,
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu
            ])
        );
        let cal: Calendar = serde_json_like("{}");
        assert_eq!(cal, Calendar::default());
    }

    fn serde_json_like(json: &str) -> Calendar {
        serde_json::from_str(json).expect("valid test json")
    }

    fn to_json(cal: &Calendar) -> String {
        serde_json::to_string(cal).expect("serializable")
    }
}
