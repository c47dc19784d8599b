//! The cron dialect donebot accepts, and its translation for the `cron` crate.
//!
//! This module owns what an expression *means* before any time arithmetic: 5-field Unix cron (day of
//! week 0 and 7 = Sunday) is rewritten into the `cron` crate's 6-field form (seconds first, Quartz
//! day numbers, 1 = Sunday) by spelling days out as names, which both dialects read the same; 6/7-field
//! expressions and `@daily`-style shorthands pass through untouched. Invariant: the rewrite never
//! changes which wall-clock times match, only how they are spelled; anything it cannot translate
//! faithfully (day of month *and* day of week restricted) is an error, never a guess.

use std::ops::RangeInclusive;

use crate::weekdays::{format_weekdays, parse_unix_day_of_week};

/// Rewrites a user's expression into the `cron` crate's 6/7-field dialect; the error is the reason.
pub(crate) fn to_cron_crate_dialect(expr: &str) -> Result<String, String> {
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
                format_weekdays(days)
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
pub(crate) fn cron_crate_reason(message: &str, expr: &str) -> String {
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
