//! The reply-trimmer corpus: real replies from seven open-source reply parsers' test suites, each
//! with the text their maintainers expect a trimmer to keep (see the corpus README).
//!
//! Runs [`trim_input`] on every case listed in `cases.tsv`, prints exact-match accuracy per source
//! folder and overall plus every failure, and fails if overall accuracy drops below [`FLOOR`].
//! The corpus is not part of this repository: it is found at `$DONEBOT_CORPUS` or
//! `../../shared/corpus/email` relative to this crate; when absent the test says so and passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bots::email::trim::trim_input;

/// Overall exact-match accuracy, in percent, below which the test fails (measured minus a margin).
const FLOOR: f64 = 96.5;

fn corpus_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DONEBOT_CORPUS") {
        return Some(PathBuf::from(dir));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/email");
    dir.join("cases.tsv").is_file().then_some(dir)
}

/// The corpus comparison rule: CRLF to LF, trailing white space stripped per line, outer blank
/// lines stripped.
fn canonical(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.split('\n').map(str::trim_end).collect();
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |p| p + 1);
    lines[start..end].join("\n")
}

#[test]
fn corpus_accuracy() {
    let Some(dir) = corpus_dir() else {
        println!("corpus: skipped (no ../../shared/corpus/email and DONEBOT_CORPUS unset)");
        return;
    };
    let cases = std::fs::read_to_string(dir.join("cases.tsv")).expect("read cases.tsv");
    let mut per_source: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for row in cases.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (input, expected) = (cols[0], cols[1]);
        let source = input.split('/').next().unwrap_or("?").to_string();
        let raw = std::fs::read(dir.join(input)).expect("read input");
        let want = std::fs::read(dir.join(expected)).expect("read expected");
        let got = match trim_input(&raw) {
            Ok(text) => canonical(&text),
            Err(e) => format!("<error: {e}>"),
        };
        let want = canonical(&String::from_utf8_lossy(&want));
        let entry = per_source.entry(source).or_default();
        entry.1 += 1;
        if got == want {
            entry.0 += 1;
        } else {
            failures.push((input.to_string(), want, got));
        }
    }
    for (name, want, got) in &failures {
        println!("FAIL {name}\n--- expected\n{want}\n--- got\n{got}\n---");
    }
    let (mut pass, mut total) = (0, 0);
    for (source, (p, t)) in &per_source {
        println!(
            "{source:40} {p:4}/{t:<4} {:6.1}%",
            100.0 * *p as f64 / *t as f64
        );
        pass += p;
        total += t;
    }
    let accuracy = 100.0 * pass as f64 / total.max(1) as f64;
    println!("{:40} {pass:4}/{total:<4} {accuracy:6.1}%", "overall");
    assert!(
        accuracy >= FLOOR,
        "corpus accuracy {accuracy:.1}% fell below the floor {FLOOR}%"
    );
}
