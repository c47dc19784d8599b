//! The index's layout: its schema, how a done becomes a document, and the commit payload that
//! says which database (and how much of it) the index reflects.
//!
//! Invariant: an index is served only if its payload names this layout ([`INDEX_VERSION`]), this
//! database ([`Fingerprint::generation`] and id floor) and a point of the change log no older
//! than what sled already considers indexed. Anything else (an index copied from another data
//! directory, left over from before a restore, older than the change log's pruning, or from a
//! rebuild that did not finish) is thrown away and rebuilt.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{IndexSettings, IndexSortByField, Order, TantivyDocument};

use super::analysis::ANALYZER;
use crate::{Done, DoneKind, TeamId};

/// The layout of the index and of its analysis. Changing either changes this, and every index
/// with another version is rebuilt at the next start.
pub const INDEX_VERSION: &str = "donebot-search-3";

/// Registers the analyzers the schema names on `index`.
pub(crate) fn register_analyzers(index: &tantivy::Index) {
    index
        .tokenizers()
        .register(ANALYZER, super::analysis::analyzer());
}

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub id: Field,
    pub team: Field,
    pub member: Field,
    pub day: Field,
    /// The words, with frequencies and positions (BM25, phrases, and prefixes: see
    /// [`super::prefix`]).
    pub text: Field,
    pub tag: Field,
    pub kind: Field,
}

/// The documents: one per done that is not deleted. Nothing is stored: hits are read back from
/// sled by id (a fast field), so the index never serves stale text.
pub(crate) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    // Only "which documents": no frequencies, positions or norms (filters do not score).
    let basic = |tokenizer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        )
    };
    // `team` is indexed for the filter every query has (and a column: the index is sorted by
    // it); `id` is only a column (hits are read back by it; deletes find it there, see
    // `super::ids`), and `member` and `day` filter through their columns (a range over a fast
    // field), which costs no postings.
    let fast = NumericOptions::default().set_fast();
    let fields = Fields {
        id: b.add_u64_field(ID, fast.clone()),
        team: b.add_u64_field(TEAM, fast.clone().set_indexed()),
        member: b.add_u64_field("member", fast.clone()),
        day: b.add_u64_field("day", fast),
        text: b.add_text_field("text", text),
        tag: b.add_text_field("tag", basic("raw")),
        kind: b.add_text_field("kind", basic("raw")),
    };
    (b.build(), fields)
}

/// The name of the team field, the index's sort key.
const TEAM: &str = "team";
/// The name of the done id's column.
pub(crate) const ID: &str = "id";

/// Every segment is sorted by team, so a team's documents are one range of doc ids in each: a
/// query (always within one team) reads only that range of each word's postings (see
/// [`super::prefix`]). Nothing is stored: the document store holds empty records, which
/// compression only makes larger (LZ4: 4.8 MiB instead of 4.0 for a million dones).
pub(crate) fn settings() -> IndexSettings {
    IndexSettings {
        sort_by_field: Some(IndexSortByField {
            field: TEAM.to_owned(),
            order: Order::Asc,
        }),
        docstore_compression: tantivy::store::Compressor::None,
        ..IndexSettings::default()
    }
}

/// Days since the common era, the `day` field's value.
pub(crate) fn day_value(day: NaiveDate) -> u64 {
    use chrono::Datelike;
    u64::try_from(day.num_days_from_ce()).unwrap_or(0)
}

pub(crate) fn normalize_tag(tag: &str) -> String {
    tag.trim().trim_start_matches('#').to_lowercase()
}

/// What a document is made of; [`Done`] gives one, and so does a benchmark's generator.
pub struct DocFields<'a> {
    pub id: u64,
    pub team: TeamId,
    pub member: u64,
    pub day: NaiveDate,
    pub text: &'a str,
    pub tags: &'a [String],
    pub kind: DoneKind,
}

impl<'a> From<&'a Done> for DocFields<'a> {
    fn from(d: &'a Done) -> Self {
        DocFields {
            id: d.id,
            team: d.team_id,
            member: d.member_id,
            day: d.day,
            text: &d.text,
            tags: &d.tags,
            kind: d.kind,
        }
    }
}

/// The document of a done (analyzed by the index writer's threads).
pub(crate) fn document(f: &Fields, d: DocFields<'_>) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_u64(f.id, d.id);
    doc.add_u64(f.team, d.team);
    doc.add_u64(f.member, d.member);
    doc.add_u64(f.day, day_value(d.day));
    doc.add_text(f.text, d.text);
    for tag in d.tags {
        doc.add_text(f.tag, normalize_tag(tag));
    }
    doc.add_text(f.kind, d.kind.as_str());
    doc
}

/// Which database an index reflects, and up to where; written as the payload of every commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    pub version: String,
    /// A random id kept in sled's `meta` (`search.generation`), new for every data directory and
    /// every `donebot reindex`.
    pub generation: String,
    /// The database's id floor, which every restore raises (see `backup`): an index from before
    /// a restore does not match the restored database.
    pub id_floor: u64,
    /// Every change-log entry up to this sequence that sled has pruned is in the index.
    pub seq: u64,
}

impl Fingerprint {
    pub fn payload(&self) -> String {
        serde_json::to_string(self).expect("a fingerprint serializes")
    }

    pub fn parse(payload: Option<&str>) -> Option<Fingerprint> {
        serde_json::from_str(payload?).ok()
    }
}
