//! Property tests: schedules across every zone of the tz database and DST changes, 1990–2037.
//!
//! The oracle is deliberately simple and independent of the crate's search: it lists every nominal
//! wall-clock time of the expression in a wide window (with the `cron` crate directly), places each
//! one on the timeline (first occurrence for an overlap; for a gap, the offset in effect before it,
//! found from the other side), sorts, and keeps the first of equal instants. The crate must agree
//! exactly, and its fires must be strictly increasing, each nominal time at most once.

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc,
};
use chrono_tz::{TZ_VARIANTS, Tz};
use proptest::prelude::*;
use scheduler::{Fire, Schedule};

/// (what the user writes, the same in the `cron` crate's 6-field form for the oracle).
const EXPRESSIONS: [(&str, &str); 12] = [
    ("*/30 * * * *", "0 */30 * * * *"),
    ("30 2 * * *", "0 30 2 * * *"),
    ("30 1 * * *", "0 30 1 * * *"),
    ("0 18 * * 1-5", "0 0 18 * * Mon-Fri"),
    ("15,40 2 * * *", "0 15,40 2 * * *"),
    ("*/20 0-3 * * *", "0 */20 0-3 * * *"),
    ("45 23 * * *", "0 45 23 * * *"),
    ("0 0 * * *", "0 0 0 * * *"),
    ("10 * * * 0,6", "0 10 * * * Sun,Sat"),
    ("0 30 */7 * * *", "0 30 */7 * * *"),
    // Minutes off the gap's grid: a moved time overtakes a later nominal one (Lord Howe's 30 min).
    ("15,40 * * * *", "0 15,40 * * * *"),
    ("5,20,50 1-3 * * *", "0 5,20,50 1-3 * * *"),
];

/// Zones whose changes are unusual: half-hour DST, quarter-hour offsets, skipped days, the south.
const UNUSUAL_ZONES: [Tz; 8] = [
    Tz::Australia__Lord_Howe,
    Tz::Asia__Kathmandu,
    Tz::Pacific__Apia,
    Tz::Pacific__Kwajalein,
    Tz::Pacific__Chatham,
    Tz::America__New_York,
    Tz::Europe__London,
    Tz::Australia__Sydney,
];

/// Any zone of the database, but a quarter of the time one of the [`UNUSUAL_ZONES`].
fn zone(index: usize) -> Tz {
    if index.is_multiple_of(4) {
        UNUSUAL_ZONES[(index / 4) % UNUSUAL_ZONES.len()]
    } else {
        TZ_VARIANTS[index % TZ_VARIANTS.len()]
    }
}

fn offset_secs(tz: Tz, at: DateTime<Utc>) -> i64 {
    i64::from(
        tz.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

/// The hours (to the hour, UTC) in `year` in which `tz` changes its UTC offset.
fn transitions(tz: Tz, year: i32) -> Vec<DateTime<Utc>> {
    let start = NaiveDate::from_ymd_opt(year, 1, 1)
        .expect("valid year")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let changes =
        |t: DateTime<Utc>, step: Duration| offset_secs(tz, t) != offset_secs(tz, t + step);
    (0..366)
        .map(|d| start + Duration::days(d))
        .filter(|&day| changes(day, Duration::days(1)))
        .filter_map(|day| {
            (0..24)
                .map(|h| day + Duration::hours(h))
                .find(|&hour| changes(hour, Duration::hours(1)))
        })
        .collect()
}

/// Where a nominal wall-clock time fires, per RFC 5545, and how far a gap moved it.
fn oracle_place(tz: Tz, nominal: NaiveDateTime) -> (DateTime<Utc>, Duration) {
    match tz.from_local_datetime(&nominal) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => (t.to_utc(), Duration::zero()),
        LocalResult::None => {
            // The first existing time after the gap carries the new offset; an instant read with it
            // lies just before the change, where the old offset is still in effect.
            let after_gap = (1..=3000)
                .map(|m| nominal + Duration::minutes(m))
                .find_map(|t| tz.offset_from_local_datetime(&t).earliest())
                .expect("gaps are shorter than two days");
            let new = Duration::seconds(i64::from(after_gap.fix().local_minus_utc()));
            let old_offset = tz.offset_from_utc_datetime(&(nominal - new)).fix();
            let old = Duration::seconds(i64::from(old_offset.local_minus_utc()));
            ((nominal - old).and_utc(), new - old)
        }
    }
}

/// Every fire in (from, to] by brute force.
fn oracle(six_field: &str, tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Fire> {
    let cron = cron::Schedule::from_str(six_field).expect("valid oracle expression");
    let first = from.naive_utc() - Duration::days(3);
    let last = to.naive_utc() + Duration::days(3);
    let mut placed: Vec<(DateTime<Utc>, NaiveDateTime)> = cron
        .after(&first.and_utc())
        .map(|t| t.naive_utc())
        .take_while(|&n| n <= last)
        .map(|n| (oracle_place(tz, n).0, n))
        .filter(|&(at, _)| from < at && at <= to)
        .collect();
    placed.sort();
    placed.dedup_by_key(|(at, _)| *at);
    placed
        .into_iter()
        .map(|(at, n)| Fire {
            at,
            local_date: n.date(),
        })
        .collect()
}

/// A window of a minute to two days, mostly starting within a day before one of the zone's offset
/// changes, so that most windows straddle it.
fn window() -> impl Strategy<Value = (usize, usize, i32, usize, bool, i64, i64)> {
    (
        0..EXPRESSIONS.len(),
        0..TZ_VARIANTS.len(),
        1990..=2037i32,
        any::<usize>(),
        prop::bool::weighted(0.8),
        -24 * 60..2 * 60i64,
        1..48 * 60i64,
    )
}

fn start_of((tz, year, pick, near_change, minutes): (Tz, i32, usize, bool, i64)) -> DateTime<Utc> {
    let changes = transitions(tz, year);
    let base = if near_change && !changes.is_empty() {
        changes[pick % changes.len()]
    } else {
        NaiveDate::from_yo_opt(year, 1 + (pick % 365) as u32)
            .expect("valid ordinal")
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
    };
    base + Duration::minutes(minutes)
}

fn check_fires_match_oracle(
    tz: Tz,
    (five, six): (&str, &str),
    from: DateTime<Utc>,
    length_min: i64,
) -> Result<(), TestCaseError> {
    let to = from + Duration::minutes(length_min);
    let schedule = Schedule::new(five, tz).expect("valid expression");
    let got = schedule.fires_between(from, to);

    // Strictly increasing (so no duplicates), all inside (from, to].
    prop_assert!(got.windows(2).all(|w| w[0].at < w[1].at), "{got:?}");
    prop_assert!(got.iter().all(|f| from < f.at && f.at <= to));

    // Each fire's wall-clock time is its nominal time, or nominal + gap for a moved one; and no
    // nominal time fires twice.
    let cron = cron::Schedule::from_str(six).expect("valid oracle expression");
    let mut nominals = Vec::new();
    for fire in &got {
        let wall = fire.at.with_timezone(&tz).naive_local();
        let day_start = fire
            .local_date
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc();
        let nominal = cron
            .after(&(day_start - Duration::seconds(1)))
            .map(|t| t.naive_utc())
            .take_while(|n| n.date() == fire.local_date)
            .find(|&n| oracle_place(tz, n).0 == fire.at);
        prop_assert!(
            nominal.is_some(),
            "{fire:?} matches no nominal time of {five} in {tz}"
        );
        let nominal = nominal.expect("checked above");
        let (_, shift) = oracle_place(tz, nominal);
        prop_assert_eq!(wall, nominal + shift, "{:?}", fire);
        nominals.push(nominal);
    }
    let distinct = nominals.len();
    nominals.sort();
    nominals.dedup();
    prop_assert_eq!(nominals.len(), distinct);

    // Nothing skipped, nothing extra: exactly the brute-force answer.
    prop_assert_eq!(
        &got,
        &oracle(six, tz, from, to),
        "{} in {} from {}",
        five,
        tz,
        from
    );

    // And fires_between is next_after, repeated.
    let mut stepped = Vec::new();
    let mut t = from;
    while let Some(fire) = schedule.next_after(t).filter(|f| f.at <= to) {
        stepped.push(fire);
        t = fire.at;
    }
    prop_assert_eq!(got, stepped);
    Ok(())
}

fn check_next_after(
    tz: Tz,
    (five, six): (&str, &str),
    t: DateTime<Utc>,
) -> Result<(), TestCaseError> {
    let schedule = Schedule::new(five, tz).expect("valid expression");
    let next = schedule.next_after(t).expect("a fire before 2100");
    prop_assert!(next.at > t);
    // Nothing fires in between: the oracle over (t, next.at] holds exactly that fire.
    prop_assert_eq!(oracle(six, tz, t, next.at), vec![next]);
    prop_assert!(next.local_date.year() >= t.year() - 1);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fires_match_the_brute_force_oracle(
        (expr, zone_index, year, pick, near_change, offset_min, length_min) in window()
    ) {
        let tz = zone(zone_index);
        let from = start_of((tz, year, pick, near_change, offset_min));
        check_fires_match_oracle(tz, EXPRESSIONS[expr], from, length_min)?;
    }

    #[test]
    fn fires_match_the_oracle_across_unusual_changes(
        (expr, zone_index, year, pick, _near, offset_min, length_min) in window()
    ) {
        let tz = UNUSUAL_ZONES[zone_index % UNUSUAL_ZONES.len()];
        let from = start_of((tz, year, pick, true, offset_min));
        check_fires_match_oracle(tz, EXPRESSIONS[expr], from, length_min)?;
    }

    #[test]
    fn next_after_is_strictly_later_and_first(
        (expr, zone_index, year, pick, near_change, offset_min, _len) in window(),
        seconds in 0..3600i64,
    ) {
        let tz = zone(zone_index);
        let t = start_of((tz, year, pick, near_change, offset_min)) + Duration::seconds(seconds);
        check_next_after(tz, EXPRESSIONS[expr], t)?;
    }
}
