//! Commands in a person's own words, as they write them in an email reply: "unsubscribe please",
//! "pause till Friday", "Pause until next friday.", "pause these emails". The chat channels keep
//! their exact `/command` syntax ([`super::parse`]); this is the forgiving reading for a short
//! reply.
//!
//! Owns: deciding whether a one-line reply is a command, a command that needs an answer instead
//! of an effect (a day that cannot be read, a day already past, words that are not understood), or
//! not a command at all (then it is what the member got done). Pure: the member's local today is
//! a parameter.
//!
//! Invariant: a reply is only ever *not recorded* when it starts with a command word (or `/`)
//! and has at most a few other words; a longer line, or one that starts with a list marker
//! (`- `, `* `), is a done, so "stop the deploy from paging on weekends" is never lost.

use chrono::{Datelike, Days, NaiveDate, Weekday};

use super::Command;

/// What a reply says, when it is (or looks like) a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// A command to apply.
    Command(Command),
    /// `pause until …` with a day that cannot be read: the words after "until".
    UnclearDay(String),
    /// `pause until` a day before today.
    PastDay(NaiveDate),
    /// Starts like a command, but the rest is not understood.
    NotUnderstood,
}

/// Words that change nothing in a command: politeness, and what the command is about.
const FILLER: &[&str] = &[
    "please",
    "pls",
    "plz",
    "kindly",
    "thanks",
    "thank",
    "you",
    "thx",
    "hi",
    "hey",
    "hello",
    "donebot",
    "me",
    "my",
    "these",
    "this",
    "the",
    "all",
    "emails",
    "email",
    "mails",
    "mail",
    "messages",
    "questions",
    "prompts",
    "now",
    "from",
    "list",
    "just",
    "again",
];

/// Words that introduce the last day of a pause.
const UNTIL: &[&str] = &["until", "till", "til", "'til", "through", "thru", "to"];

/// At most this many words that are not understood after a command word still make the reply
/// an attempted command (answered); more, and it is a done.
const MAX_UNKNOWN_WORDS: usize = 3;

/// A reply of more words than this is never a command.
const MAX_WORDS: usize = 12;

/// Reads a reply's only line; `None`: not a command (record it as a done).
pub fn understand(line: &str, today: NaiveDate) -> Option<Said> {
    let line = line.trim();
    if line.starts_with(['-', '*', '•', '+']) {
        return None;
    }
    let lower = line.to_lowercase();
    let tokens: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| w.trim_matches(|c: char| matches!(c, '.' | '!' | '?' | ';' | ':' | '"')))
        .filter(|w| !w.is_empty())
        .collect();
    if tokens.is_empty() || tokens.len() > MAX_WORDS {
        return None;
    }
    let slash = tokens[0].starts_with('/');
    let words: Vec<&str> = tokens
        .iter()
        .map(|w| w.trim_start_matches('/'))
        .filter(|w| !FILLER.contains(w))
        .collect();
    let Some((first, rest)) = words.split_first() else {
        return slash.then_some(Said::NotUnderstood);
    };
    let only = |command: Command| {
        if rest.is_empty() {
            Some(Said::Command(command))
        } else {
            unknown(rest)
        }
    };
    match *first {
        "unsubscribe" | "unsub" | "stop" => only(Command::Unsubscribe),
        "resume" | "unpause" | "restart" => only(Command::Resume),
        "help" => only(Command::Help),
        "pause" | "snooze" => Some(pause(rest, today)),
        _ if slash => Some(Said::NotUnderstood),
        _ => None,
    }
}

/// The words after a command word that are not understood: an attempted command if few.
fn unknown(rest: &[&str]) -> Option<Said> {
    (rest.len() <= MAX_UNKNOWN_WORDS).then_some(Said::NotUnderstood)
}

fn pause(rest: &[&str], today: NaiveDate) -> Said {
    let words = match rest.split_first() {
        None => return Said::Command(Command::Pause(None)),
        Some((until, words)) if UNTIL.contains(until) => words,
        // "pause friday", "pause for a while": a day directly, or not understood.
        Some(_) => rest,
    };
    match day(words, today) {
        Some(d) if d < today => Said::PastDay(d),
        Some(d) => Said::Command(Command::Pause(Some(d))),
        None if words.len() == rest.len() && words.len() > MAX_UNKNOWN_WORDS => Said::NotUnderstood,
        None => Said::UnclearDay(words.join(" ")),
    }
}

/// A day in words, relative to `today`: `2026-12-31`, `today`, `tomorrow`, `friday` (the next
/// one after today), `next friday` (the one in next week, Monday to Sunday), `next week` (the last
/// day before it: the pause ends with this week), `december 31` / `31 december` (this year, or
/// next year if already past).
pub fn day(words: &[&str], today: NaiveDate) -> Option<NaiveDate> {
    let next_monday = today + Days::new(7 - u64::from(today.weekday().num_days_from_monday()));
    match words {
        [w] => {
            if let Ok(d) = NaiveDate::parse_from_str(w, "%Y-%m-%d") {
                return Some(d);
            }
            match *w {
                "today" => Some(today),
                "tomorrow" => today.succ_opt(),
                w => {
                    let wd = weekday(w)?;
                    let ahead = (7 + wd.num_days_from_monday()
                        - today.weekday().num_days_from_monday()
                        - 1)
                        % 7
                        + 1;
                    Some(today + Days::new(u64::from(ahead)))
                }
            }
        }
        ["next", "week"] => next_monday.pred_opt(),
        ["next", w] => {
            let wd = weekday(w)?;
            Some(next_monday + Days::new(u64::from(wd.num_days_from_monday())))
        }
        [a, b] => {
            let (month, dom) = match (month(a), month(b)) {
                (Some(m), None) => (m, b),
                (None, Some(m)) => (m, a),
                _ => return None,
            };
            let dom: u32 = dom
                .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                .parse()
                .ok()?;
            let this_year = NaiveDate::from_ymd_opt(today.year(), month, dom)?;
            if this_year >= today {
                Some(this_year)
            } else {
                NaiveDate::from_ymd_opt(today.year() + 1, month, dom)
            }
        }
        _ => None,
    }
}

fn weekday(w: &str) -> Option<Weekday> {
    Some(match w {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" | "tues" => Weekday::Tue,
        "wednesday" | "wed" => Weekday::Wed,
        "thursday" | "thu" | "thur" | "thurs" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => return None,
    })
}

fn month(w: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    MONTHS
        .iter()
        .position(|m| *m == w || (w.len() >= 3 && m.starts_with(w)))
        .map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wednesday 9 December 2026.
    fn wed() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 9).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn said(line: &str) -> Option<Said> {
        understand(line, wed())
    }

    #[test]
    fn commands_with_a_few_extra_words_are_commands() {
        let unsubscribe = Some(Said::Command(Command::Unsubscribe));
        for line in [
            "unsubscribe",
            "unsubscribe please",
            "Unsubscribe me, please!",
            "please unsubscribe me from this list",
            "stop",
            "/unsubscribe",
        ] {
            assert_eq!(said(line), unsubscribe, "{line}");
        }
        let pause = Some(Said::Command(Command::Pause(None)));
        for line in ["pause", "Pause these emails.", "pause please", "snooze"] {
            assert_eq!(said(line), pause, "{line}");
        }
        assert_eq!(said("resume please"), Some(Said::Command(Command::Resume)));
    }

    #[test]
    fn pause_until_a_day_in_words() {
        for (line, want) in [
            ("pause till Friday", "2026-12-11"),
            ("pause until friday.", "2026-12-11"),
            ("pause until next friday", "2026-12-18"),
            ("pause until next week", "2026-12-13"),
            ("pause until tomorrow", "2026-12-10"),
            ("pause until today", "2026-12-09"),
            ("pause until wednesday", "2026-12-16"),
            ("pause through mon", "2026-12-14"),
            ("pause until 2026-12-31", "2026-12-31"),
            ("pause until December 24", "2026-12-24"),
            ("pause until 5 jan", "2027-01-05"),
            ("pause friday", "2026-12-11"),
        ] {
            assert_eq!(
                said(line),
                Some(Said::Command(Command::Pause(Some(d(want))))),
                "{line}"
            );
        }
    }

    #[test]
    fn a_past_or_unreadable_day_is_answered_not_applied() {
        assert_eq!(
            said("pause until 2026-12-01"),
            Some(Said::PastDay(d("2026-12-01")))
        );
        assert_eq!(
            said("pause until the cows come home"),
            Some(Said::UnclearDay("cows come home".into()))
        );
        assert_eq!(
            said("pause until 2026-13-45"),
            Some(Said::UnclearDay("2026-13-45".into()))
        );
    }

    #[test]
    fn dones_are_not_commands_and_near_misses_are_not_understood() {
        for line in [
            "- stop the deploy from paging",
            "Fixed the flaky build",
            "stop paging the on-call team for disk alerts on staging hosts",
            "paused the cron job and wrote the migration for billing",
            "",
        ] {
            assert_eq!(said(line), None, "{line}");
        }
        for line in [
            "/frobnicate",
            "unsubscribe Bob",
            "resume tomorrow maybe",
            "/",
        ] {
            assert_eq!(said(line), Some(Said::NotUnderstood), "{line}");
        }
    }
}
