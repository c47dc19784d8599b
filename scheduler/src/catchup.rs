//! Catch-up after downtime: which fires missed while the server was down are still worth acting on.
//!
//! This module owns the grace rule only: a fire missed by more than `grace` is dropped (a prompt
//! asking "what did you get done today?" at 3 a.m. helps no one), anything later is delivered now.
//! It does not remember what was delivered; the caller persists `last_checked`. Invariant: windows
//! are half-open, (last_checked, now], so calling again with `last_checked = now` never repeats a fire.

use chrono::{DateTime, Duration, Utc};

use crate::{Fire, Schedule};

/// The fires in (last_checked, now] whose lateness (`now - fire.at`) is at most `grace`, in order.
/// Each fire is returned by at most one of a sequence of calls whose windows follow one another;
/// pure. Empty if `now` is not after `last_checked` or `grace` is negative.
pub fn due_fires(
    s: &Schedule,
    last_checked: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Vec<Fire> {
    if now <= last_checked || grace < Duration::zero() {
        return Vec::new();
    }
    // Fires at or after `now - grace` are on time; start just before it so one exactly at the edge
    // counts. A grace reaching past the representable past just means "everything since last_checked".
    let from = now
        .checked_sub_signed(grace)
        .and_then(|t| t.checked_sub_signed(Duration::nanoseconds(1)))
        .map_or(last_checked, |edge| edge.max(last_checked));
    s.fires_between(from, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};
    use chrono_tz::Tz;

    const ZONES: [Tz; 6] = [
        Tz::America__New_York,
        Tz::Europe__London,
        Tz::Australia__Lord_Howe,
        Tz::Asia__Kathmandu,
        Tz::Australia__Sydney,
        Tz::Pacific__Chatham,
    ];

    fn local(tz: Tz, date: &str, h: u32) -> DateTime<Utc> {
        let date: NaiveDate = date.parse().expect("valid test date");
        let naive = date.and_hms_opt(h, 0, 0).expect("valid test time");
        tz.from_local_datetime(&naive)
            .single()
            .expect("test times are unambiguous")
            .to_utc()
    }

    #[test]
    fn downtime_over_the_prompt_delivers_it_once() {
        // 2026-03-11 is a Wednesday; 2026-03-08 is a DST change in New York only (days before).
        for tz in ZONES {
            let s = Schedule::new("0 18 * * 1-5", tz).expect("valid");
            let down = local(tz, "2026-03-11", 17);
            let up = local(tz, "2026-03-11", 20);
            let due = due_fires(&s, down, up, Duration::hours(4));
            assert_eq!(
                due,
                vec![Fire {
                    at: local(tz, "2026-03-11", 18),
                    local_date: "2026-03-11".parse().expect("valid"),
                }],
                "{tz}"
            );
            assert_eq!(due_fires(&s, up, up, Duration::hours(4)), vec![], "{tz}");
            assert_eq!(
                due_fires(&s, up, local(tz, "2026-03-11", 21), Duration::hours(4)),
                vec![]
            );
            assert_eq!(
                due_fires(&s, down, up, Duration::hours(1)),
                vec![],
                "{tz}: too late"
            );
        }
    }

    #[test]
    fn lateness_equal_to_grace_is_still_due() {
        let tz = Tz::Europe__London;
        let s = Schedule::new("0 18 * * 1-5", tz).expect("valid");
        let due = due_fires(
            &s,
            local(tz, "2026-03-11", 17),
            local(tz, "2026-03-11", 20),
            Duration::hours(2),
        );
        assert_eq!(due.len(), 1);
    }

    #[test]
    fn long_downtime_keeps_only_recent_fires() {
        let tz = Tz::America__New_York;
        let s = Schedule::new("0 18 * * 1-5", tz).expect("valid");
        // Down from Friday 2026-03-06 09:00 to Wednesday 2026-03-11 19:00, across a DST change.
        let since = local(tz, "2026-03-06", 9);
        let now = local(tz, "2026-03-11", 19);
        assert_eq!(due_fires(&s, since, now, Duration::hours(4)).len(), 1);
        let all = due_fires(&s, since, now, Duration::days(30));
        let dates: Vec<String> = all.iter().map(|f| f.local_date.to_string()).collect();
        assert_eq!(
            dates,
            ["2026-03-06", "2026-03-09", "2026-03-10", "2026-03-11"]
        );
    }

    #[test]
    fn nothing_due_when_time_runs_backwards_or_grace_is_negative() {
        let tz = Tz::UTC;
        let s = Schedule::new("0 18 * * *", tz).expect("valid");
        let (a, b) = (local(tz, "2026-03-11", 17), local(tz, "2026-03-11", 20));
        assert_eq!(due_fires(&s, b, a, Duration::hours(4)), vec![]);
        assert_eq!(due_fires(&s, a, b, Duration::hours(-1)), vec![]);
        assert_eq!(due_fires(&s, a, b, Duration::MAX).len(), 1);
    }
}
