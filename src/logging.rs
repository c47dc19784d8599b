//! Where log lines go and how they look: standard error, as text (coloured only on a terminal,
//! never with `NO_COLOR`) or JSON lines (`[log] format`), filtered by `DONEBOT_LOG` or `RUST_LOG`.
//!
//! Log fields are in Display form, for people and log collectors alike: `kind=prompt`,
//! `to=a@example.org`, never Rust's debug syntax (`Some(..)`, `Duplicate(19)`); the helpers
//! below name the values whose types have no `Display` of their own.
//!
//! Invariant: logging never stops donebot from starting. A filter that does not parse is reported
//! (as the first log line) and replaced by `info`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// An outbox message's kind as the API and metrics spell it.
pub fn kind(kind: storage::OutboxKind) -> &'static str {
    match kind {
        storage::OutboxKind::Prompt => "prompt",
        storage::OutboxKind::Digest => "digest",
        storage::OutboxKind::Welcome => "welcome",
        storage::OutboxKind::Confirmation => "confirmation",
        storage::OutboxKind::Nudge => "nudge",
        storage::OutboxKind::SignIn => "sign_in",
    }
}

/// Why a received message is not processed again.
pub fn registered(r: &storage::Registered) -> String {
    match r {
        storage::Registered::Fresh => "new".into(),
        storage::Registered::Duplicate(id) => format!("duplicate of inbound {id}"),
        storage::Registered::Known => "registered before".into(),
    }
}

/// How a sender was authenticated.
pub fn authenticated_by(by: &bots::email::auth::Authenticated) -> String {
    match by {
        bots::email::auth::Authenticated::Dkim { domain } => format!("dkim of {domain}"),
        bots::email::auth::Authenticated::AuthenticationResults { method } => {
            format!("{method} in Authentication-Results")
        }
    }
}

/// The filter when neither variable is set.
const DEFAULT_FILTER: &str = "info";

/// Installs the global subscriber. Call once, first thing.
pub fn init(format: LogFormat) {
    let (filter, problem) = log_filter(
        std::env::var("DONEBOT_LOG").ok(),
        std::env::var("RUST_LOG").ok(),
    );
    let colour = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colour).init(),
        LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).init(),
    }
    if let Some(problem) = problem {
        tracing::warn!("{problem}; logging at {DEFAULT_FILTER}");
    }
}

/// The filter from `DONEBOT_LOG` (first) or `RUST_LOG`, and what was wrong with it if it did not
/// parse.
fn log_filter(
    donebot_log: Option<String>,
    rust_log: Option<String>,
) -> (EnvFilter, Option<String>) {
    let (var, value) = match (donebot_log, rust_log) {
        (Some(v), _) if !v.trim().is_empty() => ("DONEBOT_LOG", v),
        (_, Some(v)) if !v.trim().is_empty() => ("RUST_LOG", v),
        _ => return (EnvFilter::new(DEFAULT_FILTER), None),
    };
    match EnvFilter::try_new(&value) {
        Ok(filter) => (filter, None),
        Err(e) => (
            EnvFilter::new(DEFAULT_FILTER),
            Some(format!("{var}={value:?} is not a log filter ({e})")),
        ),
    }
}

/// Colour codes only for a person at a terminal; `NO_COLOR` (set and not empty) turns them off
/// (<https://no-color.org>).
fn colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_or_directives_are_filters_and_garbage_is_reported() {
        for value in ["warn", "info,donebot=debug", "WARN"] {
            let (_, problem) = log_filter(Some(value.into()), None);
            assert_eq!(problem, None, "{value}");
        }
        let (filter, problem) = log_filter(None, Some("debug".into()));
        assert_eq!((filter.to_string(), problem), ("debug".into(), None));
        let (filter, _) = log_filter(Some("error".into()), Some("debug".into()));
        assert_eq!(filter.to_string(), "error", "DONEBOT_LOG comes first");
        let (filter, problem) = log_filter(Some("info,[".into()), None);
        assert_eq!(filter.to_string(), "info");
        assert!(
            problem
                .unwrap()
                .starts_with("DONEBOT_LOG=\"info,[\" is not a log filter")
        );
        let (filter, problem) = log_filter(Some(" ".into()), None);
        assert_eq!((filter.to_string(), problem), ("info".into(), None));
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
    }
}
