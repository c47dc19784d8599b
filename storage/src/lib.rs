//! Everything donebot persists, in one sled database in the data directory.
//!
//! The [`Store`] owns the sled trees (listed in [`trees`]) and is the only code that reads or writes
//! them. Each public write is one sled transaction that updates a record *and* every index that
//! points at it, so a crash can never leave a record without its index or an index entry without its
//! record. Records are versioned JSON (see [`codec`]).
//!
//! ## Durability policy
//! sled applies writes in order and flushes its log every 500 ms by itself; after a crash the database
//! comes back as a prefix of the writes that were made. On top of that:
//! - whatever is acknowledged to the outside world is flushed (fsync) *before* the acknowledgement:
//!   an accepted inbound mail before SMTP `250` / HTTP `200`, and every admin write made through
//!   the API or CLI ([`Store::flush`] is called by the caller before it answers);
//! - accepted inbound mail is made durable in the inbound spool ([`spool`]), not in sled: one
//!   writer thread appends the raw messages of every session accepting at the same time and
//!   `fdatasync`s once for all of them; none is answered `250` before that (`tests/crash.rs` kills
//!   the server right after a `250`). Its sled record is registered afterwards, without a flush:
//!   start-up re-registers from the spool whatever sled lost;
//! - state that can be re-derived is not flushed on its own: dones recorded from an inbound message
//!   are re-derived from the inbound spool (idempotently) if lost, and outbox transitions are recovered
//!   on start-up ([`Store::recover_outbox`]).
//! - the outbox's transitions are group-committed by its caller (the outbox actor in the app): a
//!   claim is held in memory (a crash leaves the message `queued`, as recovery used to make it),
//!   a batch of outcomes (`sent`, …) is appended to the outcome journal and synced, then written
//!   to sled in one transaction and flushed while further sends go on.
//!   Sends in flight plus outcomes not yet durable never exceed twice `[outbox] concurrency`, so
//!   a crash re-sends at most that many messages (proved by `tests/outbox_crash.rs`).
//!
//! The full-text search index of dones ([`search`], tantivy, in `DATA/search`) is derived from the
//! database: every write of a done also appends to a change log in the same transaction, and an
//! indexer thread started with [`Store::start_search`] folds that log into the index.
//!
//! This crate knows nothing of chat, email or schedules: it stores what it is given.

mod backup;
mod chat_log;
mod codec;
mod dones;
mod error;
mod inbound;
mod links;
mod members;
pub mod model;
mod outbox;
mod pages;
mod private;
mod prompts;
pub mod search;
mod spool;
mod teams;
mod tokens;
pub mod trees;
mod web_auth;

use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

pub use backup::{backup_to, restore_from};
pub use dones::{NewDone, NewReply, RecordOutcome};
pub use error::{StorageError, StorageResult};
pub use inbound::Registered;
pub use links::{Linked, LinkedFrom};
pub use model::*;
pub use outbox::{
    Handoff, JournaledOutcome, MAX_BATCH, NewOutboxMessage, OutboxCounts, OutboxRecovery,
    SendOutcome,
};
pub use private::make_private;
pub use prompts::{NewPrompt, prompt_email_key, prompt_message_id};
pub use search::{Search, SearchError, SearchHit, SearchQuery, SearchResults};
pub use spool::{Accepted, InboundUsage, InboundWriter, NewInbound, Receipt, SpoolEntry};
pub use web_auth::{SignInLink, WebSession};

/// Bytes of sled's page cache. sled's default (1 GiB) kept the whole outbox of a million prompts
/// in memory (920 MiB peak) and made every write slower (larger LRU, more allocator work: a
/// 100,000-prompt `donebot bench outbox` used 37 s of CPU with it, 27 s with 64 MiB, see
/// docs/bench-outbox.md). What donebot reads back is recent (due messages, today's dones), so a
/// small cache loses little.
const CACHE_CAPACITY: u64 = 64 * 1024 * 1024;

/// The database of one data directory. Cheap to clone; every clone is the same database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    t: trees::Trees,
    /// Writes hold this shared; a backup holds it exclusively, so a snapshot sees no write half-done.
    gate: std::sync::Arc<RwLock<()>>,
    /// Added to sled's generated ids; non-zero after a restore (see `backup`).
    id_floor: u64,
    /// Raw received messages, durable before they are acknowledged (see [`spool`]).
    spool: std::sync::Arc<spool::Spool>,
    /// Send outcomes, durable before sled has them (see [`outbox::journal`]).
    journal: std::sync::Arc<outbox::journal::Journal>,
    /// Outbox messages a sender holds, in memory (see [`outbox::claims`]).
    claims: std::sync::Arc<outbox::claims::Claims>,
    /// The data directory (`None` for a temporary database): the search index lives in it.
    dir: Option<PathBuf>,
    /// Tells the search indexer that the change log grew (see [`search`]).
    changes: std::sync::Arc<search::ChangeSignal>,
    /// Set when the data directory was readable by others at open (it has been tightened).
    permission_warning: Option<String>,
}

/// The kinds of record whose ids people read (in the CLI, the API, URLs): each counts on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdKind {
    Team,
    Member,
    Prompt,
    Done,
    Token,
}

impl IdKind {
    /// The `meta` key of the kind's counter: the last id handed out.
    fn counter(self) -> &'static str {
        match self {
            IdKind::Team => "ids.team",
            IdKind::Member => "ids.member",
            IdKind::Prompt => "ids.prompt",
            IdKind::Done => "ids.done",
            IdKind::Token => "ids.token",
        }
    }
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    ///
    /// Fails with [`StorageError::Locked`] when another process (a running server) holds it.
    pub fn open(dir: &Path) -> StorageResult<Store> {
        let permission_warning = private::make_private(dir)?;
        let db = sled::Config::new()
            .path(dir.join("db"))
            .flush_every_ms(Some(500))
            .cache_capacity(CACHE_CAPACITY)
            .open()
            .map_err(|e| StorageError::from_open(e, dir))?;
        let spool = spool::Spool::open(dir.join("spool"), false)?;
        let mut store = Self::from_db(db, spool, Some(dir.to_path_buf()))?;
        // What sled and the spool just created is private too, whatever the umask.
        private::tighten(dir).map_err(|e| StorageError::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        store.permission_warning = permission_warning;
        Ok(store)
    }

    /// A warning for the operator when the data directory was readable by others at open.
    pub fn permission_warning(&self) -> Option<&str> {
        self.permission_warning.as_deref()
    }

    /// A throwaway in-memory database, for tests and benchmarks.
    pub fn temporary() -> StorageResult<Store> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let db = sled::Config::new().temporary(true).open()?;
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("donebot-spool-{}-{n}", std::process::id()));
        Self::from_db(db, spool::Spool::open(dir, true)?, None)
    }

    fn from_db(db: sled::Db, spool: spool::Spool, dir: Option<PathBuf>) -> StorageResult<Store> {
        let t = trees::Trees::open(&db)?;
        codec::check_schema(&t.meta)?;
        let id_floor = codec::id_floor(&t.meta)?;
        let changes = std::sync::Arc::new(search::ChangeSignal::new(&t.search_changes)?);
        let journal = match &dir {
            Some(dir) => dir.join("outbox.journal"),
            // A temporary database's files live and go with its spool's directory.
            None => spool.dir().join("outbox.journal"),
        };
        let store = Store {
            db,
            t,
            id_floor,
            gate: std::sync::Arc::new(RwLock::new(())),
            spool: std::sync::Arc::new(spool),
            journal: std::sync::Arc::new(outbox::journal::Journal::new(journal)),
            claims: std::sync::Arc::default(),
            dir,
            changes,
            permission_warning: None,
        };
        store.migrate_chat_fields()?;
        Ok(store)
    }

    /// Makes every write so far durable (fsync). Returns the number of bytes flushed.
    pub fn flush(&self) -> StorageResult<usize> {
        Ok(self.db.flush()?)
    }

    /// The same, without blocking the calling async task's thread.
    pub async fn flush_async(&self) -> StorageResult<usize> {
        Ok(self.db.flush_async().await?)
    }

    /// A new unique id (monotonic, survives restarts) for what has no id of its own people see:
    /// change-log sequences, outbox and chat-log entries. Large and sparse (sled skips ahead
    /// after a restart); [`Store::next_ids`] gives the ids people read.
    pub(crate) fn next_id(&self) -> StorageResult<u64> {
        Ok(self.id_floor + self.db.generate_id()? + 1)
    }

    /// `n` new ids of `kind`: small and dense (1, 2, 3, ... per kind), never reused. The counter
    /// lives in `meta` (`ids.KIND`) and is raised atomically before the record that takes the id
    /// is written, so a record on disk always has its id counted (sled recovers a prefix of the
    /// writes). Its first use starts above the largest id of that kind already stored (data from
    /// before dense ids, which keep working).
    pub(crate) fn next_ids(&self, kind: IdKind, n: u64) -> StorageResult<std::ops::Range<u64>> {
        let key = kind.counter();
        let floor = match self.t.meta.get(key)? {
            Some(_) => 0,
            None => self.largest_id(kind)?,
        };
        let mut start = 0;
        self.t.meta.update_and_fetch(key, |old| {
            let last = old
                .and_then(|v| <[u8; 8]>::try_from(v).ok())
                .map_or(floor, u64::from_be_bytes);
            start = last + 1;
            Some((last + n).to_be_bytes().to_vec())
        })?;
        Ok(start..start + n)
    }

    /// One new id of `kind` (see [`Store::next_ids`]).
    pub(crate) fn next_id_of(&self, kind: IdKind) -> StorageResult<u64> {
        Ok(self.next_ids(kind, 1)?.start)
    }

    fn largest_id(&self, kind: IdKind) -> StorageResult<u64> {
        let last_key = |tree: &sled::Tree| -> StorageResult<u64> {
            match tree.last()? {
                Some((k, _)) => codec::key_id("ids", &k),
                None => Ok(0),
            }
        };
        match kind {
            IdKind::Team => last_key(&self.t.teams),
            IdKind::Member => last_key(&self.t.members),
            IdKind::Prompt => last_key(&self.t.prompts),
            IdKind::Done => last_key(&self.t.dones),
            // Tokens are keyed by their hash: the largest id is in the values (a few records).
            IdKind::Token => Ok(self.tokens()?.iter().map(|t| t.id).max().unwrap_or(0)),
        }
    }

    pub(crate) fn write_gate(&self) -> RwLockReadGuard<'_, ()> {
        // A poisoned gate only means a backup panicked; the data is untouched by it.
        self.gate.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Gets or initialises a secret of `len` random bytes by name (e.g. the HMAC key for reply tokens).
    /// `init` is called only when the secret does not exist yet.
    pub fn secret(&self, name: &str, init: impl FnOnce() -> Vec<u8>) -> StorageResult<Vec<u8>> {
        let key = format!("secret.{name}");
        if let Some(v) = self.t.meta.get(&key)? {
            return Ok(v.to_vec());
        }
        let _w = self.write_gate();
        let fresh = init();
        // compare_and_swap so two racing initialisations agree on one secret.
        match self
            .t
            .meta
            .compare_and_swap(&key, None::<&[u8]>, Some(fresh.clone()))?
        {
            Ok(()) => {
                self.db.flush()?;
                Ok(fresh)
            }
            Err(cas) => Ok(cas.current.map(|v| v.to_vec()).unwrap_or(fresh)),
        }
    }

    /// Cursor of a named schedule: the instant up to which its fires have been handled.
    pub fn cursor(&self, name: &str) -> StorageResult<Option<chrono::DateTime<chrono::Utc>>> {
        match self.t.cursors.get(name)? {
            Some(v) => Ok(Some(codec::decode("cursors", &v)?)),
            None => Ok(None),
        }
    }

    pub fn set_cursor(&self, name: &str, at: chrono::DateTime<chrono::Utc>) -> StorageResult<()> {
        let _w = self.write_gate();
        self.t.cursors.insert(name, codec::encode(&at)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;

/// Opens a data directory again right after a store on it was dropped: sled's background
/// threads release its file lock a moment later, so `Locked` is retried (bounded). Tests only.
#[cfg(test)]
pub(crate) fn reopen(dir: &Path) -> StorageResult<Store> {
    unlocked(|| Store::open(dir))
}

/// `f`, again while it fails with `Locked` (bounded): for a database just closed in this
/// process, such as a backup just written ([`restore_from`] opens it). Tests only.
#[cfg(test)]
pub(crate) fn unlocked<T>(mut f: impl FnMut() -> StorageResult<T>) -> StorageResult<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match f() {
            Err(StorageError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::yield_now()
            }
            other => return other,
        }
    }
}
