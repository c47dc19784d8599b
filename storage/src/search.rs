//! Full-text search of dones: a tantivy index in `DATA/search`, derived from sled.
//!
//! sled stays the source of truth; the index can always be thrown away and rebuilt from the `dones`
//! tree. It is kept in step by a change log: every transaction that writes a done also appends one
//! small entry to the `search_changes` tree (sequence → unix millis ‖ done ids), so a done and the
//! news that it changed are durable together or not at all. One indexer thread (started by
//! [`Store::start_search`], see [`indexer`]) reads the whole log, re-reads each named done from
//! sled, replaces its document (delete by id, add unless deleted), commits at most every
//! [`COMMIT_INTERVAL`] while changes keep coming (at once when they stop, see [`QUIET`]), reloads
//! the searcher, and only *then* removes the entries it consumed. Consumed-then-removed is the
//! cursor: whatever is still in the log is not searchable yet, whatever left it is.
//!
//! Because an entry only names dones and the indexer reads their current state, replaying an entry
//! twice (a crash between the index commit and the log removal) or out of order (two writers racing
//! for sequence numbers) is harmless; an entry is never skipped, so no update is lost.
//!
//! On start-up the indexer opens the index and catches up with the log. An index that is missing,
//! unreadable, of another layout, or that does not reflect this database (its commit payload
//! records which database and how much of its change log it covers, see [`index::INDEX_VERSION`]
//! and the fingerprint there) is deleted and rebuilt from sled; until the rebuild is committed,
//! queries fail with [`SearchError::Rebuilding`] instead of answering from a partial index.
//! `donebot reindex` ([`Store::reindex_search`]) does the same on demand.
//!
//! Queries ([`Search::query`]) read the language of [`query`]: words ranked by BM25, phrases,
//! prefixes, exclusions, `OR`; without words, newest first. Words are split by [`analysis`]
//! (scripts without spaces included). Results come with highlighted ranges, a snippet and a
//! cursor for the next page.
//!
//! Invariant: a change-log entry is removed only after a commit *and* reader reload that covers it.
//! [`Search::wait_indexed`] relies on it.

mod analysis;
pub mod bulk;
mod ids;
mod index;
mod indexer;
mod prefix;
mod query;
mod rank;
mod snippet;

use std::ops::{Bound, Range};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use sled::transaction::TransactionalTree;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{IndexReader, Searcher, Term};
use tracing::{debug, warn};

pub use analysis::{WordTokenizer, analyzer};
pub use index::{DocFields, INDEX_VERSION};
pub use indexer::Progress;

use crate::codec::id_key;
use crate::error::{StorageError, StorageResult, TxResult};
use crate::{Done, DoneId, DoneKind, MemberId, Store, TeamId};
use index::{Fields, day_value, normalize_tag};
use indexer::{Indexer, Opened};

/// The indexer commits at most this often while changes keep arriving (a done is searchable
/// within this plus one commit, well under a second).
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(250);
/// ... but once no change has come for this long, the burst is over: what it wrote is committed
/// at once instead of at the end of the interval. Longer than the gaps between the writes of a
/// burst (the recorder writes every few milliseconds under load), so a steady stream still
/// commits once per interval.
pub const QUIET: Duration = Duration::from_millis(20);
/// Results per page at most.
pub const MAX_LIMIT: usize = 200;
/// The deepest page: tantivy keeps `offset + limit` hits in memory to find it, so a client's
/// offset is bounded (a larger one is refused, not clamped: it would return the wrong page).
pub const MAX_OFFSET: usize = 10_000;
/// A database with at most this many dones gets a missing index rebuilt before
/// [`Store::start_search`] returns (a fraction of a second); a larger one in the background.
const SYNC_REBUILD_MAX: usize = 20_000;

/// What can go wrong when searching or indexing.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The user's query could not be understood; the message says why (HTTP 400, exit 2).
    #[error("{0}")]
    InvalidQuery(String),
    /// The index itself failed (I/O, a corrupt segment).
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("search index directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The index is being rebuilt from the database (or its rebuild failed: see the log);
    /// nothing is answered from a partial index (HTTP 503).
    #[error("the search index is being rebuilt from the database; try again shortly")]
    Rebuilding,
    /// [`Store::start_search`] was called while an indexer for this database runs.
    #[error("the search indexer of this database is already running")]
    AlreadyRunning,
}

impl From<sled::Error> for SearchError {
    fn from(e: sled::Error) -> Self {
        SearchError::Storage(StorageError::Sled(e))
    }
}

// --- the change log --------------------------------------------------------------------------------

/// Appends "these dones changed" to the change log, inside the caller's transaction.
pub(crate) fn log_change(
    changes: &TransactionalTree,
    seq: u64,
    now: DateTime<Utc>,
    ids: &[DoneId],
) -> TxResult<()> {
    let mut value = Vec::with_capacity(8 + 8 * ids.len());
    value.extend_from_slice(&now.timestamp_millis().to_be_bytes());
    for id in ids {
        value.extend_from_slice(&id_key(*id));
    }
    changes.insert(&id_key(seq), value)?;
    Ok(())
}

/// A change-log value: when it was written and which dones changed.
fn decode_change(value: &[u8]) -> Option<(i64, Vec<DoneId>)> {
    let (at, ids) = value.split_first_chunk::<8>()?;
    let (chunks, rest) = ids.as_chunks::<8>();
    rest.is_empty().then(|| {
        (
            i64::from_be_bytes(*at),
            chunks.iter().map(|c| u64::from_be_bytes(*c)).collect(),
        )
    })
}

fn key_seq(key: &[u8]) -> Option<u64> {
    key.try_into().ok().map(u64::from_be_bytes)
}

/// What the writers of the change log and the indexer tell each other; shared by every clone of a
/// [`Store`].
pub(crate) struct ChangeSignal {
    state: Mutex<SignalState>,
    /// Wakes the indexer: the log grew, or it should stop.
    work: Condvar,
    /// Wakes [`Search::wait_indexed`] callers: the indexer removed consumed entries.
    progress: Condvar,
}

#[derive(Default)]
struct SignalState {
    /// The highest sequence written through this process, or found in the log at open.
    last_seq: u64,
    /// The log may hold entries the indexer has not seen.
    dirty: bool,
    /// Counts [`ChangeSignal::changed`] calls, so the indexer can tell a quiet spell.
    changes: u64,
    stop: bool,
    running: bool,
    /// The indexer is filling a new index from sled: nothing counts as indexed until it is done.
    rebuilding: bool,
}

impl ChangeSignal {
    pub(crate) fn new(log: &sled::Tree) -> StorageResult<ChangeSignal> {
        let last_seq = match log.last()? {
            Some((k, _)) => key_seq(&k).unwrap_or(0),
            None => 0,
        };
        Ok(ChangeSignal {
            state: Mutex::new(SignalState {
                last_seq,
                dirty: true,
                ..SignalState::default()
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SignalState> {
        // The state is a few flags, consistent after any panic; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self, seq: u64) {
        let mut st = self.lock();
        st.last_seq = st.last_seq.max(seq);
        st.dirty = true;
        st.changes = st.changes.wrapping_add(1);
        self.work.notify_one();
    }

    /// Blocks the indexer until there is work (returns `true`) or it should stop (`false`); work
    /// is not handed out before `not_before` while changes keep coming, which is what batches a
    /// burst of writes, but as soon as none has come for [`QUIET`].
    fn next_round(&self, not_before: Instant) -> bool {
        let mut st = self.lock();
        while !st.dirty && !st.stop {
            st = self.work.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        loop {
            let now = Instant::now();
            if st.stop || now >= not_before {
                break;
            }
            let seen = st.changes;
            let (next, waited) = self
                .work
                .wait_timeout(st, (not_before - now).min(QUIET))
                .unwrap_or_else(|p| p.into_inner());
            st = next;
            if waited.timed_out() && st.changes == seen {
                break;
            }
        }
        st.dirty = false;
        !st.stop
    }

    fn progressed(&self) {
        let _st = self.lock();
        self.progress.notify_all();
    }
}

impl Store {
    /// Called after a transaction that appended `seq` to the change log has committed.
    pub(crate) fn search_changed(&self, seq: u64) {
        self.changes.changed(seq);
    }

    /// The highest change-log sequence written so far (by this process, or found at open). Every
    /// write of a done that returned before this was read is covered by it: pass it to
    /// [`Search::wait_indexed`] to wait until those writes are searchable.
    pub fn change_seq(&self) -> u64 {
        self.changes.lock().last_seq
    }

    /// When the oldest change not yet searchable was written (`None`: the index is up to date).
    /// The index lag is the time since then.
    pub fn search_backlog_since(&self) -> StorageResult<Option<DateTime<Utc>>> {
        Ok(self
            .t
            .search_changes
            .first()?
            .and_then(|(_, v)| decode_change(&v))
            .and_then(|(millis, _)| DateTime::from_timestamp_millis(millis)))
    }

    /// Asks the indexer to look at `ids` again (they were found in the index but not in sled).
    fn reindex_ids(&self, ids: &[DoneId]) -> StorageResult<()> {
        let _w = self.write_gate();
        let seq = self.next_id()?;
        self.t
            .search_changes
            .transaction(|changes| log_change(changes, seq, Utc::now(), ids))?;
        self.search_changed(seq);
        Ok(())
    }

    /// Marks the indexer of this database as running, or says one already is.
    fn claim_indexer(&self) -> Result<(), SearchError> {
        let mut st = self.changes.lock();
        if st.running {
            return Err(SearchError::AlreadyRunning);
        }
        st.running = true;
        st.stop = false;
        st.dirty = true;
        Ok(())
    }

    /// Opens (or rebuilds) the search index in `DATA/search` (in memory for a temporary store) and
    /// starts its indexer thread. The thread stops at [`Search::stop`] or when the last clone of
    /// the returned handle is dropped. At most one indexer runs per database.
    ///
    /// An index that must be rebuilt is rebuilt before this returns when the database is small;
    /// otherwise in the indexer thread, and queries fail with [`SearchError::Rebuilding`] until
    /// it is done.
    pub fn start_search(&self) -> Result<Search, SearchError> {
        self.claim_indexer()?;
        let release = |e| {
            self.changes.lock().running = false;
            e
        };
        let opened = Opened::open(self, false).map_err(release)?;
        let shared = Arc::new(Shared {
            store: self.clone(),
            fields: opened.fields,
            reader: opened.reader.clone(),
            analyzer: analyzer(),
            columns: rank::Columns::default(),
            _index: opened.index.clone(),
        });
        let mut rebuild = opened.rebuild;
        let mut indexer = Indexer::new(self.clone(), opened);
        if rebuild && self.t.dones.iter().take(SYNC_REBUILD_MAX + 1).count() <= SYNC_REBUILD_MAX {
            let n = indexer.rebuild(&mut |_, _| {}).map_err(release)?;
            indexer::log_rebuilt(n);
            rebuild = false;
        }
        self.changes.lock().rebuilding = rebuild;
        let thread = std::thread::Builder::new()
            .name("search-indexer".into())
            .spawn(move || run(indexer, rebuild))
            .map_err(|source| {
                release(SearchError::Io {
                    path: "(indexer thread)".into(),
                    source,
                })
            })?;
        Ok(Search {
            shared,
            worker: Arc::new(Worker {
                signal: self.changes.clone(),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// `donebot reindex`: throws the index away, starts a new lineage (an index copied from
    /// before this is never served again), rebuilds it from every done in sled, and folds in
    /// the change log. Runs here, on the caller's thread; no indexer may be running. Returns
    /// the number of dones indexed.
    pub fn reindex_search(&self, progress: Progress<'_>) -> Result<u64, SearchError> {
        self.claim_indexer()?;
        let result = (|| {
            let opened = Opened::open(self, true)?;
            let mut indexer = Indexer::new(self.clone(), opened);
            let n = indexer.rebuild(progress)?;
            indexer.catch_up()?;
            indexer.finish();
            indexer::log_rebuilt(n);
            Ok(n)
        })();
        let mut st = self.changes.lock();
        st.running = false;
        st.rebuilding = false;
        result
    }
}

/// The indexer thread: the rebuild if one is due, then every change as it comes.
fn run(mut indexer: Indexer, rebuild: bool) {
    let signal = indexer.store.changes.clone();
    if rebuild {
        match indexer.rebuild(&mut |n, total| debug!(n, total, "rebuilding the search index")) {
            Ok(n) => {
                indexer::log_rebuilt(n);
                signal.lock().rebuilding = false;
            }
            Err(e) => {
                warn!(error = %e, "rebuilding the search index failed; search is unavailable until the next start (or `donebot reindex`)")
            }
        }
    }
    let mut indexer = match indexer.into_live() {
        Ok(live) => live,
        Err(e) => {
            warn!(error = %e, "cannot open the live search index writer; search stays as it is until the next start");
            signal.lock().running = false;
            signal.progressed();
            return;
        }
    };
    signal.progressed();
    let mut last_round = Instant::now() - COMMIT_INTERVAL;
    loop {
        let go_on = signal.next_round(last_round + COMMIT_INTERVAL);
        last_round = Instant::now();
        match indexer.index_batch() {
            Ok((consumed, more)) => {
                if consumed > 0 {
                    debug!(consumed, "search index committed");
                    signal.progressed();
                }
                if more {
                    signal.changed(0);
                }
            }
            Err(e) => {
                warn!(error = %e, "search indexing failed; retrying");
                signal.changed(0);
            }
        }
        if !go_on {
            break;
        }
    }
    indexer.finish();
    signal.lock().running = false;
    signal.progressed();
}

/// Stops and joins the indexer thread when the last [`Search`] clone goes.
struct Worker {
    signal: Arc<ChangeSignal>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Worker {
    fn stop(&self) {
        {
            let mut st = self.signal.lock();
            st.stop = true;
            self.signal.work.notify_all();
        }
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread
            && t.join().is_err()
        {
            warn!("the search indexer thread panicked");
            self.signal.lock().running = false;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

// --- queries ------------------------------------------------------------------------------------

struct Shared {
    store: Store,
    /// Kept open for as long as the handle lives (the reader refers to it).
    _index: tantivy::Index,
    reader: IndexReader,
    fields: Fields,
    /// Cloned for each query (it holds a buffer).
    analyzer: TextAnalyzer,
    columns: rank::Columns,
}

/// The search side of a [`Store`]: queries, and waiting until writes are searchable. Cheap to
/// clone; the indexer stops with the last clone (or at [`Search::stop`]).
#[derive(Clone)]
pub struct Search {
    shared: Arc<Shared>,
    worker: Arc<Worker>,
}

/// A search within one team. Every filter is optional; `words` use the language of
/// [`query`](self::query): words (all must match), `"a phrase"`, `word*`, `-word`, `a OR b`,
/// `tag:x`, `kind:goal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub team: TeamId,
    pub words: String,
    pub member: Option<MemberId>,
    /// First day included.
    pub from: Option<NaiveDate>,
    /// Last day included.
    pub to: Option<NaiveDate>,
    /// A `#tag`, with or without the `#`, in any case.
    pub tag: Option<String>,
    pub kind: Option<DoneKind>,
    /// At most [`MAX_LIMIT`].
    pub limit: usize,
    /// Results to skip, at most [`MAX_OFFSET`]; `0` when a cursor is given.
    pub offset: usize,
    /// Where to go on: the `next` of the previous page of this same query.
    pub cursor: Option<String>,
}

impl SearchQuery {
    /// Everything of `team`, newest first, 20 at a time.
    pub fn team(team: TeamId) -> SearchQuery {
        SearchQuery {
            team,
            words: String::new(),
            member: None,
            from: None,
            to: None,
            tag: None,
            kind: None,
            limit: 20,
            offset: 0,
            cursor: None,
        }
    }

    pub fn words(mut self, words: impl Into<String>) -> SearchQuery {
        self.words = words.into();
        self
    }

    /// What a cursor is bound to: everything that decides the results, not the page size.
    fn fingerprint(&self) -> u64 {
        let day = |d: Option<NaiveDate>| d.map(day_value).unwrap_or(0).to_be_bytes();
        query::fingerprint(&[
            &self.team.to_be_bytes(),
            self.words.trim().as_bytes(),
            &self.member.unwrap_or(0).to_be_bytes(),
            &day(self.from),
            &day(self.to),
            self.tag
                .as_deref()
                .map(normalize_tag)
                .unwrap_or_default()
                .as_bytes(),
            self.kind.map_or("", DoneKind::as_str).as_bytes(),
        ])
    }
}

/// One found done, as sled has it now.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub done: Done,
    /// The byte ranges of `done.text` that matched the words (sorted, not overlapping; empty
    /// when the query had no words).
    pub highlights: Vec<Range<usize>>,
    /// A piece of the text around the matches, HTML-escaped, matches in `<b>…</b>`; `None` when
    /// the query had no words.
    pub snippet: Option<String>,
    /// BM25 relevance (higher is better); `None` when the query had no words.
    pub score: Option<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// How many dones match in all.
    pub total: usize,
    /// The page asked for: best first when there are words (then newest), else newest day
    /// first (then newest done).
    pub hits: Vec<SearchHit>,
    /// The cursor of the next page (give it as [`SearchQuery::cursor`]); `None` on the last.
    pub next: Option<String>,
}

/// What the index answers, before the dones are read from sled.
pub(crate) struct Found {
    pub total: usize,
    /// Done ids with their score (ranked queries).
    pub top: Vec<(u64, Option<f32>)>,
    pub parsed: query::Parsed,
    pub next: Option<String>,
}

fn invalid(msg: impl Into<String>) -> SearchError {
    SearchError::InvalidQuery(msg.into())
}

/// Runs `q` against one index snapshot. Shared by the server and `donebot bench search`.
pub(crate) fn find(
    searcher: &Searcher,
    columns: &rank::Columns,
    f: &Fields,
    analyzer: &mut TextAnalyzer,
    q: &SearchQuery,
) -> Result<Found, SearchError> {
    if q.offset > MAX_OFFSET || !(1..=MAX_LIMIT).contains(&q.limit) {
        return Err(invalid(format!(
            "limit must be between 1 and {MAX_LIMIT} and offset at most {MAX_OFFSET}"
        )));
    }
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from > to
    {
        return Err(invalid(format!(
            "the range is empty: from {from} is after to {to}"
        )));
    }
    let fingerprint = q.fingerprint();
    let offset = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(_) if q.offset != 0 => {
            return Err(invalid("give either an offset or a cursor, not both"));
        }
        Some(c) => query::Cursor::decode(c, fingerprint)?.offset,
        None => q.offset,
    };
    let parsed = query::parse(analyzer, &q.words)?;
    let u64_term = |field, v: u64| -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_u64(field, v),
            IndexRecordOption::Basic,
        ))
    };
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, u64_term(f.team, q.team))];
    clauses.extend(query::clauses(f, q.team, &parsed));
    let first_filter = clauses.len();
    if let Some(m) = q.member {
        let m = Term::from_field_u64(f.member, m);
        clauses.push((
            Occur::Must,
            Box::new(RangeQuery::new(
                Bound::Included(m.clone()),
                Bound::Included(m),
            )),
        ));
    }
    if let Some(tag) = &q.tag {
        let term = Term::from_field_text(f.tag, &normalize_tag(tag));
        clauses.push((
            Occur::Must,
            Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
        ));
    }
    if let Some(kind) = q.kind {
        let term = Term::from_field_text(f.kind, kind.as_str());
        clauses.push((
            Occur::Must,
            Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
        ));
    }
    if q.from.is_some() || q.to.is_some() {
        let bound = |d: Option<NaiveDate>| match d {
            Some(d) => Bound::Included(Term::from_field_u64(f.day, day_value(d))),
            None => Bound::Unbounded,
        };
        clauses.push((
            Occur::Must,
            Box::new(RangeQuery::new(bound(q.from), bound(q.to))),
        ));
    }
    // Only the words score: a filter's own score is not the same in every segment (a range over
    // a segment whose documents all match scores 1, elsewhere 0), which would rank by segment.
    let clauses = clauses
        .into_iter()
        .enumerate()
        .map(|(i, (occur, q))| {
            if i == 0 || i >= first_filter {
                (
                    occur,
                    Box::new(ConstScoreQuery::new(q, 0.0)) as Box<dyn Query>,
                )
            } else {
                (occur, q)
            }
        })
        .collect();
    let query = BooleanQuery::new(clauses);
    columns.retain(searcher);
    let (total, top) = searcher.search(
        &query,
        &rank::Ranked {
            columns,
            offset,
            limit: q.limit,
            by_score: parsed.has_words(),
        },
    )?;
    let next_offset = offset + q.limit;
    let next = (next_offset < total && next_offset <= MAX_OFFSET).then(|| {
        query::Cursor {
            offset: next_offset,
            query: fingerprint,
        }
        .encode()
    });
    Ok(Found {
        total,
        top,
        parsed,
        next,
    })
}

impl Search {
    /// Finds a team's dones.
    pub fn query(&self, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        let s = &*self.shared;
        if self.worker.signal.lock().rebuilding {
            return Err(SearchError::Rebuilding);
        }
        let mut analyzer = s.analyzer.clone();
        let searcher = s.reader.searcher();
        let found = find(&searcher, &s.columns, &s.fields, &mut analyzer, q)?;
        let words = found.parsed.has_words();
        let mut hits = Vec::with_capacity(found.top.len());
        let mut stale = Vec::new();
        for (id, score) in found.top {
            let done = match s.store.done(id) {
                Ok(d) if !d.deleted && d.team_id == q.team => d,
                Ok(_) => {
                    // Deleted a moment ago: the indexer has it in its log already.
                    continue;
                }
                Err(e) if e.is_not_found() => {
                    // In the index but not in sled: sled lost a write that the index kept (a
                    // crash before sled's flush). Have the indexer drop it.
                    stale.push(id);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let highlights = query::highlights(&mut analyzer, &found.parsed, &done.text);
            let snippet = words.then(|| snippet::snippet(&done.text, &highlights));
            hits.push(SearchHit {
                done,
                highlights,
                snippet,
                score,
            });
        }
        if !stale.is_empty() {
            s.store.reindex_ids(&stale)?;
        }
        Ok(SearchResults {
            total: found.total,
            hits,
            next: found.next,
        })
    }

    /// Whether every change up to `seq` (see [`Store::change_seq`]) is searchable.
    pub fn is_indexed(&self, seq: u64) -> Result<bool, SearchError> {
        let st = self.worker.signal.lock();
        self.indexed(&st, seq)
    }

    fn indexed(&self, st: &SignalState, seq: u64) -> Result<bool, SearchError> {
        if st.rebuilding {
            return Ok(false);
        }
        Ok(match self.shared.store.t.search_changes.first()? {
            Some((k, _)) => key_seq(&k).is_some_and(|first| first > seq),
            None => true,
        })
    }

    /// Blocks until every change up to `seq` is searchable (`true`), or `timeout` passed
    /// (`false`). No polling: the indexer wakes the waiters after each commit.
    pub fn wait_indexed(&self, seq: u64, timeout: Duration) -> Result<bool, SearchError> {
        let deadline = Instant::now() + timeout;
        let signal = &self.worker.signal;
        let mut st = signal.lock();
        loop {
            // Checked under the lock the indexer takes to announce progress: no wake-up is missed.
            if self.indexed(&st, seq)? {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline || !st.running {
                return Ok(false);
            }
            st = signal
                .progress
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Everything written so far becomes searchable before this returns (within `timeout`).
    pub fn wait_caught_up(&self, timeout: Duration) -> Result<bool, SearchError> {
        self.wait_indexed(self.shared.store.change_seq(), timeout)
    }

    /// Folds what is left in the change log into the index, then stops the indexer thread and
    /// waits for it. Queries keep working on what was committed. Idempotent.
    pub fn stop(&self) {
        self.worker.stop();
    }

    /// How many documents the index holds (every done that is not deleted, once caught up).
    pub fn num_docs(&self) -> u64 {
        self.shared.reader.searcher().num_docs()
    }
}

#[cfg(test)]
mod tests;
