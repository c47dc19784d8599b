//! Opening the index (or deciding it must be rebuilt) and the indexer that keeps it in step with
//! sled: a full rebuild from the `dones` tree, then the change log, batch after batch.
//!
//! Invariant: a change-log entry is removed only after a commit *and* reader reload that covers
//! it, and `search.indexed_seq` in sled's `meta` is raised only after that removal; so an index
//! whose payload `seq` is below `search.indexed_seq` misses changes and is never served.

use std::collections::BTreeSet;
use std::path::Path;

use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy};
use tracing::{debug, info, warn};

use super::ids::IdSetQuery;
use super::index::{
    DocFields, Fields, Fingerprint, ID, INDEX_VERSION, document, register_analyzers, schema,
    settings,
};
use super::{SearchError, decode_change, key_seq};
use crate::codec::decode;
use crate::error::StorageError;
use crate::{Done, DoneId, Store};

/// Change-log entries folded into one commit at most; the rest go into the next one.
const MAX_BATCH: usize = 5_000;
/// The index writer's memory arena in all (tantivy's minimum is 15 MB per indexing thread).
const WRITER_MEMORY: usize = 64 << 20;
/// Indexing threads at most for a rebuild (the machine's cores, up to this). The live indexer
/// uses one: its commits are small, and each thread starts a segment of its own at every commit
/// (files created, a term table zeroed, merged later), which is most of what a small commit costs.
const WRITER_THREADS: usize = 2;
/// `meta` key: the random id of this database's index lineage (see [`Fingerprint`]).
const GENERATION_KEY: &str = "search.generation";
/// `meta` key: every change-log entry up to this sequence has left the log (see module docs).
const INDEXED_SEQ_KEY: &str = "search.indexed_seq";

/// Reports a rebuild's progress: dones indexed so far, of how many.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// An index opened (or created) with its reader and writer.
pub(crate) struct Opened {
    pub index: Index,
    pub reader: IndexReader,
    pub writer: IndexWriter,
    /// The writer's indexing threads.
    pub threads: usize,
    pub fields: Fields,
    /// What the next commit writes as its payload.
    pub fingerprint: Fingerprint,
    /// The index is new or was unusable: fill it from sled.
    pub rebuild: bool,
}

/// Indexing threads for a rebuild: the machine's cores, up to [`WRITER_THREADS`].
fn bulk_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, WRITER_THREADS)
}

/// A writer with `threads` indexing threads, each with its share of [`WRITER_MEMORY`] (a live
/// writer's one thread gets half of it: its commits are small).
fn new_writer(index: &Index, threads: usize) -> Result<IndexWriter, SearchError> {
    let memory = WRITER_MEMORY / WRITER_THREADS * threads;
    Ok(index.writer_with_num_threads(threads, memory)?)
}

impl Opened {
    /// Opens the index of `store` (in `DATA/search`, or in memory for a temporary store), or a
    /// new empty one (`rebuild`) if there is none or it does not match the database.
    /// `fresh`: throw away whatever is there and start a new lineage (`donebot reindex`).
    pub fn open(store: &Store, fresh: bool) -> Result<Opened, SearchError> {
        if fresh {
            store
                .t
                .meta
                .insert(GENERATION_KEY, new_generation().as_bytes())?;
        }
        let expected = Fingerprint {
            version: INDEX_VERSION.to_owned(),
            generation: generation(store)?,
            id_floor: store.id_floor,
            seq: 0,
        };
        let Some(path) = store.dir.as_deref().map(|d| d.join("search")) else {
            let index = Index::builder()
                .schema(schema().0)
                .settings(settings())
                .create_in_ram()?;
            return Opened::finish(index, expected, true);
        };
        if fresh && path.exists() {
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
        }
        match Opened::existing(store, &path, &expected) {
            Ok(Some(opened)) => return Ok(opened),
            Ok(None) => {}
            Err(reason) => {
                warn!(path = %path.display(), %reason, "the search index does not match the database; rebuilding it");
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
            }
        }
        std::fs::create_dir_all(&path).map_err(io(&path))?;
        let index = Index::builder()
            .schema(schema().0)
            .settings(settings())
            .create_in_dir(&path)?;
        Opened::finish(index, expected, true)
    }

    /// The index at `path` if it is complete and reflects this database; `Ok(None)` if there is
    /// none; `Err(why)` if there is one that must not be served.
    fn existing(
        store: &Store,
        path: &Path,
        expected: &Fingerprint,
    ) -> Result<Option<Opened>, String> {
        if !path.join("meta.json").exists() {
            if path.exists() {
                return Err("no meta.json".into());
            }
            return Ok(None);
        }
        let index = Index::open_in_dir(path).map_err(|e| e.to_string())?;
        if index.schema() != schema().0 {
            return Err("its schema is not this version's".into());
        }
        if index.settings().sort_by_field != settings().sort_by_field {
            return Err("it is not sorted by team (queries rely on it to be fast)".into());
        }
        let payload = index.load_metas().map_err(|e| e.to_string())?.payload;
        let Some(found) = Fingerprint::parse(payload.as_deref()) else {
            return Err(format!(
                "its payload {payload:?} is not {INDEX_VERSION}'s (an older version, or a rebuild that did not finish)"
            ));
        };
        if found.version != expected.version {
            return Err(format!(
                "its version is {}, not {INDEX_VERSION}",
                found.version
            ));
        }
        if (found.generation.as_str(), found.id_floor)
            != (expected.generation.as_str(), expected.id_floor)
        {
            return Err(format!(
                "it belongs to another database (generation {} floor {}; this one is {} floor {}): copied from another data directory, or from before a restore",
                found.generation, found.id_floor, expected.generation, expected.id_floor
            ));
        }
        let pruned = indexed_seq(store).map_err(|e| e.to_string())?;
        if found.seq < pruned {
            return Err(format!(
                "it covers the change log up to {} but the database pruned it up to {pruned}: an older copy of the index",
                found.seq
            ));
        }
        let next = store.next_id().map_err(|e| e.to_string())?;
        if found.seq >= next {
            return Err(format!(
                "it covers the change log up to {} but the database has only reached {next}: the database is older than the index (restored by copying files?)",
                found.seq
            ));
        }
        let fingerprint = Fingerprint {
            seq: found.seq,
            ..expected.clone()
        };
        Opened::finish(index, fingerprint, false)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn finish(
        index: Index,
        fingerprint: Fingerprint,
        rebuild: bool,
    ) -> Result<Opened, SearchError> {
        register_analyzers(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let threads = if rebuild { bulk_threads() } else { 1 };
        let writer = new_writer(&index, threads)?;
        Ok(Opened {
            index,
            reader,
            writer,
            threads,
            fields: schema().1,
            fingerprint,
            rebuild,
        })
    }
}

fn generation(store: &Store) -> Result<String, SearchError> {
    if let Some(g) = store.t.meta.get(GENERATION_KEY)? {
        return Ok(String::from_utf8_lossy(&g).into_owned());
    }
    let fresh = new_generation();
    // compare_and_swap: two racing first starts agree on one generation.
    match store
        .t
        .meta
        .compare_and_swap(GENERATION_KEY, None::<&[u8]>, Some(fresh.as_bytes()))?
    {
        Ok(()) => Ok(fresh),
        Err(cas) => Ok(cas
            .current
            .map_or(fresh, |v| String::from_utf8_lossy(&v).into_owned())),
    }
}

/// A random 64-bit id in hex; not a secret, only distinct (the std hasher's random keys and the
/// clock).
fn new_generation() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

fn indexed_seq(store: &Store) -> Result<u64, SearchError> {
    Ok(store
        .t
        .meta
        .get(INDEXED_SEQ_KEY)?
        .and_then(|v| key_seq(&v))
        .unwrap_or(0))
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SearchError + '_ {
    move |source| SearchError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub(crate) struct Indexer {
    pub store: Store,
    index: Index,
    pub writer: IndexWriter,
    threads: usize,
    pub reader: IndexReader,
    pub fields: Fields,
    pub fingerprint: Fingerprint,
    /// Every done id in the index, committed or not, is below this: a done at or above it was
    /// never indexed and needs no delete (ids are handed out increasing, so this is nearly every
    /// new done; see [`super::ids`]).
    indexed_below: DoneId,
}

impl Indexer {
    pub fn new(store: Store, o: Opened) -> Indexer {
        let indexed_below = o
            .reader
            .searcher()
            .segment_readers()
            .iter()
            .filter(|r| r.max_doc() > 0)
            .filter_map(|r| r.fast_fields().u64(ID).ok())
            .map(|column| column.max_value().saturating_add(1))
            .max()
            .unwrap_or(0);
        Indexer {
            store,
            index: o.index,
            writer: o.writer,
            threads: o.threads,
            reader: o.reader,
            fields: o.fields,
            fingerprint: o.fingerprint,
            indexed_below,
        }
    }

    /// Folds up to [`MAX_BATCH`] change-log entries into the index; returns how many it consumed
    /// and whether more are waiting.
    pub fn index_batch(&mut self) -> Result<(usize, bool), SearchError> {
        let log = self.store.t.search_changes.clone();
        let mut keys = Vec::new();
        let mut ids = BTreeSet::new();
        let mut more = false;
        let mut top = 0;
        for entry in log.iter() {
            if keys.len() == MAX_BATCH {
                more = true;
                break;
            }
            let (k, v) = entry?;
            match decode_change(&v) {
                Some((_, changed)) => ids.extend(changed),
                None => warn!(key = ?k, "unreadable search change-log entry; dropped"),
            }
            top = top.max(key_seq(&k).unwrap_or(0));
            keys.push(k);
        }
        if keys.is_empty() {
            return Ok((0, false));
        }
        // One delete for the batch's dones that may be in the index, before their new documents
        // (a delete applies to what was added before it).
        if let Some(q) = IdSetQuery::new(ids.range(..self.indexed_below).copied()) {
            self.writer.delete_query(Box::new(q))?;
        }
        // The dones are read after their log entries: a write is one transaction, so each done is
        // at least as new as the entry that named it.
        for id in ids {
            self.add(id)?;
        }
        self.fingerprint.seq = self.fingerprint.seq.max(top);
        self.commit()?;
        let mut batch = sled::Batch::default();
        for k in &keys {
            batch.remove(k);
        }
        log.apply_batch(batch)?;
        let seq = self.fingerprint.seq;
        self.store.t.meta.fetch_and_update(INDEXED_SEQ_KEY, |old| {
            let old = old.and_then(key_seq).unwrap_or(0);
            Some(old.max(seq).to_be_bytes().to_vec())
        })?;
        Ok((keys.len(), more))
    }

    /// Adds the document of done `id` as sled has it now, unless it is deleted or gone.
    fn add(&mut self, id: DoneId) -> Result<(), SearchError> {
        match self.store.done(id) {
            Ok(d) if !d.deleted => {
                let doc = document(&self.fields, DocFields::from(&d));
                self.writer.add_document(doc)?;
                self.indexed_below = self.indexed_below.max(id + 1);
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(StorageError::Corrupt { reason, .. }) => {
                warn!(done_id = id, %reason, "corrupt done left out of the search index");
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), SearchError> {
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&self.fingerprint.payload());
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Replaces the index's content with every done in sled that is not deleted. Writes made
    /// meanwhile are in the change log and folded in afterwards (the log is not touched here:
    /// an entry read twice is harmless, one dropped early would be lost).
    pub fn rebuild(&mut self, progress: Progress<'_>) -> Result<u64, SearchError> {
        // Everything pruned from the log so far is older than this, and the dones read below are
        // at least as new as that: the rebuilt index covers the log up to here.
        let covered = self.store.next_id()?;
        let total = self.store.t.dones.len() as u64;
        self.writer.delete_all_documents()?;
        let mut n = 0;
        let mut seen = 0;
        for entry in self.store.t.dones.iter() {
            let (_, v) = entry?;
            seen += 1;
            match decode::<Done>("dones", &v) {
                Ok(d) if !d.deleted => {
                    let doc = document(&self.fields, DocFields::from(&d));
                    self.writer.add_document(doc)?;
                    self.indexed_below = self.indexed_below.max(d.id + 1);
                    n += 1;
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "corrupt done left out of the search index"),
            }
            if seen % 10_000 == 0 {
                progress(seen, total.max(seen));
            }
        }
        self.fingerprint.seq = covered;
        self.commit()?;
        progress(seen, seen);
        debug!(dones = n, "search index rebuilt");
        Ok(n)
    }

    /// The indexer as it runs between rebuilds: a writer with one indexing thread (see
    /// [`WRITER_THREADS`]). The current writer's merges finish first; nothing is uncommitted
    /// after a rebuild or a batch.
    pub fn into_live(self) -> Result<Indexer, SearchError> {
        if self.threads == 1 {
            return Ok(self);
        }
        let Indexer {
            store,
            index,
            writer,
            threads: _,
            reader,
            fields,
            fingerprint,
            indexed_below,
        } = self;
        writer.wait_merging_threads()?;
        let writer = new_writer(&index, 1)?;
        Ok(Indexer {
            store,
            index,
            writer,
            threads: 1,
            reader,
            fields,
            fingerprint,
            indexed_below,
        })
    }

    /// Catches up with the whole change log.
    pub fn catch_up(&mut self) -> Result<(), SearchError> {
        while self.index_batch()?.1 {}
        Ok(())
    }

    pub fn finish(self) {
        if let Err(e) = self.writer.wait_merging_threads() {
            warn!(error = %e, "search index merges did not finish");
        }
    }
}

pub(crate) fn log_rebuilt(n: u64) {
    info!(dones = n, "search index built from the database");
}
