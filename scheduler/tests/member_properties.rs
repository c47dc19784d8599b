//! Property tests of a member's own prompt days and time: in any zone, across DST changes, their
//! prompt fires exactly once on each chosen day that is not a holiday, at their time (or, on a
//! spring-forward day when that time does not exist, at the same instant the clock reads after
//! the gap), and never on another day.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::{TZ_VARIANTS, Tz};
use proptest::prelude::*;
use scheduler::{Calendar, MemberChoice, Schedule, prompt_calendar, prompt_expr};

fn zone(index: usize) -> Tz {
    const UNUSUAL: [Tz; 5] = [
        Tz::Europe__Berlin,
        Tz::America__New_York,
        Tz::Australia__Lord_Howe,
        Tz::Asia__Kathmandu,
        Tz::Pacific__Chatham,
    ];
    if index.is_multiple_of(3) {
        UNUSUAL[(index / 3) % UNUSUAL.len()]
    } else {
        TZ_VARIANTS[index % TZ_VARIANTS.len()]
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_member_is_prompted_once_on_each_of_their_days_at_their_time(
        zone_index in 0usize..2_000,
        day_mask in 1u8..128,
        hour in 0u32..24,
        minute in 0u32..60,
        start_offset in 0i64..3_000,
        holiday_offset in 0i64..60,
    ) {
        let tz = zone(zone_index);
        let days: Vec<u8> = (1..=7).filter(|d| day_mask & (1 << (d - 1)) != 0).collect();
        let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap();
        let choice = MemberChoice { days: Some(&days), time: Some(time) };
        let start = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + Duration::days(start_offset);
        let holiday = start + Duration::days(holiday_offset);
        let team = Calendar {
            holidays: BTreeSet::from([holiday]),
            ..Calendar::default()
        };
        let expr = prompt_expr("0 18 * * 1-5", &choice).unwrap();
        let calendar = prompt_calendar(&team, &choice).unwrap();
        let schedule = Schedule::new(&expr, tz).unwrap();

        // 60 local days, from midnight UTC of the day before (every zone's `start` is after it).
        let from = Utc.from_utc_datetime(&(start - Duration::days(1)).and_hms_opt(0, 0, 0).unwrap());
        let to = from + Duration::days(62);
        let mut seen = BTreeSet::new();
        for fire in schedule.fires_between(from, to) {
            let local = fire.at.with_timezone(&tz);
            let day = fire.local_date;
            if day < start || day >= start + Duration::days(60) {
                continue;
            }
            if !calendar.is_workday(day) {
                continue;
            }
            // Their day, not a holiday, once.
            prop_assert!(days.contains(&(day.weekday().number_from_monday() as u8)));
            prop_assert_ne!(day, holiday);
            prop_assert!(seen.insert(day), "twice on {}", day);
            // Their time, or the instant after a gap that swallowed it.
            let at = (local.hour(), local.minute());
            if at != (hour, minute) {
                let nominal = day.and_time(time);
                prop_assert!(
                    tz.from_local_datetime(&nominal).earliest().is_none(),
                    "{} fired at {} though {} exists", day, local, nominal
                );
            }
        }
        // Every chosen day that is not a holiday had its prompt.
        for offset in 0..60 {
            let day = start + Duration::days(offset);
            let chosen = days.contains(&(day.weekday().number_from_monday() as u8));
            prop_assert_eq!(seen.contains(&day), chosen && day != holiday, "{}", day);
        }
    }
}
