//! Building and querying a search index outside a [`crate::Store`], for `donebot bench search`:
//! the same schema, analyzer, documents and query code as the server's index, with the writer
//! sized for a bulk load (more threads, a bigger arena) and no sled behind it (hits are done
//! ids, not dones).

use std::collections::BTreeMap;
use std::path::Path;

use tantivy::indexer::LogMergePolicy;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy};

use super::index::{DocFields, Fields, document, register_analyzers, schema, settings};
use super::rank::Columns;
use super::{SearchError, SearchQuery, find};

/// A new index being filled.
pub struct BulkIndex {
    index: Index,
    writer: IndexWriter,
    fields: Fields,
}

impl BulkIndex {
    /// Creates an empty index in `dir` (which must be empty) with `threads` indexing threads
    /// sharing `arena_bytes` of memory.
    pub fn create(
        dir: &Path,
        threads: usize,
        arena_bytes: usize,
    ) -> Result<BulkIndex, SearchError> {
        let (schema, fields) = schema();
        let index = Index::builder()
            .schema(schema)
            .settings(settings())
            .create_in_dir(dir)?;
        register_analyzers(&index);
        let writer = index.writer_with_num_threads(threads, arena_bytes)?;
        // Fewer, larger segments than the default: a query visits every segment.
        let mut merge = LogMergePolicy::default();
        merge.set_min_num_segments(4);
        writer.set_merge_policy(Box::new(merge));
        Ok(BulkIndex {
            index,
            writer,
            fields,
        })
    }

    /// Adds one document (analyzed and indexed by the writer's threads). Callable from several
    /// threads at once.
    pub fn add(&self, d: DocFields<'_>) -> Result<(), SearchError> {
        self.writer.add_document(document(&self.fields, d))?;
        Ok(())
    }

    /// Commits and waits for the merges to finish; returns a searcher over the result.
    pub fn finish(mut self) -> Result<BulkSearcher, SearchError> {
        self.writer.commit()?;
        self.writer.wait_merging_threads()?;
        let reader = self
            .index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(BulkSearcher {
            _index: self.index,
            reader,
            fields: self.fields,
            columns: Columns::default(),
        })
    }
}

/// Queries a finished [`BulkIndex`] exactly as [`super::Search::query`] does.
pub struct BulkSearcher {
    _index: Index,
    reader: IndexReader,
    fields: Fields,
    columns: Columns,
}

impl BulkSearcher {
    /// The number of matching documents and the done ids of the page asked for.
    pub fn query(
        &self,
        analyzer: &mut TextAnalyzer,
        q: &SearchQuery,
    ) -> Result<(usize, Vec<u64>), SearchError> {
        let found = find(
            &self.reader.searcher(),
            &self.columns,
            &self.fields,
            analyzer,
            q,
        )?;
        Ok((
            found.total,
            found.top.into_iter().map(|(id, _)| id).collect(),
        ))
    }

    /// How many segments the index has (each is visited by every query).
    pub fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// Where the index's bytes go, largest first: each field's term dictionary, postings,
    /// positions, column and norms, then the document store and the deletes.
    pub fn space_usage(&self) -> Result<Vec<(String, u64)>, SearchError> {
        let usage = self
            .reader
            .searcher()
            .space_usage()
            .map_err(tantivy::TantivyError::from)?;
        let mut parts: BTreeMap<String, u64> = BTreeMap::new();
        for s in usage.segments() {
            for (part, per_field) in [
                ("terms", s.termdict()),
                ("postings", s.postings()),
                ("positions", s.positions()),
                ("column", s.fast_fields()),
                ("norms", s.fieldnorms()),
            ] {
                for f in per_field.fields() {
                    *parts
                        .entry(format!("{part} of {}", f.field_name()))
                        .or_default() += f.total().get_bytes();
                }
            }
            *parts.entry("document store".to_owned()).or_default() += s.store().total().get_bytes();
            *parts.entry("deletes".to_owned()).or_default() += s.deletes().get_bytes();
        }
        let mut parts: Vec<(String, u64)> = parts.into_iter().filter(|(_, n)| *n > 0).collect();
        parts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        Ok(parts)
    }
}
