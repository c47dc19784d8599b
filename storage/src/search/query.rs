//! The query language of the search box, and what it becomes: a tantivy query, the ranges of a
//! done's text to highlight, and the cursor of the next page.
//!
//! The language, on purpose small and forgiving (a search box is not a place for syntax errors):
//! - `word`: every word must match (BM25 ranks the results);
//! - `"a phrase"`: these words, adjacent and in order;
//! - `word*` (also `"a phr"*`): a word starting with this;
//! - `-word`, `-"a phrase"`: without it;
//! - `a OR b` (upper case): either;
//! - `tag:x`, `kind:goal|done|blocker`: filters.
//!
//! Anything else is a word: `re:billing` looks for `re` and `billing`. Only an unclosed quote,
//! an `OR` without a word on each side, or an unknown kind is an error.
//!
//! A word is analyzed like the text it is looked for in (see [`super::analysis`]): a word that
//! becomes several tokens (`e-mail`, `ประชุม`, `会议`) is a phrase of them.

use std::ops::Range;

use tantivy::Term;
use tantivy::query::{BooleanQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::{TextAnalyzer, Token};

use super::analysis::tokens;
use super::index::{Fields, normalize_tag};
use super::prefix::TeamPrefixQuery;
use super::{MAX_OFFSET, SearchError};
use crate::{DoneKind, TeamId};

/// How many words a prefix may expand to inside a phrase (`"a phr"*`); a bare `word*` has no
/// such limit (it reads only the team's range of each word: see [`super::prefix`]).
const PHRASE_PREFIX_EXPANSIONS: u32 = 64;
/// Words in one query at most (each is a clause to evaluate).
const MAX_UNITS: usize = 32;

/// One thing to look for: tokens in order, the last one possibly a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unit {
    pub tokens: Vec<String>,
    pub prefix: bool,
}

/// A clause: one unit, or several joined by `OR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Clause {
    pub exclude: bool,
    pub any_of: Vec<Unit>,
}

/// A query's words, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub clauses: Vec<Clause>,
    pub tags: Vec<String>,
    pub kinds: Vec<DoneKind>,
}

impl Parsed {
    /// Whether anything is looked for in the text (then results are ranked by relevance).
    pub fn has_words(&self) -> bool {
        self.clauses.iter().any(|c| !c.exclude)
    }
}

enum Item {
    Unit {
        exclude: bool,
        text: String,
        prefix: bool,
    },
    Or,
}

fn invalid(words: &str, why: &str) -> SearchError {
    SearchError::InvalidQuery(format!(
        "cannot read the search {words:?}: {why} (use words, \"a phrase\", word*, -word, a OR b, tag:x, kind:goal)"
    ))
}

/// Reads the words of a query.
pub(crate) fn parse(analyzer: &mut TextAnalyzer, words: &str) -> Result<Parsed, SearchError> {
    let mut parsed = Parsed::default();
    let mut items = Vec::new();
    let mut rest = words.trim_start();
    while !rest.is_empty() {
        let (exclude, body) = match rest.strip_prefix('-') {
            Some(b) if !b.starts_with(char::is_whitespace) && !b.is_empty() => (true, b),
            _ => (false, rest),
        };
        if let Some(quoted) = body.strip_prefix('"') {
            let Some(end) = quoted.find('"') else {
                return Err(invalid(words, "a quote is not closed"));
            };
            let after = &quoted[end + 1..];
            let prefix = after.starts_with('*');
            items.push(Item::Unit {
                exclude,
                text: quoted[..end].to_owned(),
                prefix,
            });
            rest = after.trim_start_matches('*');
        } else {
            let end = body.find(char::is_whitespace).unwrap_or(body.len());
            let word = &body[..end];
            rest = &body[end..];
            if word == "OR" && !exclude {
                items.push(Item::Or);
            } else if let Some((field, value)) = word.split_once(':')
                && !exclude
                && matches!(field.to_ascii_lowercase().as_str(), "tag" | "kind")
                && !value.is_empty()
            {
                if field.eq_ignore_ascii_case("tag") {
                    parsed.tags.push(normalize_tag(value));
                } else {
                    parsed.kinds.push(kind_named(value).ok_or_else(|| {
                        invalid(words, "the kind is one of done, goal or blocker")
                    })?);
                }
            } else {
                let prefix = word.ends_with('*');
                items.push(Item::Unit {
                    exclude,
                    text: word.trim_end_matches('*').to_owned(),
                    prefix,
                });
            }
        }
        rest = rest.trim_start();
    }

    let mut joining = false;
    for item in items {
        match item {
            Item::Or => {
                let joinable = parsed.clauses.last().is_some_and(|c| !c.exclude);
                if joining || !joinable {
                    return Err(invalid(words, "OR needs a word on each side"));
                }
                joining = true;
            }
            Item::Unit {
                exclude,
                text,
                prefix,
            } => {
                let tokens: Vec<String> = tokens(analyzer, &text)
                    .into_iter()
                    .map(|t| t.text)
                    .collect();
                if tokens.is_empty() {
                    // Punctuation only: nothing to look for (an `OR` before it still joins the
                    // next word).
                    continue;
                }
                let unit = Unit { tokens, prefix };
                if joining {
                    if exclude {
                        return Err(invalid(words, "OR needs a word on each side"));
                    }
                    let last = parsed.clauses.last_mut().expect("checked when OR was read");
                    last.any_of.push(unit);
                    joining = false;
                } else {
                    parsed.clauses.push(Clause {
                        exclude,
                        any_of: vec![unit],
                    });
                }
            }
        }
    }
    if joining {
        return Err(invalid(words, "OR needs a word on each side"));
    }
    if parsed.clauses.iter().map(|c| c.any_of.len()).sum::<usize>() > MAX_UNITS {
        return Err(invalid(words, &format!("at most {MAX_UNITS} words")));
    }
    Ok(parsed)
}

/// The tantivy query of `parsed` within `team` (the caller adds the team and other filters).
pub(crate) fn clauses(f: &Fields, team: TeamId, parsed: &Parsed) -> Vec<(Occur, Box<dyn Query>)> {
    let mut out: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for clause in &parsed.clauses {
        let occur = if clause.exclude {
            Occur::MustNot
        } else {
            Occur::Must
        };
        let mut alternatives: Vec<Box<dyn Query>> = clause
            .any_of
            .iter()
            .map(|u| unit_query(f, team, u))
            .collect();
        let q = if alternatives.len() == 1 {
            alternatives.pop().expect("one alternative")
        } else {
            Box::new(BooleanQuery::new(
                alternatives
                    .into_iter()
                    .map(|q| (Occur::Should, q))
                    .collect(),
            ))
        };
        out.push((occur, q));
    }
    for tag in &parsed.tags {
        out.push((Occur::Must, term(Term::from_field_text(f.tag, tag))));
    }
    match parsed.kinds.as_slice() {
        [] => {}
        [kind] => out.push((
            Occur::Must,
            term(Term::from_field_text(f.kind, kind.as_str())),
        )),
        kinds => out.push((
            Occur::Must,
            Box::new(BooleanQuery::new(
                kinds
                    .iter()
                    .map(|k| {
                        (
                            Occur::Should,
                            term(Term::from_field_text(f.kind, k.as_str())),
                        )
                    })
                    .collect(),
            )),
        )),
    }
    out
}

fn kind_named(name: &str) -> Option<DoneKind> {
    [DoneKind::Done, DoneKind::Goal, DoneKind::Blocker]
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(name))
}

fn term(t: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(t, IndexRecordOption::Basic))
}

fn unit_query(f: &Fields, team: TeamId, u: &Unit) -> Box<dyn Query> {
    let text_terms = || -> Vec<Term> {
        u.tokens
            .iter()
            .map(|t| Term::from_field_text(f.text, t))
            .collect()
    };
    match (u.tokens.as_slice(), u.prefix) {
        ([word], false) => Box::new(TermQuery::new(
            Term::from_field_text(f.text, word),
            IndexRecordOption::WithFreqs,
        )),
        (_, false) => Box::new(PhraseQuery::new(text_terms())),
        ([word], true) => Box::new(TeamPrefixQuery::new(
            f.text,
            Term::from_field_u64(f.team, team),
            word,
        )),
        (_, true) => {
            let mut q = PhrasePrefixQuery::new(text_terms());
            q.set_max_expansions(PHRASE_PREFIX_EXPANSIONS);
            Box::new(q)
        }
    }
}

/// The byte ranges of `text` that matched `parsed` (sorted, not overlapping): each word, phrase
/// or prefix found, from its first token's start to its last token's end.
pub(crate) fn highlights(
    analyzer: &mut TextAnalyzer,
    parsed: &Parsed,
    text: &str,
) -> Vec<Range<usize>> {
    if !parsed.has_words() {
        return Vec::new();
    }
    let found: Vec<Token> = tokens(analyzer, text);
    let mut ranges = Vec::new();
    for unit in parsed
        .clauses
        .iter()
        .filter(|c| !c.exclude)
        .flat_map(|c| &c.any_of)
    {
        let n = unit.tokens.len();
        for window in found.windows(n) {
            let adjacent = window
                .windows(2)
                .all(|p| p[1].position == p[0].position + 1);
            let matches = window
                .iter()
                .zip(&unit.tokens)
                .enumerate()
                .all(|(i, (t, w))| {
                    if unit.prefix && i == n - 1 {
                        t.text.starts_with(w.as_str())
                    } else {
                        t.text == *w
                    }
                });
            if adjacent && matches {
                ranges.push(window[0].offset_from..window[n - 1].offset_to);
            }
        }
    }
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// A page's position, handed to the client as an opaque string: the offset of the next page and
/// a fingerprint of the query it belongs to (a cursor is refused with any other query).
///
/// Pages follow the order of one index snapshot; a done written between two pages can shift the
/// next page by one (seen twice or not at all), as with any offset. The depth is bounded by
/// [`MAX_OFFSET`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub offset: usize,
    pub query: u64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{:08x}{:016x}", self.offset, self.query)
    }

    pub fn decode(s: &str, query: u64) -> Result<Cursor, SearchError> {
        let bad = |why: &str| {
            SearchError::InvalidQuery(format!("the cursor {s:?} {why}; start again without it"))
        };
        if s.len() != 24 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("is not one this server gave"));
        }
        let offset =
            usize::from_str_radix(&s[..8], 16).map_err(|_| bad("is not one this server gave"))?;
        let fingerprint =
            u64::from_str_radix(&s[8..], 16).map_err(|_| bad("is not one this server gave"))?;
        if fingerprint != query {
            return Err(bad("belongs to another search"));
        }
        if offset > MAX_OFFSET {
            return Err(bad(&format!(
                "is past the last page this server gives ({MAX_OFFSET} results)"
            )));
        }
        Ok(Cursor { offset, query })
    }
}

/// FNV-1a over the parts of a query that decide its results (not the page size): stable across
/// processes and versions, unlike `std`'s hasher.
pub(crate) fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analysis::analyzer;

    fn read(words: &str) -> Parsed {
        parse(&mut analyzer(), words).unwrap()
    }

    fn unit(tokens: &[&str], prefix: bool) -> Unit {
        Unit {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            prefix,
        }
    }

    #[test]
    fn words_phrases_prefixes_exclusions_and_or() {
        let p = read(r#"Shipped "the Café menu" bill* -draft a OR b tag:#Release kind:goal"#);
        let kinds: Vec<(bool, Vec<Unit>)> = p
            .clauses
            .iter()
            .map(|c| (c.exclude, c.any_of.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                (false, vec![unit(&["shipped"], false)]),
                (false, vec![unit(&["the", "cafe", "menu"], false)]),
                (false, vec![unit(&["bill"], true)]),
                (true, vec![unit(&["draft"], false)]),
                (false, vec![unit(&["a"], false), unit(&["b"], false)]),
            ]
        );
        assert_eq!(p.tags, ["release"]);
        assert_eq!(p.kinds, [DoneKind::Goal]);
        assert_eq!(
            read(r#""big bad wo"*"#).clauses[0].any_of,
            [unit(&["big", "bad", "wo"], true)]
        );
        assert_eq!(
            read("re:billing").clauses[0].any_of,
            [unit(&["re", "billing"], false)]
        );
        assert!(!read("-x").has_words());
        assert!(read("!!! ...").clauses.is_empty());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (bad, why) in [
            ("\"unclosed", "quote"),
            ("OR x", "OR"),
            ("x OR", "OR"),
            ("x OR -y", "OR"),
            ("kind:idea", "kind"),
        ] {
            match parse(&mut analyzer(), bad) {
                Err(SearchError::InvalidQuery(msg)) => {
                    assert!(
                        msg.contains("cannot read the search") && msg.contains(why),
                        "{bad}: {msg}"
                    )
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn highlights_cover_words_phrases_and_prefixes() {
        let text = "Shipped the café menu; billing fixed, the menu shipped";
        let p = read(r#""the cafe" bill* shipped -fixed"#);
        let h = highlights(&mut analyzer(), &p, text);
        let shown: Vec<&str> = h.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(shown, ["Shipped", "the café", "billing", "shipped"]);
        let thai = "ทีมประชุมเสร็จแล้ว";
        let p = read("ประชุม");
        let h = highlights(&mut analyzer(), &p, thai);
        assert_eq!(
            h.iter().map(|r| &thai[r.clone()]).collect::<Vec<_>>(),
            ["ประชุม"]
        );
    }

    #[test]
    fn a_cursor_belongs_to_its_query() {
        let c = Cursor {
            offset: 40,
            query: 7,
        };
        assert_eq!(Cursor::decode(&c.encode(), 7).unwrap(), c);
        for bad in [c.encode().as_str(), "zz", "", "000000280000000000000007x"] {
            assert!(
                matches!(Cursor::decode(bad, 8), Err(SearchError::InvalidQuery(_))),
                "{bad}"
            );
        }
        let deep = Cursor {
            offset: MAX_OFFSET + 1,
            query: 7,
        }
        .encode();
        assert!(Cursor::decode(&deep, 7).is_err());
        assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
    }
}
