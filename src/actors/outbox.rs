//! The outbox actor: walks each outgoing email through its durable state machine.
//!
//! It claims due messages from storage (each moves to `sending` *before* it is handed to the
//! transport), sends up to `[outbox] concurrency` at once, and records the outcome: `sent`;
//! `deferred` with exponential backoff and jitter after a transient failure (4xx, dropped
//! connection, timeout) until the message is `[outbox] max_age_hours` old; `failed` at once after a
//! permanent one (5xx). It wakes when told (`Wake`), on every scheduler tick, and at the earliest
//! due time. On start-up, messages a crash left in `sending` are queued again: delivery is
//! at-least-once, and each message keeps its Message-ID so a rare duplicate is recognisable.
//!
//! Group commit bounds those duplicates: a slot whose send finished is not given a new message
//! until a flush that began after its outcome was recorded has completed. Every message that was
//! delivered but whose `sent` may not be durable therefore still holds one of the `concurrency`
//! slots, so a SIGKILL re-sends at most `concurrency` messages. One flush covers every outcome
//! recorded while the previous one ran, so the fsync cost is shared by a whole batch.

use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, SpawnHandle, WrapFuture,
};
use bots::email::send::{SendError, SendReceipt, Transport};
use chrono::{DateTime, Utc};
use rand::Rng;
use storage::OutboxMessage;
use tracing::{error, info, warn};

use crate::app::App;
use crate::events::Event;
use crate::metrics::Metrics;

/// Look for due messages now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// Stop claiming new messages; answers once nothing is in flight, and then the actor stops (it
/// holds the [`App`], and with it the data directory, until it does).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

pub struct OutboxActor {
    app: App,
    transport: Arc<Transport>,
    /// Sends started and not finished.
    in_flight: usize,
    /// Sends finished and recorded, waiting for a flush to start; their slots are not free yet.
    unflushed: usize,
    /// Sends covered by the flush that is running, if one is; their slots free when it ends.
    flushing: Option<usize>,
    draining: bool,
    drained: Vec<tokio::sync::oneshot::Sender<()>>,
    timer: Option<SpawnHandle>,
}

impl OutboxActor {
    pub fn new(app: App, transport: Transport) -> OutboxActor {
        OutboxActor {
            app,
            transport: Arc::new(transport),
            in_flight: 0,
            unflushed: 0,
            flushing: None,
            draining: false,
            drained: Vec::new(),
            timer: None,
        }
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.flushing.is_none() && self.unflushed > 0 {
            self.start_flush(ctx);
        }
        if self.draining {
            return;
        }
        let limit = self.app.settings.outbox.concurrency;
        let busy = self.in_flight + self.unflushed + self.flushing.unwrap_or(0);
        let free = limit.saturating_sub(busy);
        let now = self.app.now();
        if free > 0 {
            match self.app.store.claim_due(now, free) {
                Ok(claimed) => {
                    for (message, body) in claimed {
                        self.start_send(ctx, message, body);
                    }
                }
                Err(e) => {
                    error!(error = %e, "cannot claim outbox messages; retrying on the next wake")
                }
            }
        }
        self.arm_timer(ctx, now);
    }

    /// Makes the recorded outcomes durable; the slots they held free up when the flush is done.
    fn start_flush(&mut self, ctx: &mut Context<Self>) {
        self.flushing = Some(std::mem::take(&mut self.unflushed));
        let store = self.app.store.clone();
        let fut = async move { store.flush_async().await };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| {
            if let Err(e) = result {
                // sled flushes on its own as well; a failed flush only widens the duplicate bound.
                error!(error = %e, "cannot flush the outbox");
            }
            act.flushing = None;
            act.pump(ctx);
        }));
    }

    fn start_send(&mut self, ctx: &mut Context<Self>, message: OutboxMessage, body: Vec<u8>) {
        self.in_flight += 1;
        let transport = self.transport.clone();
        let (from, to) = (message.envelope_from.clone(), message.envelope_to.clone());
        let fut = async move { transport.send(&from, &to, &body).await };
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.in_flight -= 1;
            act.unflushed += 1;
            act.complete(&message, result);
            if act.draining && act.in_flight == 0 {
                for tx in act.drained.drain(..) {
                    let _ = tx.send(());
                }
            }
            act.pump(ctx);
        }));
    }

    fn complete(&self, m: &OutboxMessage, result: Result<SendReceipt, SendError>) {
        let now = self.app.now();
        let store = &self.app.store;
        let outcome = match result {
            Ok(receipt) => {
                info!(outbox_id = m.id, kind = ?m.kind, to = ?m.envelope_to, reply = %receipt.reply, "email sent");
                Metrics::inc(&self.app.metrics.emails_sent);
                let recorded = store.mark_sent(m.id, now, &receipt.reply);
                self.app.emit(Event::EmailSent {
                    outbox: m.id,
                    kind: m.kind,
                });
                recorded
            }
            Err(e) if e.is_permanent() => {
                warn!(outbox_id = m.id, to = ?m.envelope_to, reply = %e, "email failed permanently");
                Metrics::inc(&self.app.metrics.emails_failed);
                let recorded = store.mark_failed(m.id, now, &e.to_string());
                self.app.emit(Event::EmailFailed {
                    outbox: m.id,
                    reply: e.to_string(),
                });
                recorded
            }
            Err(e) => {
                let age = now - m.created_at;
                if age > chrono::Duration::hours(i64::from(self.app.settings.outbox.max_age_hours))
                {
                    let reply = format!(
                        "gave up after {} attempts over {} hours: {e}",
                        m.attempts,
                        age.num_hours()
                    );
                    warn!(outbox_id = m.id, to = ?m.envelope_to, %reply, "email failed");
                    Metrics::inc(&self.app.metrics.emails_failed);
                    let recorded = store.mark_failed(m.id, now, &reply);
                    self.app.emit(Event::EmailFailed {
                        outbox: m.id,
                        reply,
                    });
                    recorded
                } else {
                    let retry_at = now + self.backoff(m.attempts);
                    info!(outbox_id = m.id, to = ?m.envelope_to, reply = %e, %retry_at, "email deferred");
                    Metrics::inc(&self.app.metrics.emails_deferred);
                    let recorded = store.mark_deferred(m.id, retry_at, &e.to_string());
                    self.app.emit(Event::EmailDeferred {
                        outbox: m.id,
                        reply: e.to_string(),
                    });
                    recorded
                }
            }
        };
        if let Err(e) = outcome {
            // The message stays in `sending`; start-up recovery queues it again.
            error!(outbox_id = m.id, error = %e, "cannot record the outcome of a send");
        }
    }

    /// `first_retry * 2^(attempts-1)`, capped, ±20 % jitter so retries of a burst spread out.
    fn backoff(&self, attempts: u32) -> chrono::Duration {
        let cfg = &self.app.settings.outbox;
        let first = cfg.first_retry_seconds.max(1) as f64;
        let cap = (cfg.max_retry_minutes.max(1) * 60) as f64;
        let base = (first * 2f64.powi(attempts.saturating_sub(1).min(30) as i32)).min(cap);
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        chrono::Duration::milliseconds((base * jitter * 1000.0) as i64)
    }

    /// Wakes again at the earliest due time (real time; a manual clock wakes us through ticks).
    fn arm_timer(&mut self, ctx: &mut Context<Self>, now: DateTime<Utc>) {
        if let Some(t) = self.timer.take() {
            ctx.cancel_future(t);
        }
        if let Ok(Some(due)) = self.app.store.next_outbox_due() {
            let wait = (due - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_millis(50));
            self.timer = Some(
                ctx.run_later(wait.min(Duration::from_secs(3600)), |act, ctx| {
                    act.pump(ctx)
                }),
            );
        }
    }
}

impl Actor for OutboxActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        match self.app.store.recover_outbox(self.app.now()) {
            Ok(0) => {}
            Ok(n) => warn!(
                messages = n,
                "re-queued messages that were being sent when donebot stopped"
            ),
            Err(e) => error!(error = %e, "cannot recover in-flight outbox messages"),
        }
        self.pump(ctx);
    }
}

impl Handler<Wake> for OutboxActor {
    type Result = ();
    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.pump(ctx);
    }
}

impl Handler<Drain> for OutboxActor {
    type Result = actix::ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) -> Self::Result {
        self.draining = true;
        if let Some(t) = self.timer.take() {
            ctx.cancel_future(t);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.in_flight == 0 {
            let _ = tx.send(());
        } else {
            self.drained.push(tx);
        }
        Box::pin(
            async move {
                let _ = rx.await;
            }
            .into_actor(self)
            .map(|(), _act, ctx| actix::ActorContext::stop(ctx)),
        )
    }
}
