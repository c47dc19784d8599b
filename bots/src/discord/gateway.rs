//! The gateway connection: serenity's client, pointed at the configured API base, handing every
//! dispatch to [`super::inbound`].
//!
//! Owns: asking `GET /gateway` for the WebSocket URL (through donebot's REST path, with its retries),
//! building serenity's `Client` with the `DIRECT_MESSAGES` intent (a DM's content needs no privileged
//! intent; slash commands need none) and running it. serenity's shard runner does the protocol:
//! HELLO, IDENTIFY, heartbeats and their ACKs, RESUME after a dropped connection or an op 7
//! RECONNECT, a fresh IDENTIFY after an op 9 INVALID_SESSION that is not resumable.
//!
//! The seam: `ClientBuilder`'s future asks `GET /gateway` itself and, when that call fails, silently
//! falls back to `wss://gateway.discord.gg` (serenity `src/client/mod.rs`, `IntoFuture for
//! ClientBuilder`), which would leave a proxied or fake base for the real Discord. The URL asked
//! here first is written into the client's public `ws_url` before it starts, so the fallback is
//! never used; the shard runner reconnects to that URL (not to READY's `resume_gateway_url`).
//!
//! Invariant: at most one client runs per channel; its shard manager is kept so that stopping the
//! channel shuts the shards down (aborting the task alone would leave serenity's runner tasks).

use std::sync::{Arc, Mutex, PoisonError};

use serenity::all::{Context, Event, GatewayIntents, RawEventHandler, ShardManager};
use serenity::client::ClientBuilder;
use serenity::http::{LightMethod, Route};

use super::inbound::Inbound;

/// The running client's shard manager, for [`shutdown`].
pub(crate) type Manager = Arc<Mutex<Option<Arc<ShardManager>>>>;

struct Handler(Arc<Inbound>);

#[serenity::async_trait]
impl RawEventHandler for Handler {
    async fn raw_event(&self, _: Context, event: Event) {
        self.0.handle(event).await;
    }
}

#[derive(serde::Deserialize)]
struct GatewayUrl {
    url: String,
}

/// Connects and runs until a fatal gateway error (a refused token, disallowed intents).
pub(crate) async fn run(inbound: Arc<Inbound>, manager: Manager) {
    let rest = inbound.deliverer.rest();
    let mut attempt = 1u32;
    let url = loop {
        match rest
            .call::<GatewayUrl>(Route::Gateway, LightMethod::Get, None)
            .await
        {
            Ok(g) => break g.url,
            Err(e) => {
                tracing::warn!(error = %e, attempt, "discord GET /gateway failed, retrying");
                // A real delay: Discord (or the proxy) is unreachable; ask again later.
                tokio::time::sleep(rest.backoff(attempt)).await;
                attempt = attempt.saturating_add(1);
            }
        }
    };
    let built = ClientBuilder::new_with_http(rest.gateway_http(), GatewayIntents::DIRECT_MESSAGES)
        .raw_event_handler(Handler(inbound.clone()))
        .await;
    let mut client = match built {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "discord client not built; Discord receives nothing");
            return;
        }
    };
    *client.ws_url.lock().await = url.trim_end_matches('/').to_owned();
    *manager.lock().unwrap_or_else(PoisonError::into_inner) = Some(client.shard_manager.clone());
    tracing::info!(%url, "discord gateway starting");
    if let Err(e) = client.start().await {
        tracing::error!(error = %e, "discord gateway stopped; DMs and commands are not received");
    }
}

/// Shuts the shards down (in the background: called from a synchronous `stop`).
pub(crate) fn shutdown(manager: &Manager) {
    let taken = manager
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let (Some(manager), Ok(runtime)) = (taken, tokio::runtime::Handle::try_current()) {
        runtime.spawn(async move { manager.shutdown_all().await });
    }
}
