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
//! Lock order: this table's lock is taken before sled's transaction lock (a record round and an
//! operator's retry hold it across their transaction, so a reader never sees an outcome
//! recorded while its claim still stands), and never inside a transaction.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

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
pub(crate) struct Claims(Mutex<HashMap<OutboxId, Claim>>);

pub(crate) type ClaimTable = HashMap<OutboxId, Claim>;

impl Claims {
    pub(crate) fn lock(&self) -> MutexGuard<'_, ClaimTable> {
        // A panic while the table was held left it consistent: every change is one map call.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
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
