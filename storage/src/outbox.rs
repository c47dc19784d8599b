//! The outbox: every outgoing message with its own state, persisted before each action.
//!
//! Lifecycle (see [`OutboxState`]): `queued → sending → sent | deferred → sending … | failed`.
//! A message is in exactly one of the index trees that match its state: `outbox_due` (queued,
//! deferred; keyed by due time so the sender wakes at the earliest), `outbox_inflight` (sending), or
//! none (sent, failed). Every transition rewrites the record, moves the index entry and adjusts the
//! per-state counters in one transaction. A key (`prompt:17:email`) is enqueued at most once, ever.

use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::TransactionalTree;

use crate::codec::{decode, encode, id_key, key, key_id};
use crate::error::{StorageError, StorageResult, TxResult, abort};
use crate::{MemberId, OutboxId, OutboxKind, OutboxMessage, OutboxState, Store, TeamId};

/// A message to enqueue.
#[derive(Debug, Clone)]
pub struct NewOutboxMessage {
    pub key: String,
    pub kind: OutboxKind,
    pub team_id: Option<TeamId>,
    pub member_id: Option<MemberId>,
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    pub message_id: String,
    pub body: Vec<u8>,
    pub due_at: DateTime<Utc>,
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

fn counter_name(state: &OutboxState) -> String {
    format!("outbox.{}", state.as_str())
}

pub(crate) fn counter_add(counters: &TransactionalTree, name: &str, delta: i64) -> TxResult<()> {
    let now = match counters.get(name)? {
        Some(v) => i64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
        None => 0,
    };
    counters.insert(name, &(now + delta).to_be_bytes())?;
    Ok(())
}

impl OutboxTx<'_> {
    /// Enqueues unless the key was seen before. Returns the id and whether it is new.
    pub(crate) fn enqueue(
        &self,
        id: OutboxId,
        m: &NewOutboxMessage,
        now: DateTime<Utc>,
    ) -> TxResult<(OutboxId, bool)> {
        if let Some(existing) = self.keys.get(m.key.as_bytes())? {
            return Ok((key_id("outbox_keys", &existing).or_else(abort)?, false));
        }
        let msg = OutboxMessage {
            id,
            key: m.key.clone(),
            kind: m.kind,
            team_id: m.team_id,
            member_id: m.member_id,
            envelope_from: m.envelope_from.clone(),
            envelope_to: m.envelope_to.clone(),
            message_id: m.message_id.clone(),
            state: OutboxState::Queued,
            attempts: 0,
            due_at: m.due_at,
            created_at: now,
        };
        self.outbox
            .insert(&id_key(id), encode(&msg).or_else(abort)?)?;
        self.bodies.insert(&id_key(id), m.body.as_slice())?;
        self.due.insert(due_key(m.due_at, id), &[])?;
        self.keys.insert(m.key.as_bytes(), &id_key(id))?;
        counter_add(self.counters, &counter_name(&msg.state), 1)?;
        Ok((id, true))
    }

    /// Applies `change` to a message, keeping indexes and counters in step with its state.
    fn transition(
        &self,
        id: OutboxId,
        change: &dyn Fn(&mut OutboxMessage) -> Result<(), StorageError>,
    ) -> TxResult<OutboxMessage> {
        let Some(old) = self.outbox.get(id_key(id))? else {
            return abort(StorageError::NotFound(format!("outbox message {id}")));
        };
        let old: OutboxMessage = decode("outbox", &old).or_else(abort)?;
        let mut new = old.clone();
        change(&mut new).or_else(abort)?;
        self.unindex(&old)?;
        self.index(&new)?;
        counter_add(self.counters, &counter_name(&old.state), -1)?;
        counter_add(self.counters, &counter_name(&new.state), 1)?;
        self.outbox
            .insert(&id_key(id), encode(&new).or_else(abort)?)?;
        Ok(new)
    }

    fn unindex(&self, m: &OutboxMessage) -> TxResult<()> {
        match m.state {
            OutboxState::Queued | OutboxState::Deferred { .. } => {
                self.due.remove(due_key(m.due_at, m.id))?;
            }
            OutboxState::Sending { .. } => {
                self.inflight.remove(&id_key(m.id))?;
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

macro_rules! outbox_tx {
    ($store:expr, |$tx:ident| $body:expr) => {
        (
            &$store.t.outbox,
            &$store.t.outbox_bodies,
            &$store.t.outbox_due,
            &$store.t.outbox_inflight,
            &$store.t.outbox_keys,
            &$store.t.counters,
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

impl Store {
    /// Enqueues a message unless its key was enqueued before. Returns its id and whether it is new.
    pub fn enqueue(
        &self,
        m: &NewOutboxMessage,
        now: DateTime<Utc>,
    ) -> StorageResult<(OutboxId, bool)> {
        let _w = self.write_gate();
        let id = self.next_id()?;
        Ok(outbox_tx!(self, |tx| tx.enqueue(id, m, now))?)
    }

    /// Claims up to `limit` messages due at `now`: each moves to `sending` before it is returned
    /// with its body. The caller must report each one with `mark_sent`/`mark_deferred`/`mark_failed`.
    pub fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StorageResult<Vec<(OutboxMessage, Vec<u8>)>> {
        let _w = self.write_gate();
        let end = due_key(now, u64::MAX);
        let mut claimed = Vec::new();
        for k in self.t.outbox_due.range(..=end).keys().take(limit) {
            let id = key_id("outbox_due", &k?)?;
            let result = outbox_tx!(self, |tx| tx.transition(id, &|m| {
                match m.state {
                    OutboxState::Queued | OutboxState::Deferred { .. } => {
                        m.state = OutboxState::Sending { since: now };
                        m.attempts += 1;
                        Ok(())
                    }
                    _ => Err(StorageError::Conflict(format!(
                        "outbox message {} is {}, not due",
                        m.id,
                        m.state.as_str()
                    ))),
                }
            }));
            match result {
                Ok(m) => {
                    let body = self.t.outbox_bodies.get(id_key(id))?.ok_or_else(|| {
                        StorageError::Corrupt {
                            tree: "outbox_bodies",
                            reason: format!("message {id} has no body"),
                        }
                    })?;
                    claimed.push((m, body.to_vec()));
                }
                // Claimed by someone else between the scan and the transaction.
                Err(sled::transaction::TransactionError::Abort(StorageError::Conflict(_))) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(claimed)
    }

    fn finish(
        &self,
        id: OutboxId,
        change: &dyn Fn(&mut OutboxMessage) -> Result<(), StorageError>,
    ) -> StorageResult<OutboxMessage> {
        let _w = self.write_gate();
        Ok(outbox_tx!(self, |tx| tx.transition(id, change))?)
    }

    pub fn mark_sent(
        &self,
        id: OutboxId,
        at: DateTime<Utc>,
        reply: &str,
    ) -> StorageResult<OutboxMessage> {
        self.finish(id, &|m| {
            m.state = OutboxState::Sent {
                at,
                reply: reply.to_owned(),
            };
            Ok(())
        })
    }

    pub fn mark_deferred(
        &self,
        id: OutboxId,
        retry_at: DateTime<Utc>,
        reply: &str,
    ) -> StorageResult<OutboxMessage> {
        self.finish(id, &|m| {
            m.state = OutboxState::Deferred {
                reply: reply.to_owned(),
            };
            m.due_at = retry_at;
            Ok(())
        })
    }

    pub fn mark_failed(
        &self,
        id: OutboxId,
        at: DateTime<Utc>,
        reply: &str,
    ) -> StorageResult<OutboxMessage> {
        self.finish(id, &|m| {
            m.state = OutboxState::Failed {
                at,
                reply: reply.to_owned(),
            };
            Ok(())
        })
    }

    /// Operator retry: a failed (or deferred) message is queued again, due now.
    pub fn retry_outbox(&self, id: OutboxId, now: DateTime<Utc>) -> StorageResult<OutboxMessage> {
        self.finish(id, &|m| match m.state {
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
        })
    }

    /// Start-up: messages a crash left in `sending` are queued again, due now. Delivery is
    /// therefore at-least-once; each keeps its Message-ID so a duplicate is recognisable.
    pub fn recover_outbox(&self, now: DateTime<Utc>) -> StorageResult<usize> {
        let ids: Vec<OutboxId> = self
            .t
            .outbox_inflight
            .iter()
            .keys()
            .map(|k| key_id("outbox_inflight", &k?))
            .collect::<StorageResult<_>>()?;
        for &id in &ids {
            self.finish(id, &|m| {
                m.state = OutboxState::Queued;
                m.due_at = now;
                Ok(())
            })?;
        }
        Ok(ids.len())
    }

    pub fn outbox_message(&self, id: OutboxId) -> StorageResult<OutboxMessage> {
        match self.t.outbox.get(id_key(id))? {
            Some(v) => decode("outbox", &v),
            None => Err(StorageError::NotFound(format!("outbox message {id}"))),
        }
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
            let m: OutboxMessage = decode("outbox", &v?)?;
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
        let get = |s: &str| -> StorageResult<u64> {
            Ok(match self.t.counters.get(format!("outbox.{s}"))? {
                Some(v) => {
                    i64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])).max(0) as u64
                }
                None => 0,
            })
        };
        Ok(OutboxCounts {
            queued: get("queued")?,
            sending: get("sending")?,
            sent: get("sent")?,
            deferred: get("deferred")?,
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
