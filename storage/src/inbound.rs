//! The inbound log: every accepted message, durable before it is acknowledged, processed from here.
//!
//! `pending → processed | failed`. The raw message is made durable in the spool
//! ([`crate::spool`], appended and synced in groups by one writer thread) before its sender hears
//! `250`/`200`, and processed at once. Its [`InboundRecord`] is written here once, in its final
//! state, by the transaction that settles it ([`Store::settle_received`], or the one that records
//! its dones), with its Message-ID entry. A record is written `pending` only for a message that
//! waits: postponed by a transient error, or found in the spool at start-up without a record (a
//! crash between receipt and settlement loses nothing: start-up registers it, and the processor
//! takes every pending record). A second delivery of a Message-ID is recorded as a processed
//! duplicate of the first.
//!
//! A failed message keeps its body in sled for the operator, but not forever: bodies are deleted
//! after the retention time and beyond a total size ([`Store::prune_failed_bodies`]); its record
//! (sender, recipients, the reason) stays.

use sled::Transactional;
use sled::transaction::TransactionalTree;

use crate::codec::{decode, encode, id_key, key_id};
use crate::error::{StorageError, StorageResult, TxResult, abort};
use crate::spool::SpoolEntry;
use crate::{InboundId, InboundRecord, InboundState, Store};

pub(crate) fn set_state_tx(
    inbound: &TransactionalTree,
    pending: &TransactionalTree,
    id: InboundId,
    state: InboundState,
) -> TxResult<()> {
    let Some(old) = inbound.get(id_key(id))? else {
        return abort(StorageError::NotFound(format!("inbound message {id}")));
    };
    let mut rec: InboundRecord = decode("inbound", &old).or_else(abort)?;
    rec.state = state;
    if matches!(rec.state, InboundState::Pending) {
        pending.insert(&id_key(id), &[])?;
    } else {
        pending.remove(&id_key(id))?;
    }
    inbound.insert(&id_key(id), encode(&rec).or_else(abort)?)?;
    Ok(())
}

/// Settles a received message that was never registered (see [`Store::settle_received`]): its
/// record is written in its final `state`, with its Message-ID entry.
pub(crate) fn settle_received_tx(
    inbound: &TransactionalTree,
    by_mid: &TransactionalTree,
    entry: &SpoolEntry,
    state: InboundState,
) -> TxResult<()> {
    let key = id_key(entry.id);
    inbound.insert(&key, encode(&entry.record(state)).or_else(abort)?)?;
    if let Some(mid) = &entry.meta.message_id {
        by_mid.insert(mid.as_bytes(), &key)?;
    }
    Ok(())
}

/// The message an outcome is written for.
#[derive(Clone, Copy)]
enum Settled<'a> {
    /// Registered: its record's state changes.
    Registered(InboundId),
    /// Never registered: its record is written whole.
    Received(&'a SpoolEntry),
}

/// What registering a spooled message found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// New: recorded as pending; process it.
    Fresh,
    /// Its Message-ID was accepted before, as this id: recorded as a processed duplicate; there
    /// is nothing to do.
    Duplicate(InboundId),
    /// Registered before (recovery): leave it to whoever handles its current state.
    Known,
}

impl Store {
    /// Registers spooled messages in sled, in one transaction, without flushing (the spool is
    /// what makes them durable; see [`crate::spool`]). Idempotent: a message sled knows already
    /// is left as it is.
    pub fn register_inbound(&self, entries: &[SpoolEntry]) -> StorageResult<Vec<Registered>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let _w = self.write_gate();
        let result = (
            &self.t.inbound,
            &self.t.inbound_pending,
            &self.t.inbound_by_message_id,
        )
            .transaction(|(inbound, pending, by_mid)| -> TxResult<Vec<Registered>> {
                // A transactional insert reads the old value anyway: each check below is its
                // insert, undone in the rare case that finds something (nothing of an undone
                // write reaches the tree but the old value itself).
                let mut out = Vec::with_capacity(entries.len());
                for e in entries {
                    let key = id_key(e.id);
                    let bytes = encode(&e.record(InboundState::Pending)).or_else(abort)?;
                    if let Some(known) = inbound.insert(&key, bytes)? {
                        inbound.insert(&key, known)?;
                        out.push(Registered::Known);
                        continue;
                    }
                    if let Some(mid) = &e.meta.message_id
                        && let Some(prev) = by_mid.insert(mid.as_bytes(), &key)?
                    {
                        by_mid.insert(mid.as_bytes(), prev.clone())?;
                        let prev = key_id("inbound_by_message_id", &prev).or_else(abort)?;
                        let record = e.record(e.duplicate_of(prev));
                        inbound.insert(&key, encode(&record).or_else(abort)?)?;
                        out.push(Registered::Duplicate(prev));
                        continue;
                    }
                    pending.insert(&key, &[])?;
                    out.push(Registered::Fresh);
                }
                Ok(out)
            })?;
        Ok(result)
    }

    /// The message that was accepted with this Message-ID, if one was.
    pub fn inbound_by_message_id(&self, message_id: &str) -> StorageResult<Option<InboundId>> {
        self.t
            .inbound_by_message_id
            .get(message_id.as_bytes())?
            .map(|v| key_id("inbound_by_message_id", &v))
            .transpose()
    }

    /// Settles a received message without registering it first: its record is written once, in
    /// its final state, with its Message-ID entry (a failed one keeps its body in sled, as
    /// [`Store::set_inbound_state`] does). Until then sled has no record of it, so its spool
    /// segment stays and a restart registers and processes it (see [`crate::spool`]).
    ///
    /// The caller makes sure no other message with its Message-ID is being settled meanwhile,
    /// and that none was accepted before ([`Store::inbound_by_message_id`]): such a second
    /// delivery is registered instead ([`Store::register_inbound`] marks it a duplicate).
    pub fn settle_received(&self, entry: &SpoolEntry, state: InboundState) -> StorageResult<()> {
        self.write_outcome(Settled::Received(entry), state)
    }

    /// Registers a second delivery of a message that is being processed now (not yet settled)
    /// as a processed duplicate of it.
    pub fn register_duplicate(&self, entry: &SpoolEntry, of: InboundId) -> StorageResult<()> {
        let bytes = encode(&entry.record(entry.duplicate_of(of)))?;
        let _w = self.write_gate();
        self.t.inbound.insert(id_key(entry.id), bytes)?;
        Ok(())
    }

    /// The raw message of a received entry, read back from the spool.
    pub fn received_body(&self, entry: &SpoolEntry) -> StorageResult<Vec<u8>> {
        self.spool_read(entry.at)?.ok_or_else(|| {
            StorageError::NotFound(format!(
                "the body of inbound message {} (its spool segment was retired)",
                entry.id
            ))
        })
    }

    /// The highest inbound id sled knows (0: none).
    pub(crate) fn last_inbound_id(&self) -> StorageResult<InboundId> {
        match self.t.inbound.last()? {
            Some((key, _)) => key_id("inbound", &key),
            None => Ok(0),
        }
    }

    /// Whether every one of `ids` is registered and no longer pending.
    pub(crate) fn all_inbound_settled(&self, ids: &[InboundId]) -> StorageResult<bool> {
        for id in ids {
            if self.t.inbound_pending.contains_key(id_key(*id))?
                || !self.t.inbound.contains_key(id_key(*id))?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub fn inbound(&self, id: InboundId) -> StorageResult<InboundRecord> {
        match self.t.inbound.get(id_key(id))? {
            Some(v) => decode("inbound", &v),
            None => Err(StorageError::NotFound(format!("inbound message {id}"))),
        }
    }

    /// The raw message as received: kept in sled for failed messages and restored backups, read
    /// from the spool otherwise (until its segment is retired, after processing).
    pub fn inbound_body(&self, id: InboundId) -> StorageResult<Vec<u8>> {
        if let Some(v) = self.t.inbound_bodies.get(id_key(id))? {
            return Ok(v.to_vec());
        }
        let record = self.inbound(id)?;
        match record.spool {
            Some(at) => self.spool_read(at)?.ok_or_else(|| {
                StorageError::NotFound(format!(
                    "the body of inbound message {id} (processed; its spool segment was retired)"
                ))
            }),
            None => Err(StorageError::NotFound(format!(
                "the body of inbound message {id}"
            ))),
        }
    }

    /// Ids of messages still to process, oldest first.
    pub fn pending_inbound(&self) -> StorageResult<Vec<InboundId>> {
        self.t
            .inbound_pending
            .iter()
            .keys()
            .map(|k| key_id("inbound_pending", &k?))
            .collect()
    }

    /// Marks a message processed (with what it did) or failed (with why); it leaves the pending set.
    ///
    /// A failed message keeps its body in sled (operators look at failed messages long after the
    /// spool has moved on).
    pub fn set_inbound_state(&self, id: InboundId, state: InboundState) -> StorageResult<()> {
        self.write_outcome(Settled::Registered(id), state)
    }

    /// Writes a message's outcome to its record: the registered one's state, or a received
    /// message's whole record. A failed message's body is copied into sled with it, unless it is
    /// there already.
    fn write_outcome(&self, message: Settled<'_>, state: InboundState) -> StorageResult<()> {
        let id = match message {
            Settled::Registered(id) => id,
            Settled::Received(entry) => entry.id,
        };
        let body = match (&state, message) {
            (InboundState::Failed { .. }, Settled::Received(entry)) => self.spool_read(entry.at)?,
            (InboundState::Failed { .. }, Settled::Registered(_))
                if !self.t.inbound_bodies.contains_key(id_key(id))? =>
            {
                match self.inbound_body(id) {
                    Ok(body) => Some(body),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                }
            }
            _ => None,
        };
        let _w = self.write_gate();
        (
            &self.t.inbound,
            &self.t.inbound_bodies,
            &self.t.inbound_pending,
            &self.t.inbound_by_message_id,
        )
            .transaction(|(inbound, bodies, pending, by_mid)| {
                if let Some(body) = &body {
                    bodies.insert(&id_key(id), body.as_slice())?;
                }
                match message {
                    Settled::Registered(id) => set_state_tx(inbound, pending, id, state.clone()),
                    Settled::Received(entry) => {
                        settle_received_tx(inbound, by_mid, entry, state.clone())
                    }
                }
            })?;
        Ok(())
    }

    /// Inbound records, newest first; only failed ones when `failed_only`.
    pub fn inbound_list(
        &self,
        failed_only: bool,
        limit: usize,
    ) -> StorageResult<Vec<InboundRecord>> {
        let mut out = Vec::new();
        for v in self.t.inbound.iter().values().rev() {
            let rec: InboundRecord = decode("inbound", &v?)?;
            if !failed_only || matches!(rec.state, InboundState::Failed { .. }) {
                out.push(rec);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }
}

impl Store {
    /// Retention of failed mail: deletes the bodies of failed messages that failed before
    /// `cutoff`, then the oldest remaining ones while their total exceeds `max_bytes`. The records
    /// stay, with their reason; only the bytes go (a stranger's mail must not fill the disk).
    /// Bodies of pending messages (a restored backup's) are never touched. Returns how many
    /// bodies were deleted.
    pub fn prune_failed_bodies(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
        max_bytes: u64,
    ) -> StorageResult<usize> {
        let _w = self.write_gate();
        let mut kept = Vec::new();
        let mut deleted = 0;
        for kv in self.t.inbound_bodies.iter() {
            let (key, body) = kv?;
            let id = key_id("inbound_bodies", &key)?;
            let failed_at = match self.t.inbound.get(&key)? {
                Some(v) => match decode::<InboundRecord>("inbound", &v)?.state {
                    InboundState::Failed { at, .. } => at,
                    _ => continue,
                },
                None => continue,
            };
            if failed_at < cutoff {
                self.t.inbound_bodies.remove(&key)?;
                deleted += 1;
            } else {
                kept.push((id, body.len() as u64));
            }
        }
        let mut total: u64 = kept.iter().map(|(_, len)| len).sum();
        for (id, len) in kept {
            if total <= max_bytes {
                break;
            }
            self.t.inbound_bodies.remove(id_key(id))?;
            total -= len;
            deleted += 1;
        }
        Ok(deleted)
    }
}

#[cfg(test)]
#[path = "inbound_tests.rs"]
mod tests;
