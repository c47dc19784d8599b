//! Collecting a page of hits in rank order, with the segments' columns opened once.
//!
//! Hits are ordered by score (when the query has words), then newest day first, then newest
//! id: the `day` and `id` columns of every segment are read for every match. tantivy's
//! `TopDocs` opens those columns again for each query, and opening a column of the
//! block-wise linear kind (what the `day` and `id` of an index sorted by team become) reads a
//! header for every 512 documents: at 10 million dones that was most of a query's time (0.8 ms
//! of a one-word query). Segments never change, so [`Columns`] keeps each segment's open
//! columns for as long as the segment is searched.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::index::SegmentId;
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

/// The open `day` and `id` columns of the segments being searched.
#[derive(Default)]
pub(crate) struct Columns {
    open: Mutex<HashMap<SegmentId, SegmentColumns>>,
}

#[derive(Clone)]
pub(crate) struct SegmentColumns {
    day: Column<u64>,
    id: Column<u64>,
}

impl Columns {
    /// The columns of `reader`'s segment, opened at its first query.
    fn of(&self, reader: &SegmentReader) -> tantivy::Result<SegmentColumns> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = open.get(&reader.segment_id()) {
            return Ok(c.clone());
        }
        let fast = reader.fast_fields();
        let c = SegmentColumns {
            day: fast.u64("day")?,
            id: fast.u64("id")?,
        };
        open.insert(reader.segment_id(), c.clone());
        Ok(c)
    }

    /// Forgets the columns of segments `searcher` no longer has (merged away).
    pub fn retain(&self, searcher: &Searcher) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() > searcher.segment_readers().len() {
            open.retain(|id, _| {
                searcher
                    .segment_readers()
                    .iter()
                    .any(|r| r.segment_id() == *id)
            });
        }
    }
}

/// What a hit is ranked by, best first when compared greatest first.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rank {
    score: Score,
    day: u64,
    id: u64,
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(self.day.cmp(&other.day))
            .then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Rank {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Rank {}

/// The number of matches, and the page `[offset, offset + limit)` of them in rank order as
/// `(id, score)` (the score `None` when the query has no words to score).
pub(crate) struct Ranked<'a> {
    pub columns: &'a Columns,
    pub offset: usize,
    pub limit: usize,
    pub by_score: bool,
}

impl Collector for Ranked<'_> {
    type Fruit = (usize, Vec<(u64, Option<Score>)>);
    type Child = SegmentRanked;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        Ok(SegmentRanked {
            columns: self.columns.of(reader)?,
            keep: self.offset + self.limit,
            by_score: self.by_score,
            best: BinaryHeap::with_capacity(self.offset + self.limit + 1),
            count: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        self.by_score
    }

    fn merge_fruits(&self, fruits: Vec<(usize, Vec<Rank>)>) -> tantivy::Result<Self::Fruit> {
        let count = fruits.iter().map(|(n, _)| n).sum();
        let mut all: Vec<Rank> = fruits.into_iter().flat_map(|(_, best)| best).collect();
        all.sort_unstable_by(|a, b| b.cmp(a));
        let page = all
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .map(|r| (r.id, self.by_score.then_some(r.score)))
            .collect();
        Ok((count, page))
    }
}

/// One segment's matches: counted, and the best `keep` of them kept.
pub(crate) struct SegmentRanked {
    columns: SegmentColumns,
    keep: usize,
    by_score: bool,
    /// The worst kept hit on top.
    best: BinaryHeap<Reverse<Rank>>,
    count: usize,
}

impl SegmentCollector for SegmentRanked {
    type Fruit = (usize, Vec<Rank>);

    fn collect(&mut self, doc: DocId, score: Score) {
        self.count += 1;
        // Every document has an id (see `index::document`); one without could not be shown.
        let Some(id) = self.columns.id.first(doc) else {
            return;
        };
        let rank = Rank {
            score: if self.by_score { score } else { 0.0 },
            day: self.columns.day.first(doc).unwrap_or(0),
            id,
        };
        if self.best.len() < self.keep {
            self.best.push(Reverse(rank));
        } else if let Some(mut worst) = self.best.peek_mut()
            && rank > worst.0
        {
            *worst = Reverse(rank);
        }
    }

    fn harvest(self) -> Self::Fruit {
        (
            self.count,
            self.best.into_iter().map(|Reverse(r)| r).collect(),
        )
    }
}
