//! Deleting documents by done id through the `id` column, not through postings.
//!
//! Indexing `id` as a term would cost every done a unique term: at 10 million dones, 53 MiB of
//! the index (a sixth) and a term-table insertion per done, for the one thing a term is needed
//! for, deleting the document of a done that changed. Changes are rare next to new dones, and
//! new dones need no delete (see `Indexer::indexed_below`); [`IdSetQuery`] finds the documents
//! of a batch's changed dones with one pass over each segment's `id` column instead, at the
//! commit that applies it.

use std::collections::HashSet;
use std::sync::Arc;

use tantivy::columnar::Cardinality;
use tantivy::query::{
    BitSetDocSet, ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::{BitSet, DocId, Score, SegmentReader, TantivyError};

/// The documents whose `id` is one of a set.
#[derive(Clone, Debug)]
pub(crate) struct IdSetQuery {
    ids: Arc<HashSet<u64>>,
    min: u64,
    max: u64,
}

/// Values read from a column at a time.
const CHUNK: usize = 1024;

impl IdSetQuery {
    /// `None` if `ids` is empty.
    pub fn new(ids: impl IntoIterator<Item = u64>) -> Option<IdSetQuery> {
        let ids: HashSet<u64> = ids.into_iter().collect();
        Some(IdSetQuery {
            min: *ids.iter().min()?,
            max: *ids.iter().max()?,
            ids: Arc::new(ids),
        })
    }

    fn matches(&self, reader: &SegmentReader) -> tantivy::Result<BitSet> {
        let max_doc = reader.max_doc();
        let mut found = BitSet::with_max_value(max_doc);
        let column = reader.fast_fields().u64(super::index::ID)?;
        if max_doc == 0 || self.max < column.min_value() || self.min > column.max_value() {
            return Ok(found);
        }
        let wanted = |v: u64| (self.min..=self.max).contains(&v) && self.ids.contains(&v);
        if column.get_cardinality() == Cardinality::Full {
            // Every document has exactly one id: the column's values are the documents'.
            let mut values = [0u64; CHUNK];
            for start in (0..max_doc).step_by(CHUNK) {
                let n = (max_doc - start).min(CHUNK as u32) as usize;
                column.values.get_range(u64::from(start), &mut values[..n]);
                for (i, &v) in values[..n].iter().enumerate() {
                    if wanted(v) {
                        found.insert(start + i as DocId);
                    }
                }
            }
        } else {
            for doc in 0..max_doc {
                if column.first(doc).is_some_and(wanted) {
                    found.insert(doc);
                }
            }
        }
        Ok(found)
    }
}

impl Query for IdSetQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(IdSetWeight(self.clone())))
    }
}

struct IdSetWeight(IdSetQuery);

impl Weight for IdSetWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let docs = BitSetDocSet::from(self.0.matches(reader)?);
        Ok(Box::new(ConstScorer::new(docs, boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if !self.0.matches(reader)?.contains(doc) {
            return Err(TantivyError::InvalidArgument(format!(
                "document {doc} has none of the ids"
            )));
        }
        Ok(Explanation::new("IdSetQuery", 1.0))
    }
}
