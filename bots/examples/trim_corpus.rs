//! The reply trimmer against the shared reply corpus: exact-match accuracy per source and overall,
//! and throughput (messages/s, median over several timed passes), in one run.
//!
//! `cargo run --release -p bots --example trim_corpus -- [--passes N] [--tsv] [--misses]`
//!
//! Reads `$DONEBOT_CORPUS`, else `../shared/corpus/email` beside the repository. Each case goes
//! through [`trim_input`] as raw bytes (so `eml` cases include MIME parsing) and is compared with
//! the corpus rule (UTF-8, CRLF to LF, trailing white space per line and outer blank lines
//! stripped). With `--tsv` the figures are also printed as `source\tpass\ttotal` rows and a
//! `rate\tmessages_per_s\tpasses` row, for `scripts/trim_peers.py`. With `--misses` every case
//! that does not match is printed (expected, then got), to study a held-out set pointed at with
//! `DONEBOT_CORPUS` (a folder with a `cases.tsv` of `input<TAB>expected` paths).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use bots::email::trim::trim_input;

struct Case {
    name: String,
    source: String,
    input: Vec<u8>,
    expected: String,
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("DONEBOT_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/email"),
        PathBuf::from,
    )
}

/// The corpus comparison rule (see its README).
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

fn load(dir: &Path) -> std::io::Result<Vec<Case>> {
    let tsv = std::fs::read_to_string(dir.join("cases.tsv"))?;
    let mut cases = Vec::new();
    for row in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let mut cols = row.split('\t');
        let (Some(input), Some(expected)) = (cols.next(), cols.next()) else {
            continue;
        };
        cases.push(Case {
            name: input.to_string(),
            source: input.split('/').next().unwrap_or("?").to_string(),
            input: std::fs::read(dir.join(input))?,
            expected: canonical(&String::from_utf8_lossy(&std::fs::read(
                dir.join(expected),
            )?)),
        });
    }
    Ok(cases)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tsv = args.iter().any(|a| a == "--tsv");
    let misses = args.iter().any(|a| a == "--misses");
    let passes: usize = args
        .iter()
        .position(|a| a == "--passes")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let dir = corpus_dir();
    let cases = match load(&dir) {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => {
            eprintln!("trim_corpus: {} lists no cases", dir.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!(
                "trim_corpus: cannot read the corpus at {}: {e} (set DONEBOT_CORPUS)",
                dir.display()
            );
            return ExitCode::from(2);
        }
    };

    let mut per_source: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for case in &cases {
        let got =
            trim_input(&case.input).map_or_else(|e| format!("<error: {e}>"), |t| canonical(&t));
        let entry = per_source.entry(&case.source).or_default();
        entry.1 += 1;
        entry.0 += usize::from(got == case.expected);
        if misses && got != case.expected {
            println!(
                "MISS {}\n--- expected\n{}\n--- got\n{got}\n",
                case.name, case.expected
            );
        }
    }

    // One warm-up pass, then timed passes over the whole corpus.
    for case in &cases {
        let _ = black_box(trim_input(black_box(&case.input)));
    }
    let rates: Vec<f64> = (0..passes)
        .map(|_| {
            let start = Instant::now();
            for case in &cases {
                let _ = black_box(trim_input(black_box(&case.input)));
            }
            cases.len() as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    let rate = median(rates);

    let (mut pass, mut total) = (0, 0);
    println!("donebot trim_input on {}", dir.display());
    for (source, (p, t)) in &per_source {
        println!(
            "{source:32} {p:4}/{t:<4} {:6.1}%",
            100.0 * *p as f64 / *t as f64
        );
        pass += p;
        total += t;
    }
    println!(
        "{:32} {pass:4}/{total:<4} {:6.1}%",
        "overall",
        100.0 * pass as f64 / total as f64
    );
    println!("throughput: {rate:.0} messages/s (median of {passes} passes over {total} messages)");
    if tsv {
        for (source, (p, t)) in &per_source {
            println!("source\t{source}\t{p}\t{t}");
        }
        println!("rate\t{rate:.1}\t{passes}");
    }
    ExitCode::SUCCESS
}
