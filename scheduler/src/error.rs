//! The one error type of the scheduler crate.
//!
//! Every variant is a configuration mistake (a bad cron expression, zone name or weekday list): none is
//! transient, so a caller never retries, it reports the message and the offending key. Messages quote
//! the input exactly as given and say what was expected.

/// A schedule, zone or weekday list that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse, or is ambiguous (see [`crate::Schedule::new`]).
    #[error("invalid cron expression {expr:?}: {reason}")]
    InvalidCron { expr: String, reason: String },
    /// The name is not an IANA time zone known to the bundled tz database.
    #[error(
        "unknown time zone {name:?} (expected an IANA name such as \"Europe/London\" or \"UTC\")"
    )]
    UnknownTimeZone { name: String },
    /// A weekday list such as `"mon-fri"` does not parse.
    #[error("invalid weekdays {input:?}: {reason}")]
    InvalidWeekdays { input: String, reason: String },
}
