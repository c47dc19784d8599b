//! From an Events API request body to plain inbound values.
//!
//! Owns: reading the envelope (`url_verification`, `event_callback`, `app_rate_limited`), deciding
//! which `message` events carry something a person wrote (a new message in a DM or a channel thread,
//! an edit of one, a deletion), and Slack's retry headers. It reads only the fields donebot needs,
//! with its own serde types: an envelope of a type it does not know is `Other`, an event it does
//! not want is `Ignored` with the reason, so a new Slack feature never turns into a `400` that Slack
//! would retry. It is not the signature check ([`super::signing`], which runs first) nor the
//! durable log or the deduplication by `event_id` (the app's).
//!
//! Invariant: parsing is total over any JSON object: a well-formed envelope maps to a value, never a
//! panic; bot messages (`bot_id`, `subtype: bot_message`), joins, topics and every other subtype
//! are `Ignored`, so nothing donebot or another app posted can become a done.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Slack's event bodies are a few KB; anything larger is refused before parsing.
pub const MAX_EVENT_BODY: usize = 256 * 1024;
/// The header Slack adds to a retried delivery (`1` to `3`).
pub const RETRY_NUM_HEADER: &str = "X-Slack-Retry-Num";
/// Why Slack retried (`http_timeout`, `http_error`, `too_many_redirects`, ...).
pub const RETRY_REASON_HEADER: &str = "X-Slack-Retry-Reason";

/// What one request to `/slack/events` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsRequest {
    /// Answer `200` with the challenge (when the URL is saved in the app's settings).
    UrlVerification {
        challenge: String,
    },
    Callback(EventCallback),
    /// Slack stopped sending events for a minute: more than 30,000 in an hour for one workspace.
    AppRateLimited {
        minute_rate_limited: i64,
    },
    /// An envelope type this version does not know: acknowledge it and do nothing.
    Other {
        kind: String,
    },
}

/// One `event_callback`: the unit Slack delivers, retries and identifies by `event_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCallback {
    /// Unique per event across retries: the deduplication key.
    pub event_id: String,
    pub team_id: String,
    pub event_time: i64,
    pub event: SlackEvent,
}

/// What an event means for donebot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackEvent {
    /// A person wrote a new message.
    Posted(Posted),
    /// A person edited a message they wrote: its dones are replaced.
    Edited(Edited),
    /// A message was deleted: its dones are removed.
    Deleted(Deleted),
    /// Nothing for donebot; the reason is for the log.
    Ignored(String),
}

/// The kind of conversation (`channel_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversation {
    /// A direct message with the bot.
    Im,
    /// A public channel.
    Channel,
    /// A private channel.
    Group,
    /// A group DM.
    Mpim,
    /// Not given or not known (`message_changed` has no `channel_type` on older payloads).
    Unknown,
}

impl Conversation {
    fn parse(kind: Option<&str>, channel: &str) -> Conversation {
        match kind {
            Some("im") => Conversation::Im,
            Some("channel") => Conversation::Channel,
            Some("group") => Conversation::Group,
            Some("mpim") => Conversation::Mpim,
            // DM channel ids start with D.
            _ if channel.starts_with('D') => Conversation::Im,
            _ => Conversation::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub conversation: Conversation,
    pub user: String,
    pub text: String,
    /// The message's id in its channel.
    pub ts: String,
    /// The parent's `ts` when this is a reply in a thread (a reply to a prompt).
    pub thread_ts: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub channel: String,
    pub conversation: Conversation,
    pub user: String,
    /// The new text.
    pub text: String,
    /// The edited message's `ts` (its id, unchanged by the edit).
    pub ts: String,
    pub thread_ts: Option<String>,
    /// When the edit happened (`event_ts`).
    pub edited_ts: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub channel: String,
    pub conversation: Conversation,
    /// The deleted message's `ts`.
    pub ts: String,
    /// Who had written it, when Slack says (`previous_message.user`).
    pub user: Option<String>,
}

/// Why a body is not an Events API request (answer `400`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    #[error("the body is larger than {MAX_EVENT_BODY} bytes")]
    TooLarge,
    #[error("not an Events API request: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    challenge: Option<String>,
    event_id: Option<String>,
    team_id: Option<String>,
    event_time: Option<i64>,
    minute_rate_limited: Option<i64>,
    event: Option<RawEvent>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    subtype: Option<String>,
    channel: Option<String>,
    channel_type: Option<String>,
    user: Option<String>,
    bot_id: Option<String>,
    text: Option<String>,
    ts: Option<String>,
    event_ts: Option<String>,
    thread_ts: Option<String>,
    deleted_ts: Option<String>,
    message: Option<Box<RawEvent>>,
    previous_message: Option<Box<RawEvent>>,
}

/// Parses the (already verified) body of a `POST /slack/events`.
pub fn parse_events_request(body: &[u8]) -> Result<EventsRequest, EventsError> {
    if body.len() > MAX_EVENT_BODY {
        return Err(EventsError::TooLarge);
    }
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| EventsError::Malformed(e.to_string()))?;
    let missing =
        |field: &str| EventsError::Malformed(format!("{} without {field}", envelope.kind));
    match envelope.kind.as_str() {
        "url_verification" => Ok(EventsRequest::UrlVerification {
            challenge: envelope
                .challenge
                .clone()
                .ok_or_else(|| missing("challenge"))?,
        }),
        "app_rate_limited" => Ok(EventsRequest::AppRateLimited {
            minute_rate_limited: envelope.minute_rate_limited.unwrap_or_default(),
        }),
        "event_callback" => {
            let event_id = envelope
                .event_id
                .clone()
                .ok_or_else(|| missing("event_id"))?;
            let event = envelope.event.as_ref().ok_or_else(|| missing("event"))?;
            Ok(EventsRequest::Callback(EventCallback {
                event_id,
                team_id: envelope.team_id.clone().unwrap_or_default(),
                event_time: envelope.event_time.unwrap_or_default(),
                event: to_slack_event(event),
            }))
        }
        _ => Ok(EventsRequest::Other {
            kind: envelope.kind,
        }),
    }
}

fn to_slack_event(event: &RawEvent) -> SlackEvent {
    if event.kind != "message" {
        return SlackEvent::Ignored(format!("a {:?} event", event.kind));
    }
    let Some(channel) = event.channel.clone() else {
        return SlackEvent::Ignored("a message without a channel".into());
    };
    let conversation = Conversation::parse(event.channel_type.as_deref(), &channel);
    match event.subtype.as_deref() {
        Some("message_changed") => edited(event, channel, conversation),
        Some("message_deleted") => deleted(event, channel, conversation),
        None | Some("thread_broadcast") | Some("file_share") | Some("me_message") => {
            match person_wrote(event) {
                Ok((user, text, ts)) => SlackEvent::Posted(Posted {
                    channel,
                    conversation,
                    user,
                    text,
                    ts,
                    thread_ts: event.thread_ts.clone(),
                }),
                Err(why) => SlackEvent::Ignored(why),
            }
        }
        Some(other) => SlackEvent::Ignored(format!("a {other} message")),
    }
}

/// The author, text and ts of a message a person wrote, or why it is not one.
fn person_wrote(message: &RawEvent) -> Result<(String, String, String), String> {
    if message.bot_id.is_some() || message.subtype.as_deref() == Some("bot_message") {
        return Err("a bot's message".into());
    }
    if let Some(subtype) = message
        .subtype
        .as_deref()
        .filter(|s| !matches!(*s, "thread_broadcast" | "file_share" | "me_message"))
    {
        return Err(format!("a {subtype} message"));
    }
    let user = message.user.clone().ok_or("a message without a user")?;
    let ts = message.ts.clone().ok_or("a message without a ts")?;
    let text = message.text.clone().unwrap_or_default();
    if text.trim().is_empty() {
        return Err("a message without text".into());
    }
    Ok((user, text, ts))
}

fn edited(event: &RawEvent, channel: String, conversation: Conversation) -> SlackEvent {
    let Some(message) = event.message.as_deref() else {
        return SlackEvent::Ignored("message_changed without message".into());
    };
    let (user, text, ts) = match person_wrote(message) {
        Ok(found) => found,
        Err(why) => return SlackEvent::Ignored(format!("an edit of {why}")),
    };
    let before = event
        .previous_message
        .as_deref()
        .and_then(|m| m.text.as_deref());
    if before == Some(text.as_str()) {
        // Slack also sends message_changed when a link unfurls or a reply is added to the thread.
        return SlackEvent::Ignored("message_changed with the same text".into());
    }
    SlackEvent::Edited(Edited {
        channel,
        conversation,
        user,
        text,
        ts,
        thread_ts: message.thread_ts.clone(),
        edited_ts: event
            .event_ts
            .clone()
            .or(event.ts.clone())
            .unwrap_or_default(),
    })
}

fn deleted(event: &RawEvent, channel: String, conversation: Conversation) -> SlackEvent {
    let Some(ts) = event.deleted_ts.clone() else {
        return SlackEvent::Ignored("message_deleted without deleted_ts".into());
    };
    let previous = event.previous_message.as_deref();
    if previous.is_some_and(|m| m.bot_id.is_some()) {
        return SlackEvent::Ignored("a bot's message deleted".into());
    }
    SlackEvent::Deleted(Deleted {
        channel,
        conversation,
        ts,
        user: previous.and_then(|m| m.user.clone()),
    })
}

/// A Slack `ts` (`"1764010800.000200"`) as a time; `None` when it is not one.
pub fn ts_to_time(ts: &str) -> Option<DateTime<Utc>> {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    let secs: i64 = secs.parse().ok()?;
    let micros: u32 = micros.get(..6.min(micros.len()))?.parse().ok()?;
    DateTime::from_timestamp(secs, micros.saturating_mul(1000).min(999_999_999))
}

/// Slack's retry headers, when present: `(attempt 1..=3, reason)`.
pub fn retry_of(num: Option<&str>, reason: Option<&str>) -> Option<(u32, String)> {
    let num = num?.trim().parse().ok()?;
    Some((num, reason.unwrap_or("").trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn callback(event: serde_json::Value) -> SlackEvent {
        let body = json!({"type": "event_callback", "team_id": "T123", "api_app_id": "A123",
            "event_id": "Ev0A1B2C3", "event_time": 1764010800, "event": event});
        match parse_events_request(body.to_string().as_bytes()).unwrap() {
            EventsRequest::Callback(c) => {
                assert_eq!(
                    (c.event_id.as_str(), c.team_id.as_str()),
                    ("Ev0A1B2C3", "T123")
                );
                c.event
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn url_verification_answers_the_challenge() {
        let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        assert_eq!(
            parse_events_request(body).unwrap(),
            EventsRequest::UrlVerification {
                challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into()
            }
        );
    }

    #[test]
    fn a_dm_and_a_thread_reply_are_posted() {
        let dm = callback(
            json!({"type": "message", "channel": "D024BE91L", "channel_type": "im",
            "user": "U2147483697", "text": "shipped the release", "ts": "1764010800.000200",
            "event_ts": "1764010800.000200", "client_msg_id": "5a0e0f3b"}),
        );
        assert_eq!(
            dm,
            SlackEvent::Posted(Posted {
                channel: "D024BE91L".into(),
                conversation: Conversation::Im,
                user: "U2147483697".into(),
                text: "shipped the release".into(),
                ts: "1764010800.000200".into(),
                thread_ts: None,
            })
        );
        let reply = callback(
            json!({"type": "message", "channel": "C024BE91L", "channel_type": "channel",
            "user": "U2147483697", "text": "fixed #42", "ts": "1764010900.000300",
            "thread_ts": "1764010800.000100", "parent_user_id": "U0BOT"}),
        );
        let SlackEvent::Posted(p) = reply else {
            panic!()
        };
        assert_eq!(p.conversation, Conversation::Channel);
        assert_eq!(p.thread_ts.as_deref(), Some("1764010800.000100"));
    }

    #[test]
    fn an_edit_carries_the_original_ts_and_the_new_text() {
        let e = callback(
            json!({"type": "message", "subtype": "message_changed", "hidden": true,
            "channel": "C024BE91L", "channel_type": "channel", "ts": "1764011000.000400",
            "event_ts": "1764011000.000400",
            "message": {"type": "message", "user": "U2147483697", "text": "fixed #43",
                "ts": "1764010900.000300", "thread_ts": "1764010800.000100",
                "edited": {"user": "U2147483697", "ts": "1764011000.000000"}},
            "previous_message": {"type": "message", "user": "U2147483697", "text": "fixed #42",
                "ts": "1764010900.000300", "thread_ts": "1764010800.000100"}}),
        );
        assert_eq!(
            e,
            SlackEvent::Edited(Edited {
                channel: "C024BE91L".into(),
                conversation: Conversation::Channel,
                user: "U2147483697".into(),
                text: "fixed #43".into(),
                ts: "1764010900.000300".into(),
                thread_ts: Some("1764010800.000100".into()),
                edited_ts: "1764011000.000400".into(),
            })
        );
    }

    #[test]
    fn an_unfurl_is_not_an_edit() {
        let e = callback(
            json!({"type": "message", "subtype": "message_changed", "channel": "D1",
            "message": {"user": "U1", "text": "see https://x.y", "ts": "1.2", "attachments": [{}]},
            "previous_message": {"user": "U1", "text": "see https://x.y", "ts": "1.2"}}),
        );
        assert!(matches!(e, SlackEvent::Ignored(_)), "{e:?}");
    }

    #[test]
    fn a_deletion_names_the_deleted_ts() {
        let e = callback(
            json!({"type": "message", "subtype": "message_deleted", "hidden": true,
            "channel": "C024BE91L", "ts": "1764011100.000500", "deleted_ts": "1764010900.000300",
            "previous_message": {"type": "message", "user": "U2147483697", "text": "fixed #42", "ts": "1764010900.000300"}}),
        );
        assert_eq!(
            e,
            SlackEvent::Deleted(Deleted {
                channel: "C024BE91L".into(),
                conversation: Conversation::Unknown,
                ts: "1764010900.000300".into(),
                user: Some("U2147483697".into()),
            })
        );
    }

    #[test]
    fn bots_joins_and_other_subtypes_never_become_dones() {
        for event in [
            json!({"type": "message", "subtype": "bot_message", "channel": "C1", "bot_id": "B1", "text": "x", "ts": "1.1"}),
            json!({"type": "message", "channel": "C1", "user": "U0BOT", "bot_id": "B1", "text": "What did you get done?", "ts": "1.1"}),
            json!({"type": "message", "subtype": "channel_join", "channel": "C1", "user": "U1", "text": "<@U1> has joined the channel", "ts": "1.1"}),
            json!({"type": "message", "subtype": "channel_topic", "channel": "C1", "user": "U1", "text": "set the topic", "ts": "1.1"}),
            json!({"type": "message", "subtype": "message_changed", "channel": "C1",
                "message": {"bot_id": "B1", "text": "edited prompt", "ts": "1.1"}}),
            json!({"type": "message", "subtype": "message_changed", "channel": "C1",
                "message": {"subtype": "tombstone", "user": "USLACKBOT", "text": "This message was deleted.", "ts": "1.1"}}),
            json!({"type": "message", "subtype": "message_deleted", "channel": "C1", "deleted_ts": "1.1",
                "previous_message": {"bot_id": "B1", "text": "prompt", "ts": "1.1"}}),
            json!({"type": "message", "channel": "C1", "user": "U1", "text": "  ", "ts": "1.1"}),
            json!({"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@U0BOT> hi", "ts": "1.1"}),
            json!({"type": "message", "user": "U1", "text": "no channel", "ts": "1.1"}),
        ] {
            let e = callback(event.clone());
            assert!(matches!(e, SlackEvent::Ignored(_)), "{event} -> {e:?}");
        }
    }

    #[test]
    fn unknown_envelopes_and_bad_bodies() {
        assert_eq!(
            parse_events_request(br#"{"type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820,"api_app_id":"A1"}"#).unwrap(),
            EventsRequest::AppRateLimited { minute_rate_limited: 1518467820 }
        );
        assert_eq!(
            parse_events_request(br#"{"type":"something_new","x":1}"#).unwrap(),
            EventsRequest::Other {
                kind: "something_new".into()
            }
        );
        for bad in [
            &b"[]"[..],
            b"{",
            br#"{"type":"event_callback"}"#,
            br#"{"type":"url_verification"}"#,
        ] {
            assert!(matches!(
                parse_events_request(bad),
                Err(EventsError::Malformed(_))
            ));
        }
        let huge = vec![b' '; MAX_EVENT_BODY + 1];
        assert_eq!(parse_events_request(&huge), Err(EventsError::TooLarge));
    }

    #[test]
    fn timestamps_and_retry_headers() {
        let t = ts_to_time("1764010800.000200").unwrap();
        assert_eq!(
            (t.timestamp(), t.timestamp_subsec_micros()),
            (1764010800, 200)
        );
        assert_eq!(ts_to_time("1764010800").unwrap().timestamp(), 1764010800);
        assert_eq!(ts_to_time("x.1"), None);
        assert_eq!(
            retry_of(Some("2"), Some("http_timeout")),
            Some((2, "http_timeout".into()))
        );
        assert_eq!(retry_of(None, Some("http_timeout")), None);
        assert_eq!(retry_of(Some("two"), None), None);
    }
}
