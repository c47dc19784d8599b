//! Long polling: `getUpdates` with an offset that moves only past what the app has recorded.
//!
//! Owns: the loop (ask with `timeout`, `allowed_updates = [message, edited_message]` and the offset;
//! hand each update to the app in order; on a failure of the call, wait `retry_after` or back off).
//! It is not the mapping ([`super::updates`]) nor the sink call ([`super::inbound`]).
//!
//! Invariant: the offset is `update_id + 1` of the last update the app answered `Ok` for (or that
//! had nothing for it). An update the app deferred stops the batch; the next call, after a backoff,
//! asks from that update again, so it and everything after it is redelivered. The offset lives in
//! memory only: after a restart the first call has no offset and Telegram resends every update not
//! yet confirmed, which the app deduplicates on `update_id`.

use std::sync::Arc;

use teloxide::payloads::GetUpdatesSetters;
use teloxide::prelude::Requester;
use teloxide::types::AllowedUpdate;

use super::client::{Failure, classify};
use super::inbound::{Delivery, Shared, deliver_update};

/// Polls until the task is aborted (the channel actor stopping).
pub(crate) async fn poll(shared: Arc<Shared>) {
    let deliverer = &shared.deliverer;
    let timeout = u32::try_from(deliverer.tuning().poll_timeout.as_secs()).unwrap_or(10);
    let mut offset: Option<i32> = None;
    let mut failures: u32 = 0;
    loop {
        let mut request = deliverer
            .bot()
            .get_updates()
            .timeout(timeout)
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::EditedMessage]);
        if let Some(offset) = offset {
            request = request.offset(offset);
        }
        let updates = match request.await {
            Ok(updates) => updates,
            Err(e) => {
                failures += 1;
                let wait = match classify(&e) {
                    Failure::RetryAfter(wait) => wait,
                    other => {
                        tracing::warn!(error = ?other, failures, "telegram getUpdates failed");
                        deliverer.backoff(failures)
                    }
                };
                // A real delay: Telegram asked for it (429) or is failing; hammering it helps nobody.
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        for update in &updates {
            match deliver_update(&shared, update).await {
                Delivery::Delivered | Delivery::Skipped => {
                    failures = 0;
                    offset = i32::try_from(update.id.0)
                        .ok()
                        .map(|id| id.saturating_add(1));
                }
                Delivery::Deferred(why) => {
                    failures += 1;
                    tracing::warn!(update_id = update.id.0, %why, failures, "telegram update deferred");
                    // A real delay: the app is busy; give it time before the update is offered again.
                    tokio::time::sleep(deliverer.backoff(failures)).await;
                    break;
                }
            }
        }
    }
}
