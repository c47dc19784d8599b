//! The fake's gateway: a WebSocket server speaking Discord's gateway protocol (JSON text frames).
//!
//! Owns: the accept loop, and per connection: HELLO, then IDENTIFY (a new session and READY) or
//! RESUME (the session's dispatches after the client's sequence, then RESUMED; op 9 for an unknown
//! session), heartbeats answered with ACK (unless the test zombied the connection), and the test's
//! controls (a dispatch, a dropped
//! connection, op 7, op 9). One connection at a time is live: the newest one that identified or
//! resumed; dispatches go there, or wait in the session's log for a RESUME.
//!
//! Invariant: the accept loop owns every connection task (a `JoinSet`), so aborting it closes them
//! all; a connection ends when its client goes away, on the test's drop, or when it is no longer
//! live and the client closes it.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{Control, FAKE_BOT_ID, FAKE_TOKEN, Session, State};

/// Frames larger than this from the client end the connection (IDENTIFY is a few hundred bytes).
const MAX_FRAME: usize = 64 * 1024;

pub(super) async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(connection(stream, state.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn send(ws: &mut WebSocketStream<TcpStream>, payload: &Value) -> bool {
    ws.send(Message::Text(payload.to_string().into()))
        .await
        .is_ok()
}

async fn connection(stream: TcpStream, state: Arc<State>) {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME));
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (id, interval) = {
        let mut s = state.lock();
        s.next_connection += 1;
        s.stats.connections += 1;
        (s.next_connection, s.heartbeat_interval_ms)
    };
    state.touch();
    if !send(
        &mut ws,
        &json!({"op": 10, "d": {"heartbeat_interval": interval}, "s": null, "t": null}),
    )
    .await
    {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    loop {
        tokio::select! {
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                let Ok(payload) = serde_json::from_str::<Value>(&text) else {
                    close(&mut ws, 4002, "Error while decoding payload.").await;
                    break;
                };
                if !on_payload(&state, &mut ws, id, &tx, &payload).await {
                    break;
                }
            }
            Some(control) = rx.recv() => match control {
                Control::Send(payload) => {
                    if !send(&mut ws, &payload).await { break; }
                }
                // No close frame: the client sees the connection reset, as on a network failure.
                Control::Drop => break,
                Control::Reconnect => {
                    let _ = send(&mut ws, &json!({"op": 7, "d": null, "s": null, "t": null})).await;
                }
                Control::Invalidate { resumable } => {
                    let _ = send(&mut ws, &json!({"op": 9, "d": resumable, "s": null, "t": null})).await;
                }
            }
        }
    }
    let mut s = state.lock();
    if s.live.as_ref().is_some_and(|(live, _)| *live == id) {
        s.live = None;
    }
    drop(s);
    state.touch();
}

async fn close(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        }))
        .await;
}

/// The token of IDENTIFY and RESUME (serenity sends it with its `Bot ` prefix, which Discord
/// accepts).
fn token_ok(token: &Value) -> bool {
    let token = token.as_str().unwrap_or_default();
    token.strip_prefix("Bot ").unwrap_or(token) == FAKE_TOKEN
}

/// Handles one client payload; `false` ends the connection.
async fn on_payload(
    state: &Arc<State>,
    ws: &mut WebSocketStream<TcpStream>,
    id: u64,
    tx: &mpsc::UnboundedSender<Control>,
    payload: &Value,
) -> bool {
    let d = &payload["d"];
    match payload["op"].as_u64() {
        // Heartbeat: ACK.
        Some(1) => {
            let zombie = {
                let mut s = state.lock();
                s.stats.heartbeats += 1;
                s.zombie == Some(id)
            };
            state.touch();
            zombie || send(ws, &json!({"op": 11, "d": null, "s": null, "t": null})).await
        }
        // Identify: a new session, READY, then what was injected before any session.
        Some(2) => {
            if !token_ok(&d["token"]) {
                close(ws, 4004, "Authentication failed.").await;
                return false;
            }
            let mut s = state.lock();
            s.stats.identifies += 1;
            let session_id = format!("fake-session-{}", s.next_id + id);
            s.session = Some(Session {
                id: session_id.clone(),
                ..Session::default()
            });
            let user = s
                .users
                .get(&FAKE_BOT_ID)
                .map(|u| u.json())
                .unwrap_or_default();
            let ready = json!({
                "v": 10, "user": user, "guilds": [], "session_id": session_id,
                "resume_gateway_url": s.gateway_url, "shard": [0, 1],
                "application": {"id": FAKE_BOT_ID.to_string(), "flags": 0},
            });
            s.live = Some((id, tx.clone()));
            s.dispatch("READY", ready);
            for (t, d) in std::mem::take(&mut s.pending) {
                s.dispatch(&t, d);
            }
            drop(s);
            state.touch();
            true
        }
        // Resume: the missed dispatches, then RESUMED; op 9 when the session is unknown.
        Some(6) => {
            let wanted = d["session_id"].as_str().unwrap_or_default().to_owned();
            let after = d["seq"].as_u64().unwrap_or(0);
            let known = {
                let mut s = state.lock();
                let known =
                    s.session.as_ref().is_some_and(|x| x.id == wanted) && token_ok(&d["token"]);
                if !known {
                    s.stats.resumes_refused += 1;
                }
                known
            };
            if !known {
                state.touch();
                return send(ws, &json!({"op": 9, "d": false, "s": null, "t": null})).await;
            }
            let mut s = state.lock();
            s.stats.resumes += 1;
            s.stats.last_seq_resumed_from = Some(after);
            let from = after.saturating_sub(std::mem::take(&mut s.replay_extra));
            let missed: Vec<Value> = s
                .session
                .as_ref()
                .map(|x| {
                    x.log
                        .iter()
                        .filter(|(seq, _)| *seq > from)
                        .map(|(_, p)| p.clone())
                        .collect()
                })
                .unwrap_or_default();
            s.live = Some((id, tx.clone()));
            for p in missed {
                let _ = tx.send(Control::Send(p));
            }
            s.dispatch("RESUMED", json!({}));
            drop(s);
            state.touch();
            true
        }
        _ => {
            close(ws, 4001, "Unknown opcode.").await;
            false
        }
    }
}
