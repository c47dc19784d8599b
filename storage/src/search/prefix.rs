//! A prefix (`bri*`) within one team, read only where the team's documents are.
//!
//! tantivy's own term-range query reads every matching word's postings over the whole segment,
//! every team's documents included: for a common prefix in a big index, millions of documents
//! to find a team's few hundred. The index is sorted by team instead (see
//! [`super::index::settings`]), so in every segment a team's documents are one range of doc
//! ids: [`TeamPrefixQuery`] finds that range from the team's postings, then seeks each word
//! with the prefix to the range's start and reads it to the range's end. The cost is a skip per
//! word plus the team's own matches.
//!
//! Invariant kept regardless of the sorting: a segment whose team documents are not contiguous
//! (an index written without the sort) still answers exactly, with the team's documents as a
//! mask over their span; only slower.

use tantivy::query::{ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError, Term};

/// The documents of `team` with a word of `text` that starts with `prefix` (already analyzed:
/// lower-cased and folded like the words). Scores a constant, the boost: BM25 is for whole
/// words.
#[derive(Clone, Debug)]
pub(crate) struct TeamPrefixQuery {
    text: Field,
    team: Term,
    prefix: String,
}

impl TeamPrefixQuery {
    pub fn new(text: Field, team: Term, prefix: &str) -> TeamPrefixQuery {
        TeamPrefixQuery {
            text,
            team,
            prefix: prefix.to_owned(),
        }
    }

    /// The matching documents of one segment.
    fn matches(&self, reader: &SegmentReader) -> tantivy::Result<SpanBitSet> {
        let Some(span) = TeamSpan::of(reader, &self.team)? else {
            return Ok(SpanBitSet::empty());
        };
        let mut found = SpanBitSet::new(span.first, span.last);
        let text = reader.inverted_index(self.text)?;
        let mut words = text
            .terms()
            .range()
            .ge(self.prefix.as_bytes())
            .into_stream()?;
        while words.advance() {
            if !words.key().starts_with(self.prefix.as_bytes()) {
                break;
            }
            let mut postings =
                text.read_postings_from_terminfo(words.value(), IndexRecordOption::Basic)?;
            // (tantivy's `seek` wants a target at or past the current document.)
            let mut doc = postings.doc();
            if doc < span.first {
                doc = postings.seek(span.first);
            }
            while doc <= span.last {
                if span.contains(doc) {
                    found.insert(doc);
                }
                doc = postings.advance();
            }
        }
        Ok(found.start())
    }
}

impl Query for TeamPrefixQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(TeamPrefixWeight(self.clone())))
    }
}

struct TeamPrefixWeight(TeamPrefixQuery);

impl Weight for TeamPrefixWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(ConstScorer::new(self.0.matches(reader)?, boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.0.matches(reader)?.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!(
                "document {doc} does not match {:?}",
                self.0
            )));
        }
        Ok(Explanation::new("TeamPrefixQuery", 1.0))
    }
}

/// Where one team's documents are in a segment: `[first, last]`, and if they are not all of
/// that span, which ones.
struct TeamSpan {
    first: DocId,
    last: DocId,
    /// `None`: every document of the span is the team's (the sorted index's case).
    mask: Option<SpanBitSet>,
}

impl TeamSpan {
    fn of(reader: &SegmentReader, team: &Term) -> tantivy::Result<Option<TeamSpan>> {
        let index = reader.inverted_index(team.field())?;
        let Some(mut docs) = index.read_postings(team, IndexRecordOption::Basic)? else {
            return Ok(None);
        };
        let first = docs.doc();
        if first == TERMINATED {
            return Ok(None);
        }
        // Postings are strictly increasing from `first`: they fill `[first, first + n - 1]`
        // exactly when the document there is the last one.
        let last = first + docs.doc_freq() - 1;
        if docs.seek(last) == last && docs.advance() == TERMINATED {
            return Ok(Some(TeamSpan {
                first,
                last,
                mask: None,
            }));
        }
        let mut all = Vec::with_capacity(docs.doc_freq() as usize);
        let mut docs = index
            .read_postings(team, IndexRecordOption::Basic)?
            .expect("the term was there a moment ago");
        while docs.doc() != TERMINATED {
            all.push(docs.doc());
            docs.advance();
        }
        let last = *all.last().expect("at least `first`");
        let mut mask = SpanBitSet::new(first, last);
        for doc in all {
            mask.insert(doc);
        }
        Ok(Some(TeamSpan {
            first,
            last,
            mask: Some(mask),
        }))
    }

    fn contains(&self, doc: DocId) -> bool {
        self.mask.as_ref().is_none_or(|m| m.contains(doc))
    }
}

/// A set of doc ids within `[base, base + 64 × words.len())`, iterated as a [`DocSet`] once
/// [`SpanBitSet::start`]ed: a bitset the size of a team's span, not of the segment.
struct SpanBitSet {
    base: DocId,
    words: Vec<u64>,
    /// The current document ([`TERMINATED`] past the end).
    doc: DocId,
    len: u32,
}

impl SpanBitSet {
    fn new(first: DocId, last: DocId) -> SpanBitSet {
        SpanBitSet {
            base: first,
            words: vec![0; (last - first) as usize / 64 + 1],
            doc: TERMINATED,
            len: 0,
        }
    }

    fn empty() -> SpanBitSet {
        SpanBitSet {
            base: 0,
            words: Vec::new(),
            doc: TERMINATED,
            len: 0,
        }
    }

    fn insert(&mut self, doc: DocId) {
        let i = (doc - self.base) as usize;
        let bit = 1u64 << (i % 64);
        let word = &mut self.words[i / 64];
        if *word & bit == 0 {
            *word |= bit;
            self.len += 1;
        }
    }

    fn contains(&self, doc: DocId) -> bool {
        let Some(i) = doc.checked_sub(self.base).map(|i| i as usize) else {
            return false;
        };
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// Positions the set on its first document.
    fn start(mut self) -> SpanBitSet {
        self.doc = self.next_from(0);
        self
    }

    /// The first document at offset `i` from `base` or later.
    fn next_from(&self, i: u32) -> DocId {
        let mut w = (i / 64) as usize;
        let Some(&word) = self.words.get(w) else {
            return TERMINATED;
        };
        let mut bits = word & (u64::MAX << (i % 64));
        loop {
            if bits != 0 {
                return self.base + (w as u32) * 64 + bits.trailing_zeros();
            }
            w += 1;
            match self.words.get(w) {
                Some(&word) => bits = word,
                None => return TERMINATED,
            }
        }
    }
}

impl DocSet for SpanBitSet {
    fn advance(&mut self) -> DocId {
        if self.doc != TERMINATED {
            self.doc = self.next_from(self.doc - self.base + 1);
        }
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc < target {
            self.doc = self.next_from(target.saturating_sub(self.base));
        }
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::DocSetCollector;
    use tantivy::{Index, IndexSettings};

    use super::super::index::{DocFields, Fields, document, register_analyzers, schema, settings};
    use super::*;
    use crate::DoneKind;

    /// The done ids a prefix finds in `team`.
    fn found(index: &Index, f: &Fields, team: u64, prefix: &str) -> Vec<u64> {
        let searcher = index.reader().unwrap().searcher();
        let q = TeamPrefixQuery::new(f.text, Term::from_field_u64(f.team, team), prefix);
        let mut ids: Vec<u64> = searcher
            .search(&q, &DocSetCollector)
            .unwrap()
            .into_iter()
            .map(|a| {
                let column = searcher.segment_reader(a.segment_ord).fast_fields();
                column.u64("id").unwrap().first(a.doc_id).unwrap()
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Teams interleaved, in two segments, one document deleted: the same answers whether the
    /// index is sorted by team (one span per team) or not (the team's documents as a mask).
    #[test]
    fn a_prefix_finds_its_teams_words_in_sorted_and_unsorted_segments() {
        for settings in [settings(), IndexSettings::default()] {
            let (schema, f) = schema();
            let index = Index::builder()
                .schema(schema)
                .settings(settings.clone())
                .create_in_ram()
                .unwrap();
            register_analyzers(&index);
            let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
            let texts = [
                "billing export",
                "billboard",
                "bill",
                "the bills",
                "invoices",
                "BILLING again",
            ];
            for (i, text) in texts.iter().enumerate() {
                for team in [1u64, 2, 3] {
                    let id = team * 100 + i as u64;
                    writer
                        .add_document(document(
                            &f,
                            DocFields {
                                id,
                                team,
                                member: 1,
                                day: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                                text,
                                tags: &[],
                                kind: DoneKind::Done,
                            },
                        ))
                        .unwrap();
                }
                if i == 2 {
                    writer.commit().unwrap();
                }
            }
            let gone = super::super::ids::IdSetQuery::new([205]).unwrap();
            writer.delete_query(Box::new(gone)).unwrap();
            writer.commit().unwrap();
            let sorted = settings.sort_by_field.is_some();
            assert_eq!(
                found(&index, &f, 2, "bill"),
                [200, 201, 202, 203],
                "sorted: {sorted}"
            );
            assert_eq!(
                found(&index, &f, 1, "billi"),
                [100, 105],
                "sorted: {sorted}"
            );
            assert_eq!(found(&index, &f, 3, "inv"), [304], "sorted: {sorted}");
            assert!(found(&index, &f, 3, "x").is_empty());
            assert!(found(&index, &f, 9, "bill").is_empty(), "no such team");
        }
    }

    fn docs(mut set: SpanBitSet) -> Vec<DocId> {
        let mut out = Vec::new();
        while set.doc() != TERMINATED {
            out.push(set.doc());
            set.advance();
        }
        out
    }

    #[test]
    fn a_span_bitset_iterates_and_seeks_across_words() {
        let mut set = SpanBitSet::new(1000, 1300);
        for doc in [1000, 1063, 1064, 1200, 1300] {
            set.insert(doc);
        }
        set.insert(1064);
        assert_eq!(set.size_hint(), 5);
        assert!(set.contains(1063) && !set.contains(999) && !set.contains(1301));
        assert_eq!(docs(set.start()), [1000, 1063, 1064, 1200, 1300]);

        let mut set = SpanBitSet::new(1000, 1300);
        set.insert(1100);
        set.insert(1290);
        let mut set = set.start();
        assert_eq!(set.seek(5), 1100);
        assert_eq!(set.seek(1101), 1290);
        assert_eq!(set.seek(1291), TERMINATED);
        assert_eq!(docs(SpanBitSet::empty().start()), Vec::<DocId>::new());
    }
}
