//! The teloxide client, and what its errors mean for donebot.
//!
//! Owns: building the `teloxide::Bot` for a validated config, and sorting every `RequestError` into
//! one of five answers the sender acts on: wait (`429 retry_after`), retry with backoff (5xx, timeouts,
//! dropped connections, an unreadable answer), the chat moved (a group upgraded to a supergroup), the
//! chat is gone (403: blocked, kicked, deactivated) or never retry (400 and the rest). It is not the retry loop ([`super::send`]).
//!
//! Invariant: classification looks at teloxide's typed errors first. teloxide reads only `ok`,
//! `description` and `parameters` of an error answer (not `error_code` nor the HTTP status), so for an
//! `ApiError::Unknown` the class comes from the description's leading status phrase, which the Bot API
//! always sets ("Bad Request: ...", "Forbidden: ...", "Internal Server Error").

use std::time::Duration;

use teloxide::{ApiError, Bot, RequestError};

use super::config::{TelegramConfigError, ValidConfig};

/// What a failed call means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 429: wait this long before calling again (for this chat, and the bot as a whole).
    RetryAfter(Duration),
    /// Retrying may help: 5xx, timeouts, a dropped connection, an answer that is not JSON.
    Transient(String),
    /// The chat cannot be reached any more (403).
    Blocked(String),
    /// The group became a supergroup with this chat id (400 with `migrate_to_chat_id`).
    Migrated(i64),
    /// Retrying cannot help (400, 401, 404).
    Permanent(String),
}

/// The real client: teloxide's default reqwest settings (5 s connect, 17 s total), our API URL.
pub(crate) fn build_bot(config: &ValidConfig) -> Result<Bot, TelegramConfigError> {
    let client = teloxide::net::default_reqwest_settings()
        .build()
        .map_err(|e| TelegramConfigError {
            key: "api_url",
            problem: format!("cannot build the HTTP client: {e}"),
        })?;
    Ok(Bot::with_client(config.token.clone(), client).set_api_url(config.api_url.clone()))
}

pub(crate) fn classify(error: &RequestError) -> Failure {
    match error {
        RequestError::RetryAfter(seconds) => Failure::RetryAfter(seconds.duration()),
        RequestError::Network(e) => Failure::Transient(format!("network: {e}")),
        RequestError::InvalidJson { raw, .. } => {
            Failure::Transient(format!("unreadable answer from the Bot API: {:.120}", raw))
        }
        RequestError::MigrateToChatId(to) => Failure::Migrated(to.0),
        RequestError::Io(e) => Failure::Permanent(format!("i/o: {e}")),
        RequestError::Api(api) => classify_api(api),
    }
}

fn classify_api(error: &ApiError) -> Failure {
    match error {
        ApiError::BotBlocked
        | ApiError::BotKicked
        | ApiError::BotKickedFromSupergroup
        | ApiError::BotKickedFromChannel
        | ApiError::UserDeactivated
        | ApiError::CantInitiateConversation
        | ApiError::CantTalkWithBots => Failure::Blocked(error.to_string()),
        ApiError::Unknown(description) => classify_description(description),
        other => Failure::Permanent(other.to_string()),
    }
}

/// The Bot API's description starts with the HTTP status phrase of its `error_code`.
fn classify_description(description: &str) -> Failure {
    const TRANSIENT: [&str; 5] = [
        "Internal Server Error",
        "Bad Gateway",
        "Service Unavailable",
        "Gateway Timeout",
        "Too Many Requests",
    ];
    if TRANSIENT.iter().any(|p| description.starts_with(p)) {
        Failure::Transient(description.to_owned())
    } else if description.starts_with("Forbidden") {
        Failure::Blocked(description.to_owned())
    } else {
        Failure::Permanent(description.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(description: &str) -> RequestError {
        let json = serde_json::json!({ "data": description });
        #[derive(serde::Deserialize)]
        struct Wrapper {
            data: ApiError,
        }
        RequestError::Api(serde_json::from_value::<Wrapper>(json).unwrap().data)
    }

    #[test]
    fn forbidden_answers_mean_blocked() {
        for d in [
            "Forbidden: bot was blocked by the user",
            "Forbidden: user is deactivated",
            "Forbidden: bot was kicked from the group chat",
        ] {
            assert!(matches!(classify(&api(d)), Failure::Blocked(_)), "{d}");
        }
    }

    #[test]
    fn server_errors_are_transient_and_bad_requests_permanent() {
        assert!(matches!(
            classify(&api("Internal Server Error")),
            Failure::Transient(_)
        ));
        assert!(matches!(
            classify(&api("Bad Gateway")),
            Failure::Transient(_)
        ));
        assert!(matches!(
            classify(&api("Bad Request: chat not found")),
            Failure::Permanent(_)
        ));
        assert!(matches!(
            classify(&api("Bad Request: message is too long")),
            Failure::Permanent(_)
        ));
        assert!(matches!(
            classify(&api("Bad Request: can't parse entities: x")),
            Failure::Permanent(_)
        ));
    }

    #[test]
    fn a_migrated_group_names_its_new_chat() {
        let e = RequestError::MigrateToChatId(teloxide::types::ChatId(-100_777));
        assert_eq!(classify(&e), Failure::Migrated(-100_777));
    }

    #[test]
    fn retry_after_is_a_wait() {
        let e = RequestError::RetryAfter(teloxide::types::Seconds::from_seconds(7));
        assert_eq!(classify(&e), Failure::RetryAfter(Duration::from_secs(7)));
    }
}
