//! Pure schedule logic for donebot: when to ask "What did you get done today?" and when to send the
//! digest.
//!
//! This crate owns time arithmetic only — cron expressions evaluated in a team's time zone across DST
//! changes ([`schedule`], [`zone`]), working days and digest spans ([`calendar`]), and what to catch
//! up after downtime ([`catchup`]). It deliberately reads no clock, does no I/O and has no async: every
//! "now" is a parameter, so the app can test a whole week by handing in instants. Invariant: no
//! function here panics on input; bad input is a [`ScheduleError`].
//!
//! ```
//! use scheduler::{Schedule, parse_tz};
//!
//! // 02:30 does not exist on 2026-03-08 in New York: it fires an hour later, at 03:30 EDT.
//! let nightly = Schedule::new("30 2 * * *", parse_tz("America/New_York")?)?;
//! let from = "2026-03-07".parse()?;
//! let shown: Vec<String> = nightly.preview(from, 3).iter().map(|t| t.to_rfc3339()).collect();
//! assert_eq!(
//!     shown,
//!     ["2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"]
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod calendar;
pub mod catchup;
mod dialect;
mod error;
pub mod member;
pub mod schedule;
pub mod weekdays;
pub mod zone;

pub use calendar::{Calendar, LOOKBACK_DAYS, should_prompt};
pub use catchup::due_fires;
pub use chrono::{Weekday, WeekdaySet};
pub use chrono_tz::Tz;
pub use error::ScheduleError;
pub use member::{MemberChoice, iso_weekday, parse_iso_days, prompt_calendar, prompt_expr};
pub use schedule::{Fire, Fires, Schedule};
pub use weekdays::{format_weekdays, parse_weekdays};
pub use zone::parse_tz;
