//! What Slack POSTs to donebot, checked and read: the entry points of `/slack/events` and
//! `/slack/commands`.
//!
//! Owns: the order of checks (size, then signature over the raw body, then parsing) and the HTTP
//! status each refusal maps to. It is not the HTTP server (the app's route passes the two headers,
//! the raw body and its clock's time) nor what happens to an accepted event (the app's durable log,
//! deduplicated by `event_id`, answered before processing).
//!
//! Invariant: nothing from a request is parsed, logged or returned unless its signature matched
//! with a fresh timestamp; a refusal says why in the log only, never which part of a guess was right.

use super::commands::{CommandError, MAX_COMMAND_BODY, SlashCommand, parse_slash_command};
use super::events::{EventsError, EventsRequest, MAX_EVENT_BODY, parse_events_request};
use super::signing::{SignatureError, SigningSecret};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// `401`: unsigned, forged or stale. Nothing was read.
    #[error("unauthorized: {0}")]
    Unauthorized(#[from] SignatureError),
    /// `413`: larger than any request Slack sends.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// `400`: signed, but not what this route takes.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl Refused {
    pub fn status(&self) -> u16 {
        match self {
            Refused::Unauthorized(_) => 401,
            Refused::TooLarge(_) => 413,
            Refused::BadRequest(_) => 400,
        }
    }
}

/// The two headers Slack signs a request with.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedHeaders<'a> {
    /// `X-Slack-Request-Timestamp`
    pub timestamp: Option<&'a str>,
    /// `X-Slack-Signature`
    pub signature: Option<&'a str>,
}

/// The checks for both routes; cheap to clone into the app's handlers.
#[derive(Debug, Clone)]
pub struct SlackRequests {
    secret: SigningSecret,
}

impl SlackRequests {
    pub fn new(signing_secret: &str) -> Self {
        SlackRequests {
            secret: SigningSecret::new(signing_secret),
        }
    }

    fn check(
        &self,
        headers: SignedHeaders<'_>,
        body: &[u8],
        now: i64,
        max: usize,
    ) -> Result<(), Refused> {
        if body.len() > max {
            return Err(Refused::TooLarge(max));
        }
        self.secret
            .verify(headers.timestamp, headers.signature, body, now)
            .map_err(|e| {
                tracing::warn!(error = %e, "slack request refused");
                Refused::Unauthorized(e)
            })
    }

    /// A `POST /slack/events`; `now` is the current Unix time in seconds.
    pub fn event(
        &self,
        headers: SignedHeaders<'_>,
        body: &[u8],
        now: i64,
    ) -> Result<EventsRequest, Refused> {
        self.check(headers, body, now, MAX_EVENT_BODY)?;
        parse_events_request(body).map_err(|e| match e {
            EventsError::TooLarge => Refused::TooLarge(MAX_EVENT_BODY),
            EventsError::Malformed(why) => Refused::BadRequest(why),
        })
    }

    /// A `POST /slack/commands`; `now` is the current Unix time in seconds.
    pub fn command(
        &self,
        headers: SignedHeaders<'_>,
        body: &[u8],
        now: i64,
    ) -> Result<SlashCommand, Refused> {
        self.check(headers, body, now, MAX_COMMAND_BODY)?;
        parse_slash_command(body).map_err(|e| match e {
            CommandError::TooLarge => Refused::TooLarge(MAX_COMMAND_BODY),
            CommandError::Missing(_) => Refused::BadRequest(e.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    fn signed(body: &[u8], ts: i64) -> (String, String) {
        (ts.to_string(), SigningSecret::new(SECRET).sign(ts, body))
    }

    #[test]
    fn a_signed_event_is_read_and_a_forged_one_is_not() {
        let requests = SlackRequests::new(SECRET);
        let body = br#"{"type":"url_verification","challenge":"abc"}"#;
        let (ts, sig) = signed(body, 1_764_010_800);
        let headers = SignedHeaders {
            timestamp: Some(&ts),
            signature: Some(&sig),
        };
        assert_eq!(
            requests.event(headers, body, 1_764_010_801),
            Ok(EventsRequest::UrlVerification {
                challenge: "abc".into()
            })
        );
        let forged = br#"{"type":"url_verification","challenge":"abd"}"#;
        let refused = requests.event(headers, forged, 1_764_010_801).unwrap_err();
        assert_eq!(
            (refused.status(), refused),
            (401, Refused::Unauthorized(SignatureError::Mismatch))
        );
        let stale = requests
            .event(headers, body, 1_764_010_800 + 301)
            .unwrap_err();
        assert_eq!(stale.status(), 401);
    }

    #[test]
    fn a_signed_but_malformed_body_is_a_bad_request_and_size_comes_first() {
        let requests = SlackRequests::new(SECRET);
        let (ts, sig) = signed(b"[]", 100);
        let headers = SignedHeaders {
            timestamp: Some(&ts),
            signature: Some(&sig),
        };
        assert_eq!(
            requests.event(headers, b"[]", 100).unwrap_err().status(),
            400
        );
        let big = vec![b'x'; MAX_COMMAND_BODY + 1];
        assert_eq!(
            requests.command(SignedHeaders::default(), &big, 100),
            Err(Refused::TooLarge(MAX_COMMAND_BODY))
        );
        let body = b"command=%2Fdone&user_id=U1&text=undo";
        let (ts, sig) = signed(body, 100);
        let headers = SignedHeaders {
            timestamp: Some(&ts),
            signature: Some(&sig),
        };
        assert_eq!(requests.command(headers, body, 100).unwrap().text, "undo");
        assert_eq!(
            requests.command(headers, b"x", 100).unwrap_err().status(),
            401
        );
    }
}
