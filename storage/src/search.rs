//! Full-text search of dones: a tantivy index in `DATA/search`, derived from sled.
//!
//! sled stays the source of truth; the index can always be thrown away and rebuilt from the `dones`
//! tree. It is kept in step by a change log: every transaction that writes a done also appends one
//! small entry to the `search_changes` tree (sequence → unix millis ‖ done ids), so a done and the
//! news that it changed are durable together or not at all. One indexer thread (started by
//! [`Store::start_search`]) reads the whole log, re-reads each named done from sled, replaces its
//! document (delete by id, add unless deleted), commits at most every [`COMMIT_INTERVAL`], reloads
//! the searcher, and only *then* removes the entries it consumed. Consumed-then-removed is the
//! cursor: whatever is still in the log is not searchable yet, whatever left it is.
//!
//! Because an entry only names dones and the indexer reads their current state, replaying an entry
//! twice (a crash between the index commit and the log removal) or out of order (two writers racing
//! for sequence numbers) is harmless; an entry is never skipped, so no update is lost.
//!
//! On start-up the indexer opens the index and catches up with the log. A missing, unreadable or
//! half-built index (its commit payload is not [`INDEX_VERSION`]) is deleted and rebuilt from sled.
//!
//! Invariant: a change-log entry is removed only after a commit *and* reader reload that covers it.
//! [`Search::wait_indexed`] relies on it.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use sled::transaction::TransactionalTree;
use tantivy::collector::sort_key::SortByStaticFastValue;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, TextAnalyzer, Token, TokenStream, Tokenizer,
};
use tantivy::{Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};
use tracing::{debug, info, warn};

use crate::codec::{decode, id_key};
use crate::error::{StorageError, StorageResult, TxResult};
use crate::{Done, DoneId, DoneKind, MemberId, Store, TeamId};

/// The indexer commits at most this often while changes arrive (a done is searchable within
/// this plus one commit, well under a second).
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(250);
/// Change-log entries folded into one commit at most; the rest go into the next one.
const MAX_BATCH: usize = 5_000;
/// The index writer's memory arena (tantivy's minimum is 15 MB per indexing thread).
const WRITER_MEMORY: usize = 24 << 20;
/// Written as the payload of every commit. An index without it is from an older layout or a
/// rebuild that did not finish, and is rebuilt.
pub const INDEX_VERSION: &str = "donebot-search-1";
/// The analyzer of the `text` field (registered on the index by name).
const ANALYZER: &str = "donebot_text";
/// A text up to this long is shown whole in a snippet; a longer one is cut around the matches.
const SNIPPET_CHARS: usize = 240;
/// Results per page at most.
pub const MAX_LIMIT: usize = 200;
/// The deepest page: tantivy keeps `offset + limit` hits in memory to find it, so a client's
/// offset is bounded (a larger one is refused, not clamped: it would return the wrong page).
pub const MAX_OFFSET: usize = 10_000;

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
        self.work.notify_one();
    }

    /// Blocks the indexer until there is work (returns `true`) or it should stop (`false`); work
    /// is not handed out before `not_before`, which is what batches a burst of writes.
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
            st = self
                .work
                .wait_timeout(st, not_before - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
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
    fn reindex(&self, ids: &[DoneId]) -> StorageResult<()> {
        let _w = self.write_gate();
        let seq = self.next_id()?;
        self.t
            .search_changes
            .transaction(|changes| log_change(changes, seq, Utc::now(), ids))?;
        self.search_changed(seq);
        Ok(())
    }

    /// Opens (or rebuilds) the search index in `DATA/search` (in memory for a temporary store) and
    /// starts its indexer thread. The thread stops at [`Search::stop`] or when the last clone of
    /// the returned handle is dropped. At most one indexer runs per database.
    pub fn start_search(&self) -> Result<Search, SearchError> {
        {
            let mut st = self.changes.lock();
            if st.running {
                return Err(SearchError::AlreadyRunning);
            }
            st.running = true;
            st.stop = false;
            st.dirty = true;
        }
        let started = Opened::open(self.dir.as_deref().map(|d| d.join("search")));
        let opened = match started {
            Ok(o) => o,
            Err(e) => {
                self.changes.lock().running = false;
                return Err(e);
            }
        };
        let shared = Arc::new(Shared {
            store: self.clone(),
            fields: opened.fields,
            parser: opened.parser,
            reader: opened.reader.clone(),
            _index: opened.index,
        });
        let indexer = Indexer {
            store: self.clone(),
            writer: opened.writer,
            reader: opened.reader,
            fields: opened.fields,
        };
        let rebuild = opened.rebuild;
        self.changes.lock().rebuilding = rebuild;
        let thread = std::thread::Builder::new()
            .name("search-indexer".into())
            .spawn(move || indexer.run(rebuild))
            .map_err(|source| SearchError::Io {
                path: "(indexer thread)".into(),
                source,
            })?;
        Ok(Search {
            shared,
            worker: Arc::new(Worker {
                signal: self.changes.clone(),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }
}

// --- the index ---------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    team: Field,
    member: Field,
    day: Field,
    text: Field,
    tag: Field,
    kind: Field,
}

/// The documents: one per done that is not deleted. Nothing is stored: hits are read back from
/// sled by id (a fast field), so the index never serves stale text.
fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: b.add_u64_field("id", INDEXED | FAST),
        team: b.add_u64_field("team", INDEXED),
        member: b.add_u64_field("member", INDEXED),
        day: b.add_u64_field("day", INDEXED | FAST),
        text: b.add_text_field("text", text),
        tag: b.add_text_field("tag", STRING),
        kind: b.add_text_field("kind", STRING),
    };
    (b.build(), fields)
}

/// Days since the common era, the `day` field's value.
fn day_value(day: NaiveDate) -> u64 {
    use chrono::Datelike;
    u64::try_from(day.num_days_from_ce()).unwrap_or(0)
}

fn normalize_tag(tag: &str) -> String {
    tag.trim().trim_start_matches('#').to_lowercase()
}

/// Splits text into words for any script: runs of letters and digits are words; a Han, kana or
/// other CJK character (scripts written without spaces) is a word of its own, and a query of
/// several of them becomes a phrase, so `会议` finds `今天的会议`. Lower-casing and folding of
/// accents (`Café` → `cafe`) follow in [`analyzer`]. There is no stemming: it is language-specific
/// and a team's dones are in whatever languages its members write.
#[derive(Clone, Default)]
pub struct WordTokenizer {
    tokens: Vec<Token>,
}

pub struct WordTokens<'a> {
    tokens: &'a mut [Token],
    next: usize,
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF      // CJK radicals, Kangxi radicals
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3100..=0x312F    // Bopomofo
        | 0x31F0..=0x31FF    // Katakana extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9F    // half-width Katakana
        | 0x20000..=0x3FFFF) // CJK extensions B and later
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordTokens<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordTokens<'a> {
        self.tokens.clear();
        let mut word: Option<usize> = None;
        let push = |tokens: &mut Vec<Token>, from: usize, to: usize| {
            let position = tokens.len();
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position,
                text: text[from..to].to_string(),
                position_length: 1,
            });
        };
        for (i, c) in text.char_indices() {
            if c.is_alphanumeric() && !is_cjk(c) {
                word.get_or_insert(i);
                continue;
            }
            if let Some(start) = word.take() {
                push(&mut self.tokens, start, i);
            }
            if is_cjk(c) {
                push(&mut self.tokens, i, i + c.len_utf8());
            }
        }
        if let Some(start) = word {
            push(&mut self.tokens, start, text.len());
        }
        WordTokens {
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

impl TokenStream for WordTokens<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    // Like tantivy's own streams, `token` is only valid after `advance` returned `true`.
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// An index opened (or created) with its reader and writer.
struct Opened {
    index: Index,
    reader: IndexReader,
    writer: IndexWriter,
    fields: Fields,
    parser: QueryParser,
    /// The index is new or was unusable: fill it from sled.
    rebuild: bool,
}

impl Opened {
    fn open(path: Option<PathBuf>) -> Result<Opened, SearchError> {
        let (schema, fields) = schema();
        let Some(path) = path else {
            return Opened::finish(Index::create_in_ram(schema), fields, true);
        };
        match Opened::existing(&path, &schema, fields) {
            Ok(Some(opened)) => return Ok(opened),
            Ok(None) => {}
            Err(reason) => {
                warn!(path = %path.display(), %reason, "the search index is unusable; rebuilding it from the database");
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
            }
        }
        std::fs::create_dir_all(&path).map_err(io(&path))?;
        let index = Index::create_in_dir(&path, schema)?;
        Opened::finish(index, fields, true)
    }

    /// The index at `path` if it is complete and current; `Ok(None)` if there is none.
    fn existing(path: &Path, schema: &Schema, fields: Fields) -> Result<Option<Opened>, String> {
        if !path.join("meta.json").exists() {
            if path.exists() {
                return Err("no meta.json".into());
            }
            return Ok(None);
        }
        let index = Index::open_in_dir(path).map_err(|e| e.to_string())?;
        if index.schema() != *schema {
            return Err("its schema is not this version's".into());
        }
        let payload = index.load_metas().map_err(|e| e.to_string())?.payload;
        if payload.as_deref() != Some(INDEX_VERSION) {
            return Err(format!(
                "its version is {payload:?}, not {INDEX_VERSION:?} (or a rebuild did not finish)"
            ));
        }
        Opened::finish(index, fields, false)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn finish(index: Index, fields: Fields, rebuild: bool) -> Result<Opened, SearchError> {
        index.tokenizers().register(ANALYZER, analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let mut parser = QueryParser::for_index(&index, vec![fields.text]);
        parser.set_conjunction_by_default();
        Ok(Opened {
            index,
            reader,
            writer,
            fields,
            parser,
            rebuild,
        })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SearchError + '_ {
    move |source| SearchError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn document(f: &Fields, d: &Done) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_u64(f.id, d.id);
    doc.add_u64(f.team, d.team_id);
    doc.add_u64(f.member, d.member_id);
    doc.add_u64(f.day, day_value(d.day));
    doc.add_text(f.text, &d.text);
    for tag in &d.tags {
        doc.add_text(f.tag, normalize_tag(tag));
    }
    doc.add_text(f.kind, d.kind.as_str());
    doc
}

// --- the indexer thread -------------------------------------------------------------------------

struct Indexer {
    store: Store,
    writer: IndexWriter,
    reader: IndexReader,
    fields: Fields,
}

impl Indexer {
    fn run(mut self, rebuild: bool) {
        if rebuild {
            match self.rebuild() {
                Ok(n) => info!(dones = n, "search index built from the database"),
                Err(e) => {
                    warn!(error = %e, "rebuilding the search index failed; it stays incomplete until the next start")
                }
            }
        }
        let signal = self.store.changes.clone();
        signal.lock().rebuilding = false;
        signal.progressed();
        let mut last_round = Instant::now() - COMMIT_INTERVAL;
        loop {
            let go_on = signal.next_round(last_round + COMMIT_INTERVAL);
            last_round = Instant::now();
            match self.index_batch() {
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
        if let Err(e) = self.writer.wait_merging_threads() {
            warn!(error = %e, "search index merges did not finish");
        }
        signal.lock().running = false;
        signal.progressed();
    }

    /// Folds up to [`MAX_BATCH`] change-log entries into the index; returns how many it consumed
    /// and whether more are waiting.
    fn index_batch(&mut self) -> Result<(usize, bool), SearchError> {
        let log = self.store.t.search_changes.clone();
        let mut keys = Vec::new();
        let mut ids = BTreeSet::new();
        let mut more = false;
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
            keys.push(k);
        }
        if keys.is_empty() {
            return Ok((0, false));
        }
        // The dones are read after their log entries: a write is one transaction, so each done is
        // at least as new as the entry that named it.
        for id in ids {
            self.upsert(id)?;
        }
        self.commit()?;
        let mut batch = sled::Batch::default();
        for k in &keys {
            batch.remove(k);
        }
        log.apply_batch(batch)?;
        Ok((keys.len(), more))
    }

    fn upsert(&mut self, id: DoneId) -> Result<(), SearchError> {
        self.writer
            .delete_term(Term::from_field_u64(self.fields.id, id));
        match self.store.done(id) {
            Ok(d) if !d.deleted => {
                self.writer.add_document(document(&self.fields, &d))?;
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
        prepared.set_payload(INDEX_VERSION);
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Replaces the index's content with every done in sled that is not deleted. Writes made
    /// meanwhile are in the change log and folded in afterwards.
    fn rebuild(&mut self) -> Result<usize, SearchError> {
        self.writer.delete_all_documents()?;
        let mut n = 0;
        for entry in self.store.t.dones.iter() {
            let (_, v) = entry?;
            match decode::<Done>("dones", &v) {
                Ok(d) if !d.deleted => {
                    self.writer.add_document(document(&self.fields, &d))?;
                    n += 1;
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "corrupt done left out of the search index"),
            }
        }
        self.commit()?;
        Ok(n)
    }
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

/// The text (whole when short, else the snippet's fragment), HTML-escaped, with the matched
/// words in `<b>…</b>`. tantivy's own `to_html` cuts the fragment at the last word, dropping
/// trailing punctuation even of a one-line done.
fn highlight(text: &str, snippet: &tantivy::snippet::Snippet) -> String {
    let fragment = snippet.fragment_range();
    let (from, to) = if text.chars().count() <= SNIPPET_CHARS {
        (0, text.len())
    } else {
        (fragment.start, fragment.end)
    };
    let mut out = String::with_capacity(to - from + 16);
    let mut at = from;
    for r in snippet.highlighted() {
        let (start, end) = (r.start + fragment.start, r.end + fragment.start);
        if start < at || end > to {
            continue;
        }
        escape_html(&mut out, &text[at..start]);
        out.push_str("<b>");
        escape_html(&mut out, &text[start..end]);
        out.push_str("</b>");
        at = end;
    }
    escape_html(&mut out, &text[at..to]);
    out
}

fn escape_html(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

// --- queries ------------------------------------------------------------------------------------

struct Shared {
    store: Store,
    /// Kept open for as long as the handle lives (the reader and parser refer to it).
    _index: Index,
    reader: IndexReader,
    fields: Fields,
    parser: QueryParser,
}

/// The search side of a [`Store`]: queries, and waiting until writes are searchable. Cheap to
/// clone; the indexer stops with the last clone (or at [`Search::stop`]).
#[derive(Clone)]
pub struct Search {
    shared: Arc<Shared>,
    worker: Arc<Worker>,
}

/// A search within one team. Every filter is optional; words use the query syntax of tantivy's
/// `QueryParser` (all words must match; `"a phrase"`, `-excluded`, `a OR b`, `tag:x`, `kind:goal`).
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
    pub offset: usize,
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
        }
    }

    pub fn words(mut self, words: impl Into<String>) -> SearchQuery {
        self.words = words.into();
        self
    }
}

/// One found done, as sled has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub done: Done,
    /// A piece of the text around the matched words, HTML-escaped, matches in `<b>…</b>`; `None`
    /// when the query had no words.
    pub snippet: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResults {
    /// How many dones match in all (for paging).
    pub total: usize,
    /// The page asked for, newest day first (then newest done).
    pub hits: Vec<SearchHit>,
}

impl Search {
    /// Finds a team's dones.
    pub fn query(&self, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        let s = &*self.shared;
        let f = s.fields;
        if q.offset > MAX_OFFSET || !(1..=MAX_LIMIT).contains(&q.limit) {
            return Err(SearchError::InvalidQuery(format!(
                "limit must be between 1 and {MAX_LIMIT} and offset at most {MAX_OFFSET}"
            )));
        }
        if let (Some(from), Some(to)) = (q.from, q.to)
            && from > to
        {
            return Err(SearchError::InvalidQuery(format!(
                "the range is empty: from {from} is after to {to}"
            )));
        }
        let u64_term = |field: Field, v: u64| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_u64(field, v),
                IndexRecordOption::Basic,
            ))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, u64_term(f.team, q.team))];
        let words = q.words.trim();
        let text_query = if words.is_empty() {
            None
        } else {
            let parsed = s.parser.parse_query(words).map_err(|e| {
                SearchError::InvalidQuery(format!(
                    "cannot read the search {words:?}: {e} (use words, \"a phrase\", -word, a OR b, tag:x, kind:goal)"
                ))
            })?;
            clauses.push((Occur::Must, parsed.box_clone()));
            Some(parsed)
        };
        if let Some(m) = q.member {
            clauses.push((Occur::Must, u64_term(f.member, m)));
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
        let query = BooleanQuery::new(clauses);

        let searcher = s.reader.searcher();
        let newest_first = TopDocs::with_limit(q.limit).and_offset(q.offset).order_by((
            (SortByStaticFastValue::<u64>::for_field("day"), Order::Desc),
            (SortByStaticFastValue::<u64>::for_field("id"), Order::Desc),
        ));
        let (total, top) = searcher.search(&query, &(Count, newest_first))?;
        let snippets = match &text_query {
            Some(t) => {
                let mut generator = SnippetGenerator::create(&searcher, &**t, f.text)?;
                generator.set_max_num_chars(SNIPPET_CHARS);
                Some(generator)
            }
            None => None,
        };
        let mut hits = Vec::with_capacity(top.len());
        let mut stale = Vec::new();
        for ((_, id), _) in top {
            let Some(id) = id else { continue };
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
            let snippet = snippets
                .as_ref()
                .map(|g| highlight(&done.text, &g.snippet(&done.text)));
            hits.push(SearchHit { done, snippet });
        }
        if !stale.is_empty() {
            s.store.reindex(&stale)?;
        }
        Ok(SearchResults { total, hits })
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
