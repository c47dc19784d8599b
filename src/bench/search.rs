//! `donebot bench search`: the search index at scale, against SQLite FTS5 on the same data.
//!
//! It generates N dones (a Zipf-distributed vocabulary of English-like words, 3 to 20 words a
//! done, spread over many teams and two years) into a TSV file, plus a file of queries (one
//! word, two words, a prefix, a phrase taken from a real done; each within one team). Then:
//! - donebot: reads the file and indexes it straight into a tantivy index with the server's
//!   schema, analyzer and documents ([`storage::search::bulk`]) — not through sled and the change
//!   log, which a bulk load of millions would not use either — with a bulk-sized writer; then
//!   runs every query through the server's query code (top 20 by rank, and the total count);
//! - the peer: `scripts/bench-search.py` (embedded here) indexes the same file into SQLite FTS5
//!   through Python's sqlite3 and runs the same queries (`team:tN AND (words) ORDER BY rank
//!   LIMIT 20`).
//!
//! It owns only the generated files, in `--data DIR` (kept) or a temporary directory (removed).

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use storage::search::bulk::BulkIndex;
use storage::search::{DocFields, analyzer};
use storage::{DoneKind, SearchQuery};

/// The FTS5 peer, written next to the generated data and run with `python3`.
const PEER_SCRIPT: &str = include_str!("../../scripts/bench-search.py");
/// Query kinds, in report order.
const KINDS: [&str; 4] = ["one word", "two words", "prefix", "phrase"];

pub struct Options {
    pub dones: u64,
    pub teams: u64,
    pub vocabulary: usize,
    /// Queries of each kind.
    pub queries: usize,
    pub threads: usize,
    /// The writer's memory arena, in MiB.
    pub arena_mib: usize,
    /// Skip the FTS5 peer.
    pub no_peer: bool,
    pub data: Option<PathBuf>,
}

/// A deterministic generator (SplitMix64): the same seed gives the same corpus everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// English-like words, most frequent first, with a Zipf (s = 1) distribution over them.
struct Vocabulary {
    words: Vec<String>,
    /// Cumulative probabilities.
    cdf: Vec<f64>,
}

impl Vocabulary {
    fn new(size: usize, rng: &mut Rng) -> Vocabulary {
        const ONSETS: [&str; 24] = [
            "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
            "br", "ch", "cl", "dr", "pl", "st", "tr",
        ];
        const NUCLEI: [&str; 8] = ["a", "e", "i", "o", "u", "ea", "ou", "ai"];
        const CODAS: [&str; 10] = ["", "", "", "n", "r", "s", "t", "ng", "ck", "ll"];
        let mut seen = std::collections::HashSet::new();
        let mut words = Vec::with_capacity(size);
        while words.len() < size {
            // Short words are common, long ones rare (as in English): syllables grow with rank.
            let rank = words.len() as f64 / size as f64;
            let syllables = 1 + (rank * 3.0 + rng.unit()) as usize;
            let mut w = String::new();
            for _ in 0..syllables {
                w.push_str(ONSETS[rng.below(ONSETS.len() as u64) as usize]);
                w.push_str(NUCLEI[rng.below(NUCLEI.len() as u64) as usize]);
                w.push_str(CODAS[rng.below(CODAS.len() as u64) as usize]);
            }
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let weights: Vec<f64> = (1..=size).map(|r| 1.0 / r as f64).collect();
        let sum: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / sum;
                acc
            })
            .collect();
        Vocabulary { words, cdf }
    }

    fn draw(&self, rng: &mut Rng) -> &str {
        let u = rng.unit();
        let i = self
            .cdf
            .partition_point(|&c| c < u)
            .min(self.words.len() - 1);
        &self.words[i]
    }
}

/// The first day of the generated two years.
fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 12, 1).expect("a valid date")
}

/// Writes `dones.tsv` (id, team, day, text) and `queries.tsv` (kind, team, words).
fn generate(o: &Options, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf, u64)> {
    let mut rng = Rng(0x5eed_d0e5);
    let vocabulary = Vocabulary::new(o.vocabulary, &mut rng);
    let dones_path = dir.join("dones.tsv");
    let queries_path = dir.join("queries.tsv");
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&dones_path)?);
    let mut queries = BufWriter::new(std::fs::File::create(&queries_path)?);
    // Phrases come from real dones, spread evenly over the corpus.
    let phrase_every = (o.dones / o.queries as u64).max(1);
    let mut phrases = 0;
    let mut bytes = 0u64;
    let mut text = String::with_capacity(256);
    let mut words: Vec<&str> = Vec::with_capacity(20);
    for id in 1..=o.dones {
        let team = 1 + rng.below(o.teams);
        // Dones are written in time order: 730 days over the run.
        let day = (id - 1) * 730 / o.dones;
        // 3 to 20 words, mostly short (the smaller of two uniform draws): about 8 on average.
        let n = 3 + rng.below(18).min(rng.below(18));
        words.clear();
        for _ in 0..n {
            words.push(vocabulary.draw(&mut rng));
        }
        text.clear();
        text.push_str(&words.join(" "));
        writeln!(out, "{id}\t{team}\t{day}\t{text}")?;
        bytes += text.len() as u64;
        if id % phrase_every == 0 && phrases < o.queries {
            let i = rng.below(n - 1) as usize;
            writeln!(queries, "phrase\t{team}\t\"{} {}\"", words[i], words[i + 1])?;
            phrases += 1;
        }
    }
    out.flush()?;
    for _ in 0..o.queries {
        let team = 1 + rng.below(o.teams);
        writeln!(queries, "one word\t{team}\t{}", vocabulary.draw(&mut rng))?;
        let team = 1 + rng.below(o.teams);
        let (a, b) = (vocabulary.draw(&mut rng), vocabulary.draw(&mut rng));
        writeln!(queries, "two words\t{team}\t{a} {b}")?;
        let team = 1 + rng.below(o.teams);
        let w = vocabulary.draw(&mut rng);
        let cut = w.char_indices().nth(3).map_or(w.len(), |(i, _)| i);
        writeln!(queries, "prefix\t{team}\t{}*", &w[..cut])?;
    }
    queries.flush()?;
    Ok((dones_path, queries_path, bytes))
}

struct Line<'a> {
    id: u64,
    team: u64,
    day: u64,
    text: &'a str,
}

fn parse_line(line: &str) -> Option<Line<'_>> {
    let mut parts = line.splitn(4, '\t');
    Some(Line {
        id: parts.next()?.parse().ok()?,
        team: parts.next()?.parse().ok()?,
        day: parts.next()?.parse().ok()?,
        text: parts.next()?,
    })
}

/// Indexes the byte range `[from, to)` of the dones file (whole lines starting in it).
fn index_part(index: &BulkIndex, path: &Path, from: u64, to: u64) -> anyhow::Result<u64> {
    let mut file = std::fs::File::open(path)?;
    file.seek(std::io::SeekFrom::Start(from))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut at = from;
    let mut line = String::new();
    if from > 0 {
        // The line under way belongs to the previous part.
        at += reader.read_line(&mut line)? as u64;
    }
    let mut n = 0;
    let no_tags: [String; 0] = [];
    while at < to {
        line.clear();
        let read = reader.read_line(&mut line)?;
        if read == 0 {
            break;
        }
        at += read as u64;
        let l = parse_line(line.trim_end_matches('\n'))
            .with_context(|| format!("bad line in {}: {line:?}", path.display()))?;
        index.add(DocFields {
            id: l.id,
            team: l.team,
            member: l.team * 16 + l.id % 8,
            day: first_day() + chrono::Days::new(l.day),
            text: l.text,
            tags: &no_tags,
            kind: DoneKind::Done,
        })?;
        n += 1;
    }
    Ok(n)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((p / 100.0 * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1);
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn run(o: Options) -> anyhow::Result<String> {
    if o.dones < 2 || o.teams == 0 || o.vocabulary < 10 || o.queries == 0 || o.threads == 0 {
        bail!("--dones must be at least 2, --vocabulary at least 10, the others at least 1");
    }
    if o.arena_mib < 15 * o.threads {
        bail!("--arena-mib must be at least 15 per thread (tantivy's minimum)");
    }
    let (dir, temporary) = match &o.data {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            (d.clone(), false)
        }
        None => (super::temp_dir("search")?, true),
    };
    let result = run_in(&o, &dir);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run_in(o: &Options, dir: &Path) -> anyhow::Result<String> {
    let mut report = Vec::new();
    let started = Instant::now();
    let (dones_path, queries_path, text_bytes) = generate(o, dir)?;
    report.push(format!(
        "generated {} dones ({:.0} MiB of text, {} teams, {} words in the vocabulary) in {:.1} s",
        o.dones,
        mib(text_bytes),
        o.teams,
        o.vocabulary,
        started.elapsed().as_secs_f64()
    ));

    // --- donebot's index
    let index_dir = dir.join("tantivy");
    let _ = std::fs::remove_dir_all(&index_dir);
    std::fs::create_dir_all(&index_dir)?;
    let started = Instant::now();
    let index = BulkIndex::create(&index_dir, o.threads, o.arena_mib << 20)?;
    let len = std::fs::metadata(&dones_path)?.len();
    // Reading and parsing the file is a small part of the work; one reader leaves the cores to
    // the writer's threads.
    let parts = 1;
    let indexed: u64 = std::thread::scope(|s| -> anyhow::Result<u64> {
        let handles: Vec<_> = (0..parts)
            .map(|p| {
                let (index, path) = (&index, &dones_path);
                s.spawn(move || index_part(index, path, len * p / parts, len * (p + 1) / parts))
            })
            .collect();
        let mut n = 0;
        for h in handles {
            n += h
                .join()
                .map_err(|_| anyhow::anyhow!("an indexing thread panicked"))??;
        }
        Ok(n)
    })?;
    let added = started.elapsed();
    let searcher = index.finish()?;
    let took = started.elapsed();
    let size = dir_size(&index_dir);
    if indexed != o.dones {
        bail!("indexed {indexed} dones of {}", o.dones);
    }

    // --- donebot's queries
    let queries: Vec<(String, u64, String)> = std::fs::read_to_string(&queries_path)?
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, '\t');
            Some((
                p.next()?.to_owned(),
                p.next()?.parse().ok()?,
                p.next()?.to_owned(),
            ))
        })
        .collect();
    let mut latencies: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut hits: BTreeMap<&str, usize> = BTreeMap::new();
    let mut analyzer = analyzer();
    for (kind, team, words) in &queries {
        let q = SearchQuery::team(*team).words(words.as_str());
        let t0 = Instant::now();
        let (_, ids) = searcher.query(&mut analyzer, &q)?;
        let took = t0.elapsed();
        let kind = KINDS
            .iter()
            .find(|k| **k == kind.as_str())
            .copied()
            .unwrap_or("other");
        latencies.entry(kind).or_default().push(took);
        *hits.entry(kind).or_default() += ids.len();
    }

    // --- the peer
    let peer = if o.no_peer {
        None
    } else {
        let script = dir.join("bench-search.py");
        std::fs::write(&script, PEER_SCRIPT)?;
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(&dones_path)
            .arg(&queries_path)
            .arg(dir.join("fts5.db"))
            .output()
            .context("cannot run python3 (needed for the SQLite FTS5 peer; --no-peer skips it)")?;
        let _ = std::fs::remove_file(dir.join("fts5.db"));
        if !out.status.success() {
            bail!(
                "the FTS5 peer failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Some(
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .context("the FTS5 peer's report")?,
        )
    };

    report.push(format!(
        "donebot (tantivy, {} indexing threads, {} MiB arena): {} dones indexed in {:.1} s ({:.1} s adding, the rest committing and merging) = {:.0} dones/s; index {:.0} MiB in {} segments",
        o.threads,
        o.arena_mib,
        indexed,
        took.as_secs_f64(),
        added.as_secs_f64(),
        super::rate(indexed, took),
        mib(size),
        searcher.segments(),
    ));
    let parts: Vec<String> = searcher
        .space_usage()?
        .into_iter()
        .map(|(part, bytes)| format!("{part} {:.1}", mib(bytes)))
        .collect();
    report.push(format!(
        "donebot's index by part (MiB): {}",
        parts.join(", ")
    ));
    if let Some(p) = &peer {
        report.push(format!(
            "SQLite FTS5 {} (Python sqlite3): {} dones indexed in {:.1} s (inserts {:.1} s, optimize the rest) = {:.0} dones/s; index {:.0} MiB",
            p["sqlite"].as_str().unwrap_or("?"),
            p["dones"],
            p["index_seconds"].as_f64().unwrap_or(0.0),
            p["insert_seconds"].as_f64().unwrap_or(0.0),
            p["dones_per_second"].as_f64().unwrap_or(0.0),
            mib(p["index_bytes"].as_u64().unwrap_or(0)),
        ));
    }
    report.push(format!(
        "{:<10} {:>7} {:>12} {:>12} {:>12} {:>12} {:>9}",
        "query", "n", "donebot p50", "donebot p99", "FTS5 p50", "FTS5 p99", "hits/q"
    ));
    for kind in KINDS {
        let mut l = latencies.remove(kind).unwrap_or_default();
        l.sort_unstable();
        let peer_q = peer.as_ref().map(|p| &p["queries"][kind]);
        let peer_ms = |key: &str| {
            peer_q
                .and_then(|q| q[key].as_f64())
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.3} ms"))
        };
        report.push(format!(
            "{:<10} {:>7} {:>9.3} ms {:>9.3} ms {:>12} {:>12} {:>9.1}",
            kind,
            l.len(),
            ms(percentile(&l, 50.0)),
            ms(percentile(&l, 99.0)),
            peer_ms("p50_ms"),
            peer_ms("p99_ms"),
            hits.get(kind).copied().unwrap_or(0) as f64 / l.len().max(1) as f64,
        ));
    }
    report.push(super::rss_line(super::peak_rss_kib()));
    Ok(report.join("\n"))
}
