//! The outbox actor: walks each outgoing message, email or chat, through its durable state
//! machine.
//!
//! Dispatch is by the message's channel: email goes to the SMTP (or `.eml`) transport, anything
//! else to the running chat channel of that name (see [`chat`] for how a chat message is addressed
//! and what each answer means: a rate limit defers it until the platform's `retry_after`, a moved
//! chat updates the destination and sends there, a blocked bot marks the link broken).
//!
//! It claims due messages from storage (a claim is held in memory: the message reads `sending`,
//! and stays `queued` on disk until its outcome is recorded, see `storage::outbox::claims`),
//! sends up to `[outbox] concurrency` at once, and records the outcome: `sent`;
//! `deferred` with exponential backoff and jitter after a transient failure (4xx, dropped
//! connection, timeout) until the message is `[outbox] max_age_hours` old; `failed` at once after a
//! permanent one (5xx). It wakes when told (`Wake`), on every scheduler tick, and at the earliest
//! due time. A message that was claimed when donebot stopped is still `queued`, and goes out after
//! the restart: delivery is at-least-once, and each message keeps its Message-ID so a rare
//! duplicate is recognisable.
//!
//! Storage work is done in *rounds* on blocking threads, one of each kind at a time and the kinds
//! independent of each other:
//! - a *journal* round appends every outcome that finished since the last one to the outcome
//!   journal (one write, one `fdatasync`: `storage::outbox::journal`); when it is done those
//!   outcomes are durable;
//! - a *record* round writes journaled outcomes to sled (one transaction for a large batch),
//!   flushes, announces their events and lets the journal forget them;
//! - a *claim* round claims the next messages (read ahead of the free connections) and reads
//!   their bodies; it writes nothing;
//! - a *flush* round flushes sled once for every message claimed, or handed over by its enqueuer
//!   ([`Handed`]: claimed as it was written, so no scan or read is needed), since the last one:
//!   their enqueue may not be durable yet, and nothing is sent before its record is.
//!
//! Sends go on while any of them runs. They are apart because the duplicate bound below holds
//! sends back until outcomes are durable: a journal append is a fraction of a millisecond, where
//! a sled transaction and flush, or waiting behind a large claim, took several, and the
//! connections waited with them.
//!
//! The duplicate bound: a send may start only while `in flight + finished but not yet durable`
//! is below twice `concurrency`. A SIGKILL therefore re-sends at most `2 × concurrency` messages
//! (each delivered, or in the middle of its delivery, without a durable `sent`); the read-ahead
//! is claimed too but was never handed over, so its sending after a restart is no duplicate.
//! A chat platform has no idempotency key: a send in flight at a crash, or one the platform took
//! without its answer arriving, is sent again after the restart (at least once).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, SpawnHandle, WrapFuture,
};
use bots::email::send::{SendError, SendReceipt, Transport};
use chrono::{DateTime, Utc};
use rand::Rng;
use storage::{OutboxId, OutboxMessage, SendOutcome};

use crate::logging;
use tracing::{error, info, warn};

use crate::actors::Actors;
use crate::context::AppContext;
use crate::events::Event;
use crate::metrics::Metrics;

pub mod chat;

/// A journal round waits, while every connection is busy, until half the connections have
/// finished a send, or this long at most: each round is one `fdatasync`, and on a 2-core VM a
/// round for every two or three sends cost the sends 6–9 % of their speed (docs/bench-outbox.md).
/// The crash bound does not move (it counts these outcomes as not durable meanwhile).
const JOURNAL_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// Claimed messages held ready, in connections' worth: a claim is a large batch (one scan of the
/// due index for many messages), and the connections stay busy through a round and the next.
const READ_AHEAD_ROUNDS: usize = 8;
/// ... and at least this many, so that a small pool still claims in batches.
const MIN_READ_AHEAD: usize = 256;

/// How many freshly enqueued messages the outbox holds at most in its hands (see [`Handed`]):
/// a large transaction's worth, a few megabytes of bodies.
const HANDOFF_ROOM: usize = 2 * storage::MAX_BATCH;

/// How often the texts of old sent and failed messages are deleted (`[outbox] keep_bodies_days`).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Texts deleted at most per pass (a few seconds of work at most; the next pass goes on).
const PRUNE_LIMIT: usize = 100_000;

/// Look for due messages now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// Messages just enqueued and claimed for the outbox by their enqueuer, with their bodies
/// ([`Actors::create_prompts`](crate::actors::Actors::create_prompts)): sent without a scan or
/// a read of the database.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Handed(pub Vec<(OutboxMessage, Vec<u8>)>);

/// Stop claiming new messages; answers once nothing is in flight and every outcome is durable,
/// and then the actor stops (it holds the [`AppContext`], and with it the data directory, until it does).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

/// A chat send as it came back: the message as sent and the channel's answer, or why it could not
/// be sent at all.
type ChatAttempt = Result<
    (
        chat::ChatEnvelope,
        Result<bots::bus::ChatSent, bots::bus::ChatSendError>,
    ),
    String,
>;

/// What a blocking storage round came back with: the store's answer, or why there is none (the
/// task panicked), as one error.
fn joined<T>(
    result: Result<storage::StorageResult<T>, tokio::task::JoinError>,
) -> Result<T, String> {
    match result {
        Ok(answer) => answer.map_err(|e| e.to_string()),
        Err(e) => Err(format!("the task failed: {e}")),
    }
}

/// A claimed message the outbox holds until a connection takes it.
struct Held {
    message: OutboxMessage,
    body: Vec<u8>,
    /// Handed over by its enqueuer: taking it out gives its room back.
    handed: bool,
}

impl Held {
    fn claimed((message, body): (OutboxMessage, Vec<u8>)) -> Held {
        Held {
            message,
            body,
            handed: false,
        }
    }

    fn handed((message, body): (OutboxMessage, Vec<u8>)) -> Held {
        Held {
            message,
            body,
            handed: true,
        }
    }
}

/// A finished send, whose outcome the next journal round makes durable and a record round then
/// writes to sled.
struct Finished {
    /// The message as claimed (`sending`, at the attempt this send was: the journal applies an
    /// outcome to that claim only); its record is written from it (`Store::record_held_outcomes`).
    message: OutboxMessage,
    outcome: SendOutcome,
    /// Announced once the outcome is recorded.
    event: Event,
}

pub struct OutboxActor {
    app: AppContext,
    /// The chat channels it sends through.
    actors: Actors,
    transport: Arc<Transport>,
    /// Claimed messages whose enqueue is durable, waiting for a free connection.
    ready: VecDeque<Held>,
    /// Claimed messages whose enqueue a flush round has yet to make durable.
    unflushed: Vec<Held>,
    /// While a flush round runs: how many claimed messages it makes durable.
    flushing: Option<usize>,
    /// Sends started and not finished (at most `concurrency`).
    in_flight: usize,
    /// Sends finished since the last journal round started; the next one journals them.
    finished: Vec<Finished>,
    /// While a journal round runs: how many finished sends it makes durable.
    journaling: Option<usize>,
    /// Set while `finished` waits for more sends to share its journal round; it fires after
    /// [`JOURNAL_WAIT`] and the round starts then whatever it holds.
    journal_timer: Option<SpawnHandle>,
    journal_overdue: bool,
    /// Finished sends waiting for a record round: journaled, or not durable at all when their
    /// journal round failed (counted in `undurable`; the record round's flush makes them so).
    journaled: Vec<Finished>,
    /// How many of `journaled` are not durable.
    undurable: usize,
    /// While a record round runs: how many of its outcomes only its flush makes durable.
    recording: Option<usize>,
    /// Whether a claim round runs.
    claiming: bool,
    /// Whether messages may be due that are not claimed yet: set by a wake, cleared when a claim
    /// comes back short (the timer then wakes us at the next due time).
    may_be_due: bool,
    /// Counts wakes, so a round that found nothing due can tell whether a wake came meanwhile.
    wakes: u64,
    draining: bool,
    drained: Vec<tokio::sync::oneshot::Sender<()>>,
    timer: Option<SpawnHandle>,
}

impl OutboxActor {
    /// Starts the outbox on `thread`, a thread of its own. The team actors render and write a
    /// whole team's prompts at a prompt time, holding their thread for tens of milliseconds a
    /// team; on a shared thread every connection waited for that. On its own thread the sends go
    /// on meanwhile, since they need only the outcome journal, not sled (+3–13 % end to end for
    /// an evening's burst, docs/bench-outbox.md).
    pub fn start_on(
        thread: &actix_rt::ArbiterHandle,
        app: AppContext,
        actors: Actors,
        transport: Transport,
    ) -> Addr<OutboxActor> {
        OutboxActor::start_in_arbiter(thread, move |_| OutboxActor::new(app, actors, transport))
    }

    pub fn new(app: AppContext, actors: Actors, transport: Transport) -> OutboxActor {
        OutboxActor {
            app,
            actors,
            transport: Arc::new(transport),
            ready: VecDeque::new(),
            unflushed: Vec::new(),
            flushing: None,
            in_flight: 0,
            finished: Vec::new(),
            journaling: None,
            journal_timer: None,
            journal_overdue: false,
            journaled: Vec::new(),
            undurable: 0,
            recording: None,
            claiming: false,
            may_be_due: true,
            wakes: 0,
            draining: false,
            drained: Vec::new(),
            timer: None,
        }
    }

    fn concurrency(&self) -> usize {
        self.app.settings.outbox.concurrency.max(1)
    }

    /// Due messages may be waiting.
    fn wake(&mut self) {
        self.may_be_due = true;
        self.wakes += 1;
    }

    /// Finished sends whose outcome is not durable yet.
    fn unconfirmed(&self) -> usize {
        self.finished.len()
            + self.journaling.unwrap_or(0)
            + self.undurable
            + self.recording.unwrap_or(0)
    }

    /// Starts what can start: sends from the read-ahead, then the rounds that are useful.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        let c = self.concurrency();
        while !self.draining && self.in_flight < c && self.in_flight + self.unconfirmed() < 2 * c {
            let Some(held) = self.ready.pop_front() else {
                break;
            };
            if held.handed {
                self.actors.give_outbox_room(1);
            }
            self.start_send(ctx, held.message, held.body);
        }
        if self.journaling.is_none() && !self.finished.is_empty() {
            if self.journal_full() {
                self.start_journal(ctx);
            } else if self.journal_timer.is_none() {
                self.journal_timer = Some(ctx.run_later(JOURNAL_WAIT, |act, ctx| {
                    act.journal_timer = None;
                    act.journal_overdue = true;
                    act.pump(ctx);
                }));
            }
        }
        if self.recording.is_none() && self.record_useful() {
            self.start_record(ctx);
        }
        if !self.claiming && self.claim_useful() {
            self.start_claim(ctx);
        }
        if self.flushing.is_none() && !self.unflushed.is_empty() {
            self.start_flush(ctx);
        }
        if self.draining
            && self.in_flight == 0
            && self.flushing.is_none()
            && self.unconfirmed() == 0
            && self.journaled.is_empty()
            && self.journaling.is_none()
            && self.recording.is_none()
            && !self.claiming
        {
            for tx in self.drained.drain(..) {
                let _ = tx.send(());
            }
        }
    }

    /// A claim is worth its round when the read-ahead runs low while more may be due.
    fn claim_useful(&self) -> bool {
        !self.draining && self.may_be_due && 2 * self.held() < self.read_ahead()
    }

    /// Claimed messages waiting to be sent.
    fn held(&self) -> usize {
        self.ready.len() + self.unflushed.len() + self.flushing.unwrap_or(0)
    }

    /// Writing journaled outcomes to sled is worth a transaction and a flush for a large batch
    /// (a claim's worth), or when nothing else is going on (no send in flight or ready, or
    /// draining), or when some are not durable at all (a journal round failed).
    fn record_useful(&self) -> bool {
        !self.journaled.is_empty()
            && (self.journaled.len() >= self.read_ahead()
                || self.undurable > 0
                || (self.in_flight == 0 && self.ready.is_empty())
                || self.draining)
    }

    /// Whether the finished sends should be journaled now: half the connections' worth, or fewer
    /// sends in flight than could fill the rest of the connections (nothing more is coming soon),
    /// or they waited [`JOURNAL_WAIT`], or the sender drains.
    fn journal_full(&self) -> bool {
        let c = self.concurrency();
        self.finished.len() >= c.div_ceil(2)
            || self.in_flight + self.finished.len() < c
            || self.journal_overdue
            || self.draining
    }

    /// Appends the finished outcomes to the outcome journal, on a blocking thread, while sends go
    /// on; they count as durable when it is done. If the journal cannot be written they wait,
    /// not durable, for a record round, which makes them so in sled.
    fn start_journal(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.journal_timer.take() {
            ctx.cancel_future(timer);
        }
        self.journal_overdue = false;
        let finished = std::mem::take(&mut self.finished);
        self.journaling = Some(finished.len());
        let now = self.app.now();
        let entries: Vec<_> = finished
            .iter()
            .map(|f| storage::JournaledOutcome {
                id: f.message.id,
                attempts: f.message.attempts,
                outcome: f.outcome.clone(),
            })
            .collect();
        let store = self.app.store.clone();
        let work = tokio::task::spawn_blocking(move || store.journal_outcomes(now, &entries));
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.journaling = None;
            let durable = match joined(result) {
                Ok(()) => true,
                Err(e) => {
                    error!(messages = finished.len(), error = %e, "cannot journal the outcome of sends; recording them in the database instead");
                    false
                }
            };
            if !durable {
                act.undurable += finished.len();
            }
            act.journaled.extend(finished);
            act.pump(ctx);
        }));
    }

    /// Writes journaled outcomes to sled (one transaction per batch) and flushes, on a blocking
    /// thread, while sends go on; then their events are announced and the journal forgets them.
    fn start_record(&mut self, ctx: &mut Context<Self>) {
        let batch = std::mem::take(&mut self.journaled);
        if batch.is_empty() {
            return;
        }
        let undurable = std::mem::take(&mut self.undurable);
        let journaled = batch.len() - undurable;
        self.recording = Some(undurable);
        let now = self.app.now();
        let (outcomes, events): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|f| ((f.message, f.outcome), f.event))
            .unzip();
        let deferred = outcomes
            .iter()
            .any(|(_, o)| matches!(o, SendOutcome::Deferred { .. }));
        let store = self.app.store.clone();
        let work = tokio::task::spawn_blocking(move || {
            let recorded = store.record_held_outcomes(now, &outcomes);
            let flushed = store.flush();
            if recorded.is_ok()
                && flushed.is_ok()
                && let Err(e) = store.outcomes_applied(journaled)
            {
                // It is emptied at the next start-up instead; nothing is lost.
                warn!(error = %e, "cannot empty the outcome journal");
            }
            (recorded, flushed)
        });
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.recording = None;
            match result {
                // Nothing is known about what was written; journaled outcomes are applied at
                // start-up, and what is still claimed stays held until then.
                Err(e) => error!(error = %e, "an outbox round failed"),
                Ok((recorded, flushed)) => {
                    if let Err(e) = flushed {
                        // sled flushes on its own as well; a failed flush only widens the
                        // duplicate bound.
                        error!(error = %e, "cannot flush the outbox");
                    }
                    match recorded {
                        Ok(_) => events.into_iter().for_each(|e| act.app.emit(e)),
                        // The journal has them (unless it failed too); start-up applies them,
                        // and what is still claimed stays held until then.
                        Err(e) => error!(messages = events.len(), error = %e, "cannot record the outcome of sends"),
                    }
                    if deferred {
                        // A retry time the last claim's timer did not know about.
                        act.arm_timer(ctx, now);
                    }
                }
            }
            act.pump(ctx);
        }));
    }

    /// Claims the next messages (in memory: nothing is written) and reads their bodies, on a
    /// blocking thread, while sends go on; a flush round then makes them sendable.
    fn start_claim(&mut self, ctx: &mut Context<Self>) {
        // Read ahead: what the connections will take while this round runs, and more.
        let want = self
            .read_ahead()
            .saturating_sub(self.in_flight + self.held());
        if want == 0 {
            return;
        }
        self.claiming = true;
        let now = self.app.now();
        let wakes = self.wakes;
        let store = self.app.store.clone();
        let work = tokio::task::spawn_blocking(move || store.claim_due(now, want));
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.claiming = false;
            match result {
                Ok(Ok(claimed)) => {
                    // Nothing more was due when the claim ran: wake at the earliest due time,
                    // unless a wake came in while the round ran.
                    if claimed.len() < want && act.wakes == wakes {
                        act.may_be_due = false;
                        act.arm_timer(ctx, now);
                    }
                    act.unflushed.extend(claimed.into_iter().map(Held::claimed));
                }
                Ok(Err(e)) => {
                    error!(error = %e, "cannot claim outbox messages; retrying on the next wake")
                }
                // What it claimed, if anything, is held until the sender's next start.
                Err(e) => error!(error = %e, "an outbox round failed"),
            }
            if act.draining {
                act.return_ready();
            }
            act.pump(ctx);
        }));
    }

    /// Makes the enqueue of the claimed messages waiting for it durable (a flush of sled, which
    /// their enqueuer did not do), on a blocking thread, while sends go on; then they can be
    /// sent. One round covers every message claimed or handed over before it started.
    fn start_flush(&mut self, ctx: &mut Context<Self>) {
        let batch = std::mem::take(&mut self.unflushed);
        self.flushing = Some(batch.len());
        let store = self.app.store.clone();
        let work = tokio::task::spawn_blocking(move || store.flush());
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.flushing = None;
            let flushed = match joined(result) {
                Ok(_) => true,
                Err(e) => {
                    error!(messages = batch.len(), error = %e, "cannot flush the outbox; the messages claimed wait for the next claim");
                    false
                }
            };
            if flushed && !act.draining {
                act.ready.extend(batch);
            } else {
                let handed = batch.iter().filter(|h| h.handed).count();
                act.give_back(batch);
                if !act.draining {
                    act.actors.give_outbox_room(handed);
                }
            }
            act.pump(ctx);
        }));
    }

    /// Claimed messages that will not be sent now go back to the queue.
    fn give_back(&self, held: impl IntoIterator<Item = Held>) {
        let ids: Vec<OutboxId> = held.into_iter().map(|h| h.message.id).collect();
        self.app.store.return_unsent(&ids);
    }

    /// How many claimed messages to hold: enough to keep every connection busy through a round
    /// and the next, and to make each claim a large batch.
    fn read_ahead(&self) -> usize {
        (READ_AHEAD_ROUNDS * self.concurrency()).max(MIN_READ_AHEAD)
    }

    /// A draining sender gives its unsent read-ahead, and what was handed to it, back to the
    /// queue, and takes nothing more into its hands.
    fn return_ready(&mut self) {
        self.actors.set_outbox_room(0);
        let held: Vec<Held> = self
            .ready
            .drain(..)
            .chain(self.unflushed.drain(..))
            .collect();
        self.give_back(held);
    }

    fn start_send(&mut self, ctx: &mut Context<Self>, message: OutboxMessage, body: Vec<u8>) {
        if message.channel != storage::Channel::Email {
            return self.start_chat_send(ctx, message, body);
        }
        self.in_flight += 1;
        let transport = self.transport.clone();
        let (from, to) = (message.envelope_from.clone(), message.envelope_to.clone());
        let fut = async move { transport.send(&from, &to, &body).await };
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.in_flight -= 1;
            let finished = act.complete(message, result);
            act.finished.push(finished);
            act.pump(ctx);
        }));
    }

    /// What a send's result means for the message: logged and counted here, recorded by a round.
    fn complete(&self, m: OutboxMessage, result: Result<SendReceipt, SendError>) -> Finished {
        let now = self.app.now();
        let (outcome, event) = match result {
            Ok(receipt) => {
                info!(outbox_id = m.id, kind = logging::kind(m.kind), to = %m.envelope_to.join(","), reply = %receipt.reply, "email sent");
                Metrics::inc(&self.app.metrics.emails_sent);
                self.app.metrics.count_send("email", "sent");
                (
                    SendOutcome::Sent {
                        reply: receipt.reply,
                    },
                    Event::EmailSent {
                        outbox: m.id,
                        kind: m.kind,
                    },
                )
            }
            Err(e) if e.is_permanent() => {
                warn!(outbox_id = m.id, to = %m.envelope_to.join(","), reply = %e, "email failed permanently");
                Metrics::inc(&self.app.metrics.emails_failed);
                self.app.metrics.count_send("email", "failed");
                let reply = e.to_string();
                (
                    SendOutcome::Failed {
                        reply: reply.clone(),
                    },
                    Event::EmailFailed {
                        outbox: m.id,
                        reply,
                    },
                )
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
                    warn!(outbox_id = m.id, to = %m.envelope_to.join(","), %reply, "email failed");
                    Metrics::inc(&self.app.metrics.emails_failed);
                    self.app.metrics.count_send("email", "failed");
                    (
                        SendOutcome::Failed {
                            reply: reply.clone(),
                        },
                        Event::EmailFailed {
                            outbox: m.id,
                            reply,
                        },
                    )
                } else {
                    let retry_at = now + self.backoff(m.attempts);
                    info!(outbox_id = m.id, to = %m.envelope_to.join(","), reply = %e, %retry_at, "email deferred");
                    Metrics::inc(&self.app.metrics.emails_deferred);
                    self.app.metrics.count_send("email", "deferred");
                    let reply = e.to_string();
                    (
                        SendOutcome::Deferred {
                            retry_at,
                            reply: reply.clone(),
                        },
                        Event::EmailDeferred {
                            outbox: m.id,
                            reply,
                        },
                    )
                }
            }
        };
        Finished {
            message: m,
            outcome,
            event,
        }
    }

    /// Sends a chat message through its channel; see [`chat`] for what the answers mean.
    fn start_chat_send(&mut self, ctx: &mut Context<Self>, message: OutboxMessage, body: Vec<u8>) {
        self.in_flight += 1;
        let envelope = chat::prepare(&self.app.store, &message, &body);
        let channel = self.actors.channels().get(message.channel).cloned();
        let fut = async move {
            let envelope = envelope?;
            let Some(channel) = channel else {
                return Ok((
                    envelope,
                    Err(bots::bus::ChatSendError::Transient(
                        "the channel is not running (not configured?)".into(),
                    )),
                ));
            };
            let result = channel.send(envelope.message.clone()).await;
            Ok((envelope, result))
        };
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.in_flight -= 1;
            let finished = act.complete_chat(message, result);
            act.finished.push(finished);
            act.pump(ctx);
        }));
    }

    /// What a chat send's result means for the message (see [`chat::judge`]).
    fn complete_chat(&self, m: OutboxMessage, result: ChatAttempt) -> Finished {
        let now = self.app.now();
        let channel = m.channel.as_str();
        let verdict = match result {
            Ok((envelope, answer)) => chat::judge(&self.app.store, &m, &envelope, answer, now),
            Err(why) => chat::Verdict::Failed(why),
        };
        let verdict = match verdict {
            chat::Verdict::Retry(_, why) if self.too_old(&m, now) => {
                chat::Verdict::Failed(format!(
                    "gave up after {} attempts over {} hours: {why}",
                    m.attempts,
                    (now - m.created_at).num_hours()
                ))
            }
            v => v,
        };
        let (outcome, event, state) = match verdict {
            chat::Verdict::Sent(reply) => {
                info!(outbox_id = m.id, channel, kind = logging::kind(m.kind), %reply, "chat message sent");
                let event = Event::ChatSent {
                    outbox: m.id,
                    channel: channel.to_owned(),
                    kind: m.kind,
                };
                (SendOutcome::Sent { reply }, event, "sent")
            }
            chat::Verdict::Retry(at, reply) => {
                let retry_at = at.unwrap_or_else(|| now + self.backoff(m.attempts));
                info!(outbox_id = m.id, channel, %reply, %retry_at, "chat message deferred");
                let event = Event::ChatDeferred {
                    outbox: m.id,
                    reply: reply.clone(),
                };
                (SendOutcome::Deferred { retry_at, reply }, event, "deferred")
            }
            chat::Verdict::Failed(reply) => {
                warn!(outbox_id = m.id, channel, %reply, "chat message failed");
                let event = Event::ChatFailed {
                    outbox: m.id,
                    reply: reply.clone(),
                };
                (SendOutcome::Failed { reply }, event, "failed")
            }
        };
        self.app.metrics.count_send(channel, state);
        Finished {
            message: m,
            outcome,
            event,
        }
    }

    /// Whether a message has been retried for longer than `[outbox] max_age_hours`.
    fn too_old(&self, m: &OutboxMessage, now: DateTime<Utc>) -> bool {
        now - m.created_at
            > chrono::Duration::hours(i64::from(self.app.settings.outbox.max_age_hours))
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

    /// Deletes, on a blocking thread, the texts of messages sent or failed more than `[outbox]
    /// keep_bodies_days` ago: at 40,000 emails a day they would grow the data directory by
    /// some 100 MB a day for ever.
    fn prune_bodies(&self) {
        let days = self.app.settings.outbox.keep_bodies_days;
        if days == 0 {
            return;
        }
        let before = self.app.now() - chrono::Duration::days(i64::from(days));
        let store = self.app.store.clone();
        actix_rt::spawn(async move {
            let pruned =
                tokio::task::spawn_blocking(move || store.prune_outbox_bodies(before, PRUNE_LIMIT))
                    .await;
            match pruned {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => info!(
                    messages = n,
                    "deleted the texts of messages sent or failed before the retention time"
                ),
                Ok(Err(e)) => warn!(error = %e, "cannot delete the texts of old outbox messages"),
                Err(e) => warn!(error = %e, "the outbox pruning task failed"),
            }
        });
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
                    act.wake();
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
            Ok(r) => {
                if r.journaled > 0 {
                    warn!(
                        messages = r.journaled,
                        "recorded sends that ended before donebot stopped, from the outcome journal"
                    );
                }
                if r.released > 0 {
                    warn!(
                        messages = r.released,
                        "re-queued messages that were claimed for sending when the outbox stopped"
                    );
                }
            }
            Err(e) => error!(error = %e, "cannot recover in-flight outbox messages"),
        }
        // After the recovery, which ends every claim held before: from now on the enqueuers
        // may claim messages for this sender.
        self.actors.set_outbox_room(HANDOFF_ROOM);
        self.prune_bodies();
        ctx.run_interval(PRUNE_EVERY, |act, _| act.prune_bodies());
        self.pump(ctx);
    }
}

impl Handler<Handed> for OutboxActor {
    type Result = ();
    fn handle(&mut self, Handed(messages): Handed, ctx: &mut Context<Self>) {
        self.unflushed
            .extend(messages.into_iter().map(Held::handed));
        if self.draining {
            self.return_ready();
        }
        self.pump(ctx);
    }
}

impl Handler<Wake> for OutboxActor {
    type Result = ();
    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.wake();
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
        self.drained.push(tx);
        self.return_ready();
        // Records what finished and answers once it is durable (at once if nothing is pending).
        self.pump(ctx);
        Box::pin(
            async move {
                let _ = rx.await;
            }
            .into_actor(self)
            .map(|(), _act, ctx| actix::ActorContext::stop(ctx)),
        )
    }
}
