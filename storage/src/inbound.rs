//! The inbound log: every accepted message, durable before it is acknowledged, processed from here.
//!
//! `pending → processed | failed`. A message is acknowledged to its sender only once it is durable:
//! [`Store::accept_inbound`] writes it and returns an [`Unflushed`] receipt, and [`Store::commit`]
//! opens that receipt only after a flush that began after the write (one flush is shared by every
//! session accepting at the same time; see [`crate::commit`]). Processing then reads the message
//! back from the log, so a crash between receipt and processing loses nothing: start-up processes
//! what is still pending.

use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::TransactionalTree;

use crate::codec::{decode, encode, id_key, key_id};
use crate::error::{StorageError, StorageResult, TxResult, abort};
use crate::{InboundId, InboundRecord, InboundState, Store, Unflushed};

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

/// The result of accepting a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub id: InboundId,
    /// The same Message-ID was accepted before; nothing new was written.
    pub duplicate: bool,
}

impl Store {
    /// Appends a received message to the log, without flushing: the receipt must go through
    /// [`Store::commit`] (which shares one flush among concurrent callers) before the message may
    /// be acknowledged. A message whose Message-ID was accepted before is not stored twice: the
    /// earlier record's id comes back with `duplicate: true` (committed too, since the earlier
    /// write may still be waiting for its own flush).
    pub fn accept_inbound(
        &self,
        via: &str,
        mail_from: &str,
        rcpt_to: &[String],
        message_id: Option<&str>,
        raw: &[u8],
        now: DateTime<Utc>,
    ) -> StorageResult<Unflushed<Accepted>> {
        let accepted = {
            let _w = self.write_gate();
            let id = self.next_id()?;
            let rec = InboundRecord {
                id,
                received_at: now,
                via: via.to_owned(),
                mail_from: mail_from.to_owned(),
                rcpt_to: rcpt_to.to_vec(),
                size: raw.len(),
                state: InboundState::Pending,
            };
            let bytes = encode(&rec)?;
            (
                &self.t.inbound,
                &self.t.inbound_bodies,
                &self.t.inbound_pending,
                &self.t.inbound_by_message_id,
            )
                .transaction(
                    |(inbound, bodies, pending, by_mid)| -> TxResult<Accepted> {
                        if let Some(mid) = message_id
                            && let Some(prev) = by_mid.get(mid.as_bytes())?
                        {
                            return Ok(Accepted {
                                id: key_id("inbound_by_message_id", &prev).or_else(abort)?,
                                duplicate: true,
                            });
                        }
                        inbound.insert(&id_key(id), bytes.as_slice())?;
                        bodies.insert(&id_key(id), raw)?;
                        pending.insert(&id_key(id), &[])?;
                        if let Some(mid) = message_id {
                            by_mid.insert(mid.as_bytes(), &id_key(id))?;
                        }
                        Ok(Accepted {
                            id,
                            duplicate: false,
                        })
                    },
                )?
        };
        Ok(Unflushed(accepted))
    }

    pub fn inbound(&self, id: InboundId) -> StorageResult<InboundRecord> {
        match self.t.inbound.get(id_key(id))? {
            Some(v) => decode("inbound", &v),
            None => Err(StorageError::NotFound(format!("inbound message {id}"))),
        }
    }

    pub fn inbound_body(&self, id: InboundId) -> StorageResult<Vec<u8>> {
        match self.t.inbound_bodies.get(id_key(id))? {
            Some(v) => Ok(v.to_vec()),
            None => Err(StorageError::NotFound(format!("inbound message {id}"))),
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
    pub fn set_inbound_state(&self, id: InboundId, state: InboundState) -> StorageResult<()> {
        let _w = self.write_gate();
        (&self.t.inbound, &self.t.inbound_pending)
            .transaction(|(inbound, pending)| set_state_tx(inbound, pending, id, state.clone()))?;
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
