//! The fake's Socket Mode: `apps.connections.open` answers a loopback `ws://` URL, where a
//! WebSocket server says `hello`, pushes the frames a test queues (envelopes, `disconnect`) and
//! records every frame the client sends back (the acks).
//!
//! Owns: the listener, one connection at a time (a reconnect takes over the queue), the queue and
//! the acks. Invariant: a frame queued while nobody is connected waits for the next connection,
//! as Slack keeps an unacknowledged envelope for a retry.

use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

pub(super) struct SocketLink {
    pub(super) url: String,
    frames: mpsc::UnboundedSender<String>,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
    acks: Mutex<Vec<Value>>,
    pub(super) ack_count: watch::Sender<usize>,
    pub(super) connections: watch::Sender<usize>,
}

impl SocketLink {
    pub(super) async fn start() -> std::io::Result<(Arc<SocketLink>, tokio::task::JoinHandle<()>)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let (frames, queue) = mpsc::unbounded_channel();
        let link = Arc::new(SocketLink {
            url: format!("ws://{}/link/?ticket=fake", listener.local_addr()?),
            frames,
            queue: tokio::sync::Mutex::new(queue),
            acks: Mutex::default(),
            ack_count: watch::Sender::new(0),
            connections: watch::Sender::new(0),
        });
        let task = tokio::spawn(accept(listener, Arc::clone(&link)));
        Ok((link, task))
    }

    pub(super) fn push(&self, frame: String) {
        let _ = self.frames.send(frame);
    }

    pub(super) fn acks(&self) -> Vec<Value> {
        self.acks.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn accept(listener: TcpListener, link: Arc<SocketLink>) {
    let mut tasks = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        tasks.spawn(connection(stream, Arc::clone(&link)));
    }
}

async fn connection(stream: tokio::net::TcpStream, link: Arc<SocketLink>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    // One connection reads the queue at a time: a reconnect waits for the old one to end.
    let mut queue = link.queue.lock().await;
    link.connections.send_modify(|n| *n += 1);
    let hello = serde_json::json!({"type": "hello", "num_connections": 1,
        "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
        "connection_info": {"app_id": "A0DONEBOT"}});
    if ws
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            frame = queue.recv() => {
                let Some(frame) = frame else { return };
                let disconnect = frame.contains("\"disconnect\"");
                if ws.send(Message::Text(frame.into())).await.is_err() {
                    return;
                }
                if disconnect {
                    let _ = ws.close(None).await;
                    return;
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(value) = serde_json::from_str::<Value>(&text) {
                        let n = {
                            let mut acks = link.acks.lock().unwrap_or_else(|p| p.into_inner());
                            acks.push(value);
                            acks.len()
                        };
                        link.ack_count.send_replace(n);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            }
        }
    }
}
