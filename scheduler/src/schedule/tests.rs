//! Exact fires across DST changes, asserted as RFC 3339 strings in the schedule's zone.

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
        Err("invalid cron expression \"0 25 * * *\": hour 25 is out of range (0-23)".to_owned())
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
        Err(
            "invalid cron expression \"0 18 * *\": expected 5 fields (minute hour day-of-month \
             month day-of-week), or 6-7 with seconds first and an optional year last; found 4"
                .to_owned()
        )
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
    let first_day = s.preview(NaiveDate::MIN, 1);
    assert_eq!(
        first_day.iter().map(|t| t.to_rfc3339()).collect::<Vec<_>>(),
        ["1970-01-01T18:00:00+01:00"]
    );
    // Duration::MAX (292 million years) reaches back past every fire the cron crate knows.
    let late = instant("2100-12-30T00:00:00Z");
    let all_time = crate::due_fires(&s, DateTime::<Utc>::MIN_UTC, late, Duration::MAX);
    assert_eq!(
        all_time.first().map(|f| f.local_date),
        Some(date("1970-01-01"))
    );
    assert_eq!(
        all_time.last().map(|f| f.local_date),
        Some(date("2100-12-29"))
    );
    let never = crate::due_fires(&s, late, DateTime::<Utc>::MAX_UTC, Duration::hours(4));
    assert!(never.is_empty());
}
