//! Socket Mode frames: what Slack sends over the WebSocket instead of HTTP POSTs, and the acks.
//!
//! Owns: reading a text frame (`hello`, `disconnect`, and envelopes `events_api`, `slash_commands`,
//! `interactive`) into the same values the HTTP routes produce ([`EventsRequest`],
//! [`SlashCommand`]), and writing the ack (`{"envelope_id": ...}`, with the ephemeral answer as
//! `payload` for a slash command). It is not the connection (`apps.connections.open` with the
//! `xapp-` token, the WebSocket, reconnecting on `disconnect`), which is still to be built: in
//! Socket Mode there is no signature to check (the connection itself is authenticated), so these
//! frames go straight to the same handling as a verified request.
//!
//! Invariant: total: any text maps to a [`SocketFrame`] or an [`EventsError`], never a panic; an
//! envelope is acknowledged by its `envelope_id` only after the app made it durable, exactly as the
//! HTTP route answers `200` only then.

use serde::Deserialize;
use serde_json::{Value, json};

use super::commands::{EphemeralAnswer, SlashCommand, parse_slash_command};
use super::events::{EventsError, EventsRequest, MAX_EVENT_BODY, parse_events_request};

/// One text frame from Slack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketFrame {
    /// The connection is ready.
    Hello,
    /// Slack will close this connection (`refresh_requested`, `link_disabled`, ...): open another.
    Disconnect { reason: String },
    /// An Events API envelope; `retry_attempt` is Slack's retry count (0 first).
    Event {
        envelope_id: String,
        request: EventsRequest,
        retry_attempt: u32,
    },
    /// A slash command; the ack may carry the answer.
    Command {
        envelope_id: String,
        command: SlashCommand,
    },
    /// Anything else with an envelope (`interactive`, new types): acknowledge and ignore.
    Other { envelope_id: String, kind: String },
}

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    envelope_id: Option<String>,
    payload: Option<Value>,
    reason: Option<String>,
    retry_attempt: Option<u32>,
}

/// Reads one text frame.
pub fn parse_socket_frame(text: &str) -> Result<SocketFrame, EventsError> {
    if text.len() > MAX_EVENT_BODY {
        return Err(EventsError::TooLarge);
    }
    let frame: Frame =
        serde_json::from_str(text).map_err(|e| EventsError::Malformed(e.to_string()))?;
    let envelope = |frame: &Frame| {
        frame
            .envelope_id
            .clone()
            .ok_or_else(|| EventsError::Malformed(format!("{} without envelope_id", frame.kind)))
    };
    match frame.kind.as_str() {
        "hello" => Ok(SocketFrame::Hello),
        "disconnect" => Ok(SocketFrame::Disconnect {
            reason: frame.reason.unwrap_or_default(),
        }),
        "events_api" => {
            let envelope_id = envelope(&frame)?;
            let payload = frame.payload.unwrap_or(Value::Null).to_string();
            Ok(SocketFrame::Event {
                envelope_id,
                request: parse_events_request(payload.as_bytes())?,
                retry_attempt: frame.retry_attempt.unwrap_or(0),
            })
        }
        "slash_commands" => {
            let envelope_id = envelope(&frame)?;
            let Some(Value::Object(fields)) = frame.payload else {
                return Err(EventsError::Malformed(
                    "slash_commands without payload".into(),
                ));
            };
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (key, value) in &fields {
                if let Value::String(value) = value {
                    form.append_pair(key, value);
                }
            }
            let command = parse_slash_command(form.finish().as_bytes())
                .map_err(|e| EventsError::Malformed(e.to_string()))?;
            Ok(SocketFrame::Command {
                envelope_id,
                command,
            })
        }
        _ => Ok(SocketFrame::Other {
            envelope_id: envelope(&frame)?,
            kind: frame.kind,
        }),
    }
}

/// The ack of an envelope.
pub fn ack(envelope_id: &str) -> String {
    json!({ "envelope_id": envelope_id }).to_string()
}

/// The ack of a slash command with its ephemeral answer.
pub fn ack_with_answer(envelope_id: &str, answer: &EphemeralAnswer) -> String {
    json!({"envelope_id": envelope_id,
        "payload": {"response_type": answer.response_type, "text": answer.text}})
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::events::SlackEvent;

    #[test]
    fn hello_and_disconnect() {
        let hello = r#"{"type":"hello","num_connections":1,"debug_info":{"host":"applink-1"},"connection_info":{"app_id":"A1"}}"#;
        assert_eq!(parse_socket_frame(hello), Ok(SocketFrame::Hello));
        let bye = r#"{"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"applink-1"}}"#;
        assert_eq!(
            parse_socket_frame(bye),
            Ok(SocketFrame::Disconnect {
                reason: "refresh_requested".into()
            })
        );
    }

    #[test]
    fn an_events_api_envelope_carries_the_same_event_as_http() {
        let frame = json!({"envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf", "type": "events_api",
            "accepts_response_payload": false, "retry_attempt": 1, "retry_reason": "timeout",
            "payload": {"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event_time": 1,
                "event": {"type": "message", "channel": "D1", "channel_type": "im", "user": "U1",
                    "text": "shipped", "ts": "1764010800.000100"}}});
        let SocketFrame::Event {
            envelope_id,
            request: EventsRequest::Callback(c),
            retry_attempt,
        } = parse_socket_frame(&frame.to_string()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (envelope_id.as_str(), retry_attempt, c.event_id.as_str()),
            ("57d6a792-4d35-4d0b-b6aa-3361493e1caf", 1, "Ev1")
        );
        assert!(matches!(c.event, SlackEvent::Posted(p) if p.text == "shipped"));
        assert_eq!(
            ack(&envelope_id),
            r#"{"envelope_id":"57d6a792-4d35-4d0b-b6aa-3361493e1caf"}"#
        );
    }

    #[test]
    fn a_slash_command_envelope_and_its_answer() {
        let frame = json!({"envelope_id": "e2", "type": "slash_commands", "accepts_response_payload": true,
            "payload": {"token": "x", "team_id": "T1", "channel_id": "D1", "user_id": "U1", "user_name": "ada",
                "command": "/done", "text": "undo", "response_url": "https://hooks.slack.com/commands/1/2",
                "trigger_id": "1.2.3"}});
        let SocketFrame::Command {
            envelope_id,
            command,
        } = parse_socket_frame(&frame.to_string()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (
                command.command.as_str(),
                command.text.as_str(),
                command.user_id.as_str()
            ),
            ("/done", "undo", "U1")
        );
        let ack: Value = serde_json::from_str(&ack_with_answer(
            &envelope_id,
            &EphemeralAnswer::new("Removed."),
        ))
        .unwrap();
        assert_eq!(
            ack,
            json!({"envelope_id": "e2", "payload": {"response_type": "ephemeral", "text": "Removed."}})
        );
    }

    #[test]
    fn other_envelopes_are_acknowledged_and_bad_frames_refused() {
        assert_eq!(
            parse_socket_frame(r#"{"envelope_id":"e3","type":"interactive","payload":{}}"#),
            Ok(SocketFrame::Other {
                envelope_id: "e3".into(),
                kind: "interactive".into()
            })
        );
        for bad in [
            "",
            "[]",
            r#"{"type":"events_api","payload":{}}"#,
            r#"{"type":"slash_commands","envelope_id":"e"}"#,
        ] {
            assert!(parse_socket_frame(bad).is_err(), "{bad}");
        }
    }
}
