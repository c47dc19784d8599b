//! Socket Mode: donebot connects to Slack instead of Slack posting to donebot, for installs without
//! a public URL.
//!
//! Owns the connection: `apps.connections.open` with the app-level token, the WebSocket, reading
//! frames ([`super::socket`]) and acknowledging them, reconnecting when Slack says `disconnect`
//! (as it does every few hours) or the connection drops, with a doubling pause after failures. The
//! frames carry the same events and commands as the HTTP routes and go the same way
//! ([`super::plugin::received`], [`super::plugin::take_command`]): an envelope is acknowledged only
//! once the app has taken it (in its durable log), so Slack sends an unacknowledged one again; a
//! command's ack carries its immediate answer.
//!
//! Invariant: the task runs until aborted (the channel's `stop`); no frame is acknowledged before
//! the app answered `Ok` for it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::client::SlackApi;
use super::config::SlackTuning;
use super::events::EventsRequest;
use super::plugin::{received, take_command};
use super::socket::{SocketFrame, ack, ack_with_answer, parse_socket_frame};
use crate::channel::Inbox;

/// Connects, serves, reconnects; runs until aborted.
pub(super) async fn run(api: SlackApi, app_token: String, inbox: Inbox, tuning: SlackTuning) {
    let mut pause = tuning.backoff;
    loop {
        match session(&api, &app_token, &inbox).await {
            // Slack asked for a new connection (or closed this one): at once.
            Ok(()) => pause = tuning.backoff,
            Err(e) => {
                tracing::warn!(error = %e, pause_ms = pause.as_millis() as u64, "slack socket mode connection failed; reconnecting");
                // A real pause between attempts at a connection that fails.
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(tuning.max_backoff.max(Duration::from_millis(1)));
            }
        }
    }
}

/// One connection, until Slack ends it.
async fn session(api: &SlackApi, app_token: &str, inbox: &Inbox) -> Result<(), String> {
    let url = api
        .open_socket(app_token)
        .await
        .map_err(|e| e.to_string())?;
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .map_err(|e| format!("cannot connect the WebSocket: {e}"))?;
    tracing::info!("slack socket mode connected");
    while let Some(message) = ws.next().await {
        let text = match message.map_err(|e| e.to_string())? {
            Message::Text(text) => text,
            Message::Close(_) => return Ok(()),
            // Pings are answered by the library on the next write or read.
            _ => continue,
        };
        let reply = match parse_socket_frame(&text) {
            Ok(SocketFrame::Hello) => None,
            Ok(SocketFrame::Disconnect { reason }) => {
                tracing::info!(%reason, "slack asks for a new socket mode connection");
                return Ok(());
            }
            Ok(SocketFrame::Event {
                envelope_id,
                request,
                ..
            }) => {
                let taken = match request {
                    EventsRequest::Callback(callback) => {
                        match received(&callback.event_id, callback.event) {
                            Ok(message) => matches!(inbox.send(message).await, Ok(Ok(_))),
                            Err(why) => {
                                tracing::debug!(%why, "slack event ignored");
                                true
                            }
                        }
                    }
                    _ => true,
                };
                // Not acknowledged: Slack sends it again.
                taken.then(|| ack(&envelope_id))
            }
            Ok(SocketFrame::Command {
                envelope_id,
                command,
            }) => Some(
                match take_command(inbox, command, chrono::Utc::now()).await {
                    None => ack(&envelope_id),
                    Some(answer) => ack_with_answer(&envelope_id, &answer),
                },
            ),
            Ok(SocketFrame::Other { envelope_id, kind }) => {
                tracing::debug!(%kind, "slack socket mode envelope ignored");
                Some(ack(&envelope_id))
            }
            Err(e) => {
                tracing::warn!(error = %e, "unreadable slack socket mode frame");
                None
            }
        };
        if let Some(reply) = reply {
            ws.send(Message::Text(reply.into()))
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
