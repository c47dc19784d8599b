//! The outbox: every outgoing message with its own state, persisted before each action.
//!
//! Lifecycle (see [`OutboxState`]): `queued → sending → sent | deferred → sending … | failed`.
//! `sending` is a claim held in memory ([`claims`]): in sled a claimed message stays `queued` or
//! `deferred` until its outcome is recorded, so a send costs one transition, not two. A message is
//! in the index tree that matches its stored state: `outbox_due` (queued, deferred; keyed by due
//! time so the sender wakes at the earliest) or none (sent, failed); `outbox_inflight` holds only
//! durable claims written by earlier versions, which start-up queues again. Every transition
//! rewrites the record, moves the index entry and adjusts the per-state counters in one
//! transaction. A key (`digest:3:2026-03-09:email`) is enqueued at most once, ever: `outbox_keys`
//! remembers each, except a prompt's email key (`prompt:MEMBER:DAY:email`), which only the
//! prompt's creation writes, once per member and day by the prompts' own index. Records are
//! binary ([`record`]): a transition rewrites about 150 bytes, not 400 of JSON.
//!
//! The batch operations ([`Store::enqueue_many`], [`Store::create_prompts`], [`Store::claim_due`],
//! [`Store::record_outcomes`]) put up to [`MAX_BATCH`] messages in one transaction, each with
//! its record, index entries and counters: a sender handles a thousand messages with a few
//! transactions instead of thousands, and a crash still never splits a transition.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::TransactionalTree;

use crate::codec::{id_key, key, key_id};
use crate::error::{StorageError, StorageResult, TxResult, abort};
use crate::trees::Trees;
use crate::{Channel, MemberId, OutboxId, OutboxKind, OutboxMessage, OutboxState, Store, TeamId};

pub(crate) mod claims;
pub(crate) mod journal;
pub(crate) mod record;
use claims::{Claim, show_claimed};
pub use journal::JournaledOutcome;
use record::{decode_message, encode_message};

/// A message to enqueue.
#[derive(Debug, Clone)]
pub struct NewOutboxMessage {
    pub key: String,
    /// `email`, or the chat channel whose `Outgoing` message `body` is (as JSON).
    pub channel: Channel,
    pub kind: OutboxKind,
    pub team_id: Option<TeamId>,
    pub member_id: Option<MemberId>,
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    pub message_id: String,
    pub body: Vec<u8>,
    pub due_at: DateTime<Utc>,
}

/// What [`Store::recover_outbox`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxRecovery {
    /// Outcomes applied from the journal: sends that ended before a stop that sled had not
    /// recorded yet.
    pub journaled: usize,
    /// Claims ended, their messages due again: those a sender of this process held when it
    /// stopped, and durable `sending` records written by earlier versions.
    pub released: usize,
}

/// Messages claimed by their enqueuer for a sender that takes them from its hands, up to `room`
/// of them (see [`claims`] and [`Store::create_prompts_handing`]).
#[derive(Debug, Default)]
pub struct Handoff {
    /// How many more may be claimed.
    pub room: usize,
    /// The messages claimed, `sending` at their first attempt, each with its body.
    pub claimed: Vec<(OutboxMessage, Vec<u8>)>,
}

impl Handoff {
    pub fn with_room(room: usize) -> Handoff {
        Handoff {
            room,
            claimed: Vec::new(),
        }
    }
}

/// Number of messages in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxCounts {
    pub queued: u64,
    pub sending: u64,
    pub sent: u64,
    pub deferred: u64,
    pub failed: u64,
}

/// The outbox trees as seen inside a transaction.
pub(crate) struct OutboxTx<'a> {
    pub outbox: &'a TransactionalTree,
    pub bodies: &'a TransactionalTree,
    pub due: &'a TransactionalTree,
    pub inflight: &'a TransactionalTree,
    pub keys: &'a TransactionalTree,
    pub counters: &'a TransactionalTree,
}

fn due_key(at: DateTime<Utc>, id: OutboxId) -> Vec<u8> {
    key(&[&at.timestamp_millis().max(0).to_be_bytes(), &id_key(id)])
}

/// The per-state counter changes of one transaction, written once at its end (two counter
/// writes per message were a third of a transition's tree operations). Made inside the
/// transaction closure, so a retried transaction starts from zero.
#[derive(Default)]
pub(crate) struct Tally(Vec<(&'static str, i64)>);

impl Tally {
    fn add(&mut self, state: &OutboxState, delta: i64) {
        let name = state.as_str();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, d)) => *d += delta,
            None => self.0.push((name, delta)),
        }
    }

    fn moved(&mut self, from: &OutboxState, to: &OutboxState) {
        self.add(from, -1);
        self.add(to, 1);
    }

    /// Adds the changes to the `outbox.STATE` counters.
    pub(crate) fn write(&self, counters: &TransactionalTree) -> TxResult<()> {
        for &(name, delta) in &self.0 {
            if delta != 0 {
                counter_add(counters, &format!("outbox.{name}"), delta)?;
            }
        }
        Ok(())
    }
}

pub(crate) fn counter_add(counters: &TransactionalTree, name: &str, delta: i64) -> TxResult<()> {
    let now = match counters.get(name)? {
        Some(v) => i64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
        None => 0,
    };
    counters.insert(name, &(now + delta).to_be_bytes())?;
    Ok(())
}

impl NewOutboxMessage {
    /// The record it is stored as, with `id`, enqueued at `now`.
    pub(crate) fn record(&self, id: OutboxId, now: DateTime<Utc>) -> OutboxMessage {
        OutboxMessage {
            id,
            key: self.key.clone(),
            channel: self.channel,
            kind: self.kind,
            team_id: self.team_id,
            member_id: self.member_id,
            envelope_from: self.envelope_from.clone(),
            envelope_to: self.envelope_to.clone(),
            message_id: self.message_id.clone(),
            state: OutboxState::Queued,
            attempts: 0,
            due_at: self.due_at,
            created_at: now,
        }
    }
}

impl OutboxTx<'_> {
    /// Enqueues unless the key was seen before. Returns the id and whether it is new. A
    /// prompt's email key ([`crate::prompts::prompt_email_key`]) is refused: that message is
    /// enqueued with its prompt ([`OutboxTx::enqueue_unkeyed`]).
    pub(crate) fn enqueue(
        &self,
        id: OutboxId,
        m: &NewOutboxMessage,
        now: DateTime<Utc>,
        tally: &mut Tally,
    ) -> TxResult<(OutboxId, bool)> {
        if crate::prompts::is_prompt_email_key(&m.key) {
            return abort(StorageError::Conflict(format!(
                "outbox key {}: a prompt's email is enqueued with its prompt, and only so",
                m.key
            )));
        }
        if let Some(existing) = self.keys.get(m.key.as_bytes())? {
            return Ok((key_id("outbox_keys", &existing).or_else(abort)?, false));
        }
        self.keys.insert(m.key.as_bytes(), &id_key(id))?;
        self.enqueue_unkeyed(id, m, now, tally)?;
        Ok((id, true))
    }

    /// The record, body and due entry of a new message, and no `outbox_keys` entry: after
    /// [`OutboxTx::enqueue`] wrote one, or for the email of a prompt this transaction creates,
    /// keyed [`crate::prompts::prompt_email_key`], which is new without a look in `outbox_keys`
    /// (the prompt's member and day had no prompt in the same transaction, and never lose it;
    /// `enqueue` refuses such keys).
    pub(crate) fn enqueue_unkeyed(
        &self,
        id: OutboxId,
        m: &NewOutboxMessage,
        now: DateTime<Utc>,
        tally: &mut Tally,
    ) -> TxResult<()> {
        let msg = m.record(id, now);
        self.outbox.insert(&id_key(id), encode_message(&msg))?;
        self.bodies.insert(&id_key(id), m.body.as_slice())?;
        self.due.insert(due_key(m.due_at, id), &[])?;
        tally.add(&msg.state, 1);
        Ok(())
    }

    /// The outcome of a send of `m`, a message as its sender holds it while claimed: its record
    /// is `m` one attempt before, `deferred` if `was_deferred` else `queued` (see [`claims`]), so
    /// the new record is written from `m` without reading the old one.
    fn settle_held(
        &self,
        m: &OutboxMessage,
        was_deferred: bool,
        outcome: &SendOutcome,
        at: DateTime<Utc>,
        tally: &mut Tally,
    ) -> TxResult<OutboxMessage> {
        // What the record was, as far as the index and the counts look: its kind and `m.due_at`.
        let was = if was_deferred {
            OutboxState::Deferred {
                reply: String::new(),
            }
        } else {
            OutboxState::Queued
        };
        let mut new = m.clone();
        outcome.apply(&mut new, at);
        self.unindex(m.id, &was, m.due_at)?;
        self.index(&new)?;
        tally.moved(&was, &new.state);
        self.outbox.insert(&id_key(m.id), encode_message(&new))?;
        Ok(new)
    }

    /// Applies `change` to a message, keeping indexes and counters in step with its state.
    fn transition(
        &self,
        id: OutboxId,
        change: &dyn Fn(&mut OutboxMessage) -> Result<(), StorageError>,
        tally: &mut Tally,
    ) -> TxResult<OutboxMessage> {
        let Some(old) = self.outbox.get(id_key(id))? else {
            return abort(StorageError::NotFound(format!("outbox message {id}")));
        };
        let mut m = decode_message(&old).or_else(abort)?;
        let (was, was_due) = (m.state.clone(), m.due_at);
        change(&mut m).or_else(abort)?;
        self.unindex(id, &was, was_due)?;
        self.index(&m)?;
        tally.moved(&was, &m.state);
        self.outbox.insert(&id_key(id), encode_message(&m))?;
        Ok(m)
    }

    fn unindex(&self, id: OutboxId, state: &OutboxState, due_at: DateTime<Utc>) -> TxResult<()> {
        match state {
            OutboxState::Queued | OutboxState::Deferred { .. } => {
                self.due.remove(due_key(due_at, id))?;
            }
            OutboxState::Sending { .. } => {
                self.inflight.remove(&id_key(id))?;
            }
            OutboxState::Sent { .. } | OutboxState::Failed { .. } => {}
        }
        Ok(())
    }

    fn index(&self, m: &OutboxMessage) -> TxResult<()> {
        match m.state {
            OutboxState::Queued | OutboxState::Deferred { .. } => {
                self.due.insert(due_key(m.due_at, m.id), &[])?;
            }
            OutboxState::Sending { .. } => {
                self.inflight.insert(&id_key(m.id), &[])?;
            }
            OutboxState::Sent { .. } | OutboxState::Failed { .. } => {}
        }
        Ok(())
    }
}

/// One transaction over the outbox trees of `$trees` (a [`Trees`]: the store's, or a backup's).
macro_rules! outbox_tx {
    ($trees:expr, |$tx:ident| $body:expr) => {
        (
            &$trees.outbox,
            &$trees.outbox_bodies,
            &$trees.outbox_due,
            &$trees.outbox_inflight,
            &$trees.outbox_keys,
            &$trees.counters,
        )
            .transaction(|(outbox, bodies, due, inflight, keys, counters)| {
                let $tx = OutboxTx {
                    outbox,
                    bodies,
                    due,
                    inflight,
                    keys,
                    counters,
                };
                $body
            })
    };
}

/// Applies journaled outcomes (the journal's `frames`) to the outbox in `t`: each only to the
/// claim it ended (see [`ended_by`]); one already recorded, claimed again since, or deleted is
/// left as it is, so applying twice changes nothing. Returns how many
/// were applied. Start-up applies the store's own journal; a backup applies it to its snapshot.
/// The caller holds the write gate.
pub(crate) fn apply_journal(t: &Trees, frames: &[journal::Frame]) -> StorageResult<usize> {
    let mut applied = 0;
    for (at, outcomes) in frames {
        let at = *at;
        for chunk in outcomes.chunks(MAX_BATCH) {
            applied += outbox_tx!(t, |tx| {
                let mut tally = Tally::default();
                let mut applied = 0;
                for o in chunk {
                    let apply = |m: &mut OutboxMessage| {
                        if ended_by(m, o.attempts) {
                            m.attempts = o.attempts;
                            o.outcome.apply(m, at);
                            Ok(())
                        } else {
                            Err(StorageError::Conflict(String::new()))
                        }
                    };
                    match tx.transition(o.id, &apply, &mut tally) {
                        Ok(_) => applied += 1,
                        Err(sled::transaction::ConflictableTransactionError::Abort(
                            StorageError::Conflict(_) | StorageError::NotFound(_),
                        )) => {}
                        Err(e) => return Err(e),
                    }
                }
                tally.write(tx.counters)?;
                Ok(applied)
            })?;
        }
    }
    Ok(applied)
}

/// Whether a journaled outcome of attempt `attempts` ended the claim `m` is in: `m` is still as
/// that claim found it, `queued` or `deferred` one attempt before (claims are not written), or
/// `sending` at that attempt (a durable claim, written by earlier versions). Once recorded, or
/// claimed and recorded again, it is neither.
fn ended_by(m: &OutboxMessage, attempts: u32) -> bool {
    match m.state {
        OutboxState::Queued | OutboxState::Deferred { .. } => {
            m.attempts.checked_add(1) == Some(attempts)
        }
        OutboxState::Sending { .. } => m.attempts == attempts,
        OutboxState::Sent { .. } | OutboxState::Failed { .. } => false,
    }
}

/// A send that ended: the message (as its sender holds it, when it does) and how.
struct Ended<'a> {
    id: OutboxId,
    held: Option<&'a OutboxMessage>,
    outcome: &'a SendOutcome,
}

/// How a send ended, as recorded by [`Store::record_outcomes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted by the next hop, with its reply.
    Sent { reply: String },
    /// A transient failure: queued again for `retry_at`.
    Deferred {
        retry_at: DateTime<Utc>,
        reply: String,
    },
    /// A permanent failure, or transient ones for too long.
    Failed { reply: String },
}

impl SendOutcome {
    fn apply(&self, m: &mut OutboxMessage, at: DateTime<Utc>) {
        m.state = match self {
            SendOutcome::Sent { reply } => OutboxState::Sent {
                at,
                reply: reply.clone(),
            },
            SendOutcome::Deferred { retry_at, reply } => {
                m.due_at = *retry_at;
                OutboxState::Deferred {
                    reply: reply.clone(),
                }
            }
            SendOutcome::Failed { reply } => OutboxState::Failed {
                at,
                reply: reply.clone(),
            },
        };
    }
}

/// Upper bound on the messages written by one transaction of the batch operations, so that a
/// huge batch neither holds sled's transaction lock for long nor builds an unbounded write set.
pub const MAX_BATCH: usize = 1024;

impl Store {
    /// Enqueues a message unless its key was enqueued before. Returns its id and whether it is new.
    pub fn enqueue(
        &self,
        m: &NewOutboxMessage,
        now: DateTime<Utc>,
    ) -> StorageResult<(OutboxId, bool)> {
        let _w = self.write_gate();
        let id = self.next_id()?;
        Ok(outbox_tx!(self.t, |tx| {
            let mut tally = Tally::default();
            let done = tx.enqueue(id, m, now, &mut tally)?;
            tally.write(tx.counters)?;
            Ok(done)
        })?)
    }

    /// Enqueues many messages, each unless its key was enqueued before (also earlier in the same
    /// batch), in one transaction per [`MAX_BATCH`] messages. Returns, in order, each message's
    /// id and whether it is new. Each chunk is atomic; a failure leaves later chunks unwritten.
    pub fn enqueue_many(
        &self,
        messages: &[NewOutboxMessage],
        now: DateTime<Utc>,
    ) -> StorageResult<Vec<(OutboxId, bool)>> {
        let _w = self.write_gate();
        let mut out = Vec::with_capacity(messages.len());
        for chunk in messages.chunks(MAX_BATCH) {
            let ids: Vec<OutboxId> = chunk
                .iter()
                .map(|_| self.next_id())
                .collect::<StorageResult<_>>()?;
            let done = outbox_tx!(self.t, |tx| {
                let mut tally = Tally::default();
                let done = ids
                    .iter()
                    .zip(chunk)
                    .map(|(&id, m)| tx.enqueue(id, m, now, &mut tally))
                    .collect::<TxResult<Vec<_>>>()?;
                tally.write(tx.counters)?;
                Ok(done)
            })?;
            out.extend(done);
        }
        Ok(out)
    }

    /// Claims up to `limit` messages due at `now`, oldest due first, and returns them with their
    /// bodies, each `sending` at its next attempt. A claim is held in memory ([`claims`]), not
    /// written: until its outcome is recorded the message stays `queued` (or `deferred`) in sled,
    /// and a crash leaves it so. The caller must report each one with [`Store::record_outcomes`]
    /// (or give it back with [`Store::return_unsent`]). A message whose text is missing is
    /// recorded `failed` instead of returned.
    pub fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StorageResult<Vec<(OutboxMessage, Vec<u8>)>> {
        let limit = limit.min(MAX_BATCH);
        let end = due_key(now, u64::MAX);
        // The due messages not claimed yet, found without holding the claims' table: the index
        // starts with the claimed ones (those handed to the sender, those being sent), and
        // enqueuers handing messages over must not wait for the walk past them.
        let mut unclaimed = Vec::with_capacity(limit);
        for k in self.t.outbox_due.range(..=end).keys() {
            if unclaimed.len() == limit {
                break;
            }
            let id = key_id("outbox_due", &k?)?;
            if !self.claims.lock().contains_key(&id) {
                unclaimed.push(id);
            }
        }
        let claimed = {
            let mut claims = self.claims.lock();
            // Read first, claim after: an error claims nothing.
            let mut found = Vec::new();
            for id in unclaimed {
                if claims.contains_key(&id) {
                    continue;
                }
                // An index entry and its record are written together; a record that is not
                // due (recorded since the scan started) is not claimed.
                let Some(v) = self.t.outbox.get(id_key(id))? else {
                    continue;
                };
                let m = decode_message(&v)?;
                let was_deferred = match m.state {
                    OutboxState::Queued => false,
                    OutboxState::Deferred { .. } => true,
                    _ => continue,
                };
                let claim = Claim {
                    since: now,
                    attempts: m.attempts.saturating_add(1),
                    was_deferred,
                    committed: true,
                };
                found.push((m, claim));
            }
            found
                .into_iter()
                .map(|(mut m, claim)| {
                    claims.insert(m.id, claim);
                    show_claimed(&mut m, &claim);
                    m
                })
                .collect::<Vec<_>>()
        };
        let bodies: Result<Vec<_>, _> = claimed
            .iter()
            .map(|m| self.t.outbox_bodies.get(id_key(m.id)))
            .collect();
        let bodies = match bodies {
            Ok(bodies) => bodies,
            Err(e) => {
                // Nothing is handed out: every claim of this call is given back.
                self.return_unsent(&claimed.iter().map(|m| m.id).collect::<Vec<_>>());
                return Err(e.into());
            }
        };
        let mut ready = Vec::with_capacity(claimed.len());
        let mut textless = Vec::new();
        for (m, body) in claimed.into_iter().zip(bodies) {
            match body {
                Some(body) => ready.push((m, body.to_vec())),
                None => textless.push(m.id),
            }
        }
        if !textless.is_empty() {
            // Nothing can send such a message; failing it keeps it from blocking every claim.
            let reply = "its text is missing from the outbox; it cannot be sent".to_owned();
            let failed: Vec<_> = textless
                .into_iter()
                .map(|id| {
                    let reply = reply.clone();
                    (id, SendOutcome::Failed { reply })
                })
                .collect();
            self.record_outcomes(now, &failed)?;
        }
        Ok(ready)
    }

    /// Records how sends ended, at `at`: each claimed message moves to `sent`, `deferred` or
    /// `failed` at its claim's attempt, all of them in one transaction (per [`MAX_BATCH`]), and
    /// its claim ends. Not flushed: the caller decides when the outcomes must be durable (see
    /// the outbox actor's group commit).
    pub fn record_outcomes(
        &self,
        at: DateTime<Utc>,
        outcomes: &[(OutboxId, SendOutcome)],
    ) -> StorageResult<Vec<OutboxMessage>> {
        let ended: Vec<Ended<'_>> = outcomes
            .iter()
            .map(|(id, outcome)| Ended {
                id: *id,
                held: None,
                outcome,
            })
            .collect();
        self.record_ended(at, &ended)
    }

    /// [`Store::record_outcomes`] for messages as their sender holds them (as claimed: `sending`,
    /// at the claim's attempt). While its claim stands, a message's record is written from this
    /// copy without being read: a claimed message's record is the copy itself, one attempt before,
    /// `queued` or `deferred` (see [`claims`]), and nothing else changes it meanwhile (an
    /// operator's retry refuses it). A message whose claim has ended is read, as there.
    pub fn record_held_outcomes(
        &self,
        at: DateTime<Utc>,
        outcomes: &[(OutboxMessage, SendOutcome)],
    ) -> StorageResult<usize> {
        let ended: Vec<Ended<'_>> = outcomes
            .iter()
            .map(|(m, outcome)| Ended {
                id: m.id,
                held: Some(m),
                outcome,
            })
            .collect();
        Ok(self.record_ended(at, &ended)?.len())
    }

    fn record_ended(
        &self,
        at: DateTime<Utc>,
        outcomes: &[Ended<'_>],
    ) -> StorageResult<Vec<OutboxMessage>> {
        let _w = self.write_gate();
        // Held across the transaction and until the claims are gone: no reader of the counts sees
        // an outcome recorded with its claim still standing (they would show the message twice).
        // The claims' table itself is locked only for a moment.
        let _settling = self.claims.settle();
        let claimed: HashMap<OutboxId, Claim> = {
            let claims = self.claims.lock();
            outcomes
                .iter()
                .filter_map(|e| claims.get(&e.id).map(|c| (e.id, *c)))
                .collect()
        };
        let mut recorded = Vec::with_capacity(outcomes.len());
        for chunk in outcomes.chunks(MAX_BATCH) {
            let done = outbox_tx!(self.t, |tx| {
                let mut tally = Tally::default();
                let done = chunk
                    .iter()
                    .map(|e| match (e.held, claimed.get(&e.id)) {
                        (Some(m), Some(claim)) if claim.attempts == m.attempts => {
                            tx.settle_held(m, claim.was_deferred, e.outcome, at, &mut tally)
                        }
                        (_, claim) => {
                            let apply = |m: &mut OutboxMessage| {
                                if let Some(claim) = claim {
                                    m.attempts = claim.attempts;
                                }
                                e.outcome.apply(m, at);
                                Ok(())
                            };
                            tx.transition(e.id, &apply, &mut tally)
                        }
                    })
                    .collect::<TxResult<Vec<_>>>()?;
                tally.write(tx.counters)?;
                Ok(done)
            })?;
            let mut claims = self.claims.lock();
            for e in chunk {
                claims.remove(&e.id);
            }
            recorded.extend(done);
        }
        Ok(recorded)
    }

    fn record_one(
        &self,
        id: OutboxId,
        at: DateTime<Utc>,
        outcome: SendOutcome,
    ) -> StorageResult<OutboxMessage> {
        self.record_outcomes(at, &[(id, outcome)])?
            .pop()
            .ok_or_else(|| StorageError::NotFound(format!("outbox message {id}")))
    }

    pub fn mark_sent(
        &self,
        id: OutboxId,
        at: DateTime<Utc>,
        reply: &str,
    ) -> StorageResult<OutboxMessage> {
        let reply = reply.to_owned();
        self.record_one(id, at, SendOutcome::Sent { reply })
    }

    pub fn mark_deferred(
        &self,
        id: OutboxId,
        retry_at: DateTime<Utc>,
        reply: &str,
    ) -> StorageResult<OutboxMessage> {
        let reply = reply.to_owned();
        self.record_one(id, retry_at, SendOutcome::Deferred { retry_at, reply })
    }

    pub fn mark_failed(
        &self,
        id: OutboxId,
        at: DateTime<Utc>,
        reply: &str,
    ) -> StorageResult<OutboxMessage> {
        let reply = reply.to_owned();
        self.record_one(id, at, SendOutcome::Failed { reply })
    }

    /// Operator retry: a failed (or deferred) message is queued again, due now. One whose text
    /// was deleted ([`Store::prune_outbox_bodies`]) cannot be.
    pub fn retry_outbox(&self, id: OutboxId, now: DateTime<Utc>) -> StorageResult<OutboxMessage> {
        let _w = self.write_gate();
        let requeue = |m: &mut OutboxMessage| match m.state {
            OutboxState::Failed { .. } | OutboxState::Deferred { .. } => {
                m.state = OutboxState::Queued;
                m.due_at = now;
                Ok(())
            }
            _ => Err(StorageError::Conflict(format!(
                "outbox message {} is {}; only failed or deferred messages can be retried",
                m.id,
                m.state.as_str()
            ))),
        };
        let claims = self.claims.lock();
        if claims.contains_key(&id) {
            return Err(StorageError::Conflict(format!(
                "outbox message {id} is sending; only failed or deferred messages can be retried"
            )));
        }
        Ok(outbox_tx!(self.t, |tx| {
            if tx.outbox.get(id_key(id))?.is_some() && tx.bodies.get(id_key(id))?.is_none() {
                return abort(StorageError::Conflict(format!(
                    "outbox message {id} cannot be retried: its text was deleted (it is kept for [outbox] keep_bodies_days after the message is sent or fails)"
                )));
            }
            let mut tally = Tally::default();
            let done = tx.transition(id, &requeue, &mut tally)?;
            tally.write(tx.counters)?;
            Ok(done)
        })?)
    }

    /// Deletes the text of messages sent or failed before `before`, oldest first, at most
    /// `limit` of them in this call (call again for more); returns how many. Their records stay
    /// (recipients, state, the server's reply, when). A message still to be sent keeps its text
    /// whatever its age. The walk ends at the first message created at or after `before`: ids
    /// grow with creation time, so every later one is newer too. Each chunk of messages is one
    /// transaction, so a retry ([`Store::retry_outbox`]) never queues a message whose text is
    /// being deleted.
    pub fn prune_outbox_bodies(&self, before: DateTime<Utc>, limit: usize) -> StorageResult<usize> {
        const CHUNK: usize = 256;
        let _w = self.write_gate();
        let mut pruned = 0;
        let mut from = id_key(0);
        while pruned < limit {
            let ids: Vec<OutboxId> = self
                .t
                .outbox_bodies
                .range(from.as_slice()..)
                .keys()
                .take(CHUNK)
                .map(|k| key_id("outbox_bodies", &k?))
                .collect::<StorageResult<_>>()?;
            let Some(&last) = ids.last() else {
                break;
            };
            let want = limit - pruned;
            let (removed, newer) = (&self.t.outbox, &self.t.outbox_bodies).transaction(
                |(outbox, bodies)| -> TxResult<(usize, bool)> {
                    let mut removed = 0;
                    for &id in &ids {
                        if removed == want {
                            break;
                        }
                        // Deleted meanwhile: nothing to keep a text for.
                        let Some(v) = outbox.get(id_key(id))? else {
                            continue;
                        };
                        let m = decode_message(&v).or_else(abort)?;
                        if m.created_at >= before {
                            return Ok((removed, true));
                        }
                        let finished = match &m.state {
                            OutboxState::Sent { at, .. } | OutboxState::Failed { at, .. } => *at,
                            _ => continue,
                        };
                        if finished < before && bodies.remove(&id_key(id))?.is_some() {
                            removed += 1;
                        }
                    }
                    Ok((removed, false))
                },
            )?;
            pruned += removed;
            if newer || ids.len() < CHUNK {
                break;
            }
            from = id_key(last.saturating_add(1));
        }
        Ok(pruned)
    }

    /// Claimed messages that were never handed to the transport (a draining sender's read-ahead)
    /// are given back: their claims end, and they are due again as they were, without an attempt
    /// counted (nothing was written for the claim).
    pub fn return_unsent(&self, ids: &[OutboxId]) {
        let mut claims = self.claims.lock();
        for id in ids {
            claims.remove(id);
        }
    }

    /// Appends outcomes to the outcome journal ([`journal`]) and syncs it: once this returns they
    /// are durable, and start-up applies them if a crash comes before sled has them. Record them
    /// in sled afterwards with [`Store::record_outcomes`], flush, then call
    /// [`Store::outcomes_applied`].
    pub fn journal_outcomes(
        &self,
        at: DateTime<Utc>,
        outcomes: &[JournaledOutcome],
    ) -> StorageResult<()> {
        self.journal.append(at, outcomes)
    }

    /// `n` journaled outcomes are recorded in sled and flushed; the journal is emptied once none
    /// is left.
    pub fn outcomes_applied(&self, n: usize) -> StorageResult<()> {
        self.journal.applied(n)
    }

    /// Start-up of a sender: first the outcome journal is applied (a send it has ended is not sent
    /// again), then the claims of an earlier sender end: in memory (one of this process that
    /// stopped), and durable `sending` records written by earlier versions, which are queued
    /// again, due now. A message claimed when a crash came is still `queued` and goes out again:
    /// delivery is at-least-once, and each keeps its Message-ID so a duplicate is recognisable.
    pub fn recover_outbox(&self, now: DateTime<Utc>) -> StorageResult<OutboxRecovery> {
        let journaled = self.replay_journal()?;
        let held = {
            let mut claims = self.claims.lock();
            let held = claims.len();
            claims.clear();
            held
        };
        let ids: Vec<OutboxId> = self
            .t
            .outbox_inflight
            .iter()
            .keys()
            .map(|k| key_id("outbox_inflight", &k?))
            .collect::<StorageResult<_>>()?;
        let _w = self.write_gate();
        for chunk in ids.chunks(MAX_BATCH) {
            outbox_tx!(self.t, |tx| {
                let mut tally = Tally::default();
                for &id in chunk {
                    let requeue = |m: &mut OutboxMessage| {
                        m.state = OutboxState::Queued;
                        m.due_at = now;
                        Ok(())
                    };
                    tx.transition(id, &requeue, &mut tally)?;
                }
                tally.write(tx.counters)
            })?;
        }
        Ok(OutboxRecovery {
            journaled,
            released: held + ids.len(),
        })
    }

    /// Applies every journaled outcome to the claim it ended (see [`apply_journal`]), then flushes
    /// and empties the journal. Returns how many were applied.
    fn replay_journal(&self) -> StorageResult<usize> {
        let frames = self.journal.frames()?;
        if frames.is_empty() {
            // Nothing to apply (the usual start-up, after a clean stop): its zeros stay for the
            // next appends.
            return Ok(0);
        }
        let applied = {
            let _w = self.write_gate();
            apply_journal(&self.t, &frames)?
        };
        self.flush()?;
        self.journal.clear()?;
        Ok(applied)
    }

    pub fn outbox_message(&self, id: OutboxId) -> StorageResult<OutboxMessage> {
        match self.t.outbox.get(id_key(id))? {
            Some(v) => self.shown_message(&v),
            None => Err(StorageError::NotFound(format!("outbox message {id}"))),
        }
    }

    /// A stored record as readers see it: `sending` while claimed.
    pub(crate) fn shown_message(&self, record: &[u8]) -> StorageResult<OutboxMessage> {
        let mut m = decode_message(record)?;
        self.claims.overlay(&mut m);
        Ok(m)
    }

    pub fn outbox_body(&self, id: OutboxId) -> StorageResult<Vec<u8>> {
        match self.t.outbox_bodies.get(id_key(id))? {
            Some(v) => Ok(v.to_vec()),
            None => Err(StorageError::NotFound(format!("outbox message {id}"))),
        }
    }

    /// Messages in a state (by its name, e.g. `failed`), oldest first, at most `limit`.
    pub fn outbox_list(
        &self,
        state: Option<&str>,
        limit: usize,
    ) -> StorageResult<Vec<OutboxMessage>> {
        let mut out = Vec::new();
        for v in self.t.outbox.iter().values() {
            let m = self.shown_message(&v?)?;
            if state.is_none_or(|s| s == m.state.as_str()) {
                out.push(m);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub fn outbox_counts(&self) -> StorageResult<OutboxCounts> {
        // The counters count stored states; claimed messages are stored `queued` or `deferred`.
        // Read while no record round is settling (see `Claims::settle`), under the claims' lock
        // (which an operator's retry holds across its transaction).
        let _settled = self.claims.settled();
        let claims = self.claims.lock();
        let claimed = claims.values().filter(|c| c.committed).count() as u64;
        let from_deferred = claims
            .values()
            .filter(|c| c.committed && c.was_deferred)
            .count() as u64;
        let get = |s: &str| -> StorageResult<u64> {
            Ok(match self.t.counters.get(format!("outbox.{s}"))? {
                Some(v) => {
                    i64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])).max(0) as u64
                }
                None => 0,
            })
        };
        Ok(OutboxCounts {
            queued: get("queued")?.saturating_sub(claimed - from_deferred),
            sending: get("sending")? + claimed,
            sent: get("sent")?,
            deferred: get("deferred")?.saturating_sub(from_deferred),
            failed: get("failed")?,
        })
    }

    /// The earliest due time of a queued or deferred message.
    pub fn next_outbox_due(&self) -> StorageResult<Option<DateTime<Utc>>> {
        match self.t.outbox_due.first()? {
            Some((k, _)) => {
                let millis = i64::from_be_bytes(k.get(..8).and_then(|s| s.try_into().ok()).ok_or(
                    StorageError::Corrupt {
                        tree: "outbox_due",
                        reason: "short key".into(),
                    },
                )?);
                Ok(DateTime::from_timestamp_millis(millis))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
