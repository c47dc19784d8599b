//! Claims: the messages a sender holds between [`Store::claim_due`](crate::Store::claim_due)
//! and the record of their outcome, kept in memory.
//!
//! A claim is not written to sled. What a durable `sending` would add is nothing a restart could
//! use: recovery turned every `sending` back into `queued` anyway, and a message whose send
//! ended before a crash is settled by its journaled outcome (see [`super::journal`]). So a
//! claimed message stays `queued` (or `deferred`) in sled, in the due index, and this table keeps
//! it from being claimed twice and shows it as `sending`, with its new attempt, to every reader
//! ([`Claims::overlay`]). The outcome is then one transition, `queued → sent`, instead of two:
//! a message costs one transaction and one flush less (Postfix's queue manager holds its active
//! queue in memory the same way).
//!
//! A message can also be claimed by its enqueuer for a sender that takes it straight from there
//! ([`crate::Store::create_prompts_handing`]): the claim is taken before the message is written,
//! so no scan of the due index can claim it first, and it counts once the write is committed.
//! The sender then needs no scan and no read of sled for it.
//!
//! Lock order: [`Claims::settling`], then this table's lock, then sled's transaction lock; neither
//! is taken inside a transaction. A record round holds `settling` (exclusively) across its
//! transaction and until its claims are gone, and the counts read under it (shared), so they never
//! show an outcome recorded while its claim still stands; the table's lock itself is held only
//! for a moment there, so enqueuers handing messages over are not held up by the round. An
//! operator's retry holds the table's lock across its transaction.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};

use crate::{OutboxId, OutboxMessage, OutboxState};

/// One claimed message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Claim {
    pub since: DateTime<Utc>,
    /// The attempt this claim is (the record's count plus one).
    pub attempts: u32,
    /// Whether it was claimed from `deferred` (else from `queued`), for the counts.
    pub was_deferred: bool,
    /// False while the enqueuer that claimed it has not committed the message: it is not counted
    /// (nor stored) yet.
    pub committed: bool,
}

#[derive(Default)]
pub(crate) struct Claims {
    table: Mutex<HashMap<OutboxId, Claim>>,
    /// Held by a record round from before its transaction until its claims are removed.
    settling: RwLock<()>,
}

pub(crate) type ClaimTable = HashMap<OutboxId, Claim>;

impl Claims {
    pub(crate) fn lock(&self) -> MutexGuard<'_, ClaimTable> {
        // A panic while the table was held left it consistent: every change is one map call.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// For a record round: no reader of the counts runs until the guard is dropped.
    pub(crate) fn settle(&self) -> RwLockWriteGuard<'_, ()> {
        self.settling.write().unwrap_or_else(|p| p.into_inner())
    }

    /// For readers of the counts: no record round is between its commit and its claims' end.
    pub(crate) fn settled(&self) -> RwLockReadGuard<'_, ()> {
        self.settling.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Shows `m` as its readers must see it: `sending`, at the claim's attempt, while claimed.
    pub(crate) fn overlay(&self, m: &mut OutboxMessage) {
        if let Some(c) = self.lock().get(&m.id).filter(|c| c.committed) {
            show_claimed(m, c);
        }
    }
}

/// `m` (as stored: `queued` or `deferred`) as the claim `c` shows it.
pub(crate) fn show_claimed(m: &mut OutboxMessage, c: &Claim) {
    m.state = OutboxState::Sending { since: c.since };
    m.attempts = c.attempts;
}
