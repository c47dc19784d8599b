//! Criterion benchmark of the reply trimmer: [`trim_input`] over every input of the shared reply
//! corpus (`$DONEBOT_CORPUS`, else `../shared/corpus/email` beside the repository), reported as
//! messages/s; skipped with a note when the corpus is absent. The repository's own `.eml`
//! fixtures are benchmarked too, so the bench always measures something.
//!
//! `cargo bench -p bots --bench trim`

use std::hint::black_box;
use std::path::{Path, PathBuf};

use bots::email::trim::trim_input;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DONEBOT_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/email"),
        PathBuf::from,
    );
    dir.join("cases.tsv").is_file().then_some(dir)
}

/// Every input listed in the corpus's `cases.tsv`, as raw bytes.
fn corpus_inputs(dir: &Path) -> Vec<Vec<u8>> {
    let tsv = std::fs::read_to_string(dir.join("cases.tsv")).expect("read cases.tsv");
    tsv.lines()
        .skip(1)
        .filter_map(|row| row.split('\t').next().filter(|c| !c.trim().is_empty()))
        .map(|input| std::fs::read(dir.join(input)).expect("read a corpus input"))
        .collect()
}

fn fixture_inputs() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read the mail fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("read a fixture"))
        .collect()
}

fn bench_set(c: &mut Criterion, name: &str, inputs: &[Vec<u8>]) {
    let mut group = c.benchmark_group("trim_input");
    group.throughput(Throughput::Elements(inputs.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            for input in inputs {
                let _ = black_box(trim_input(black_box(input)));
            }
        });
    });
    group.finish();
}

fn trim(c: &mut Criterion) {
    match corpus_dir() {
        Some(dir) => bench_set(c, "corpus", &corpus_inputs(&dir)),
        None => eprintln!("trim bench: shared corpus absent (set DONEBOT_CORPUS); corpus skipped"),
    }
    bench_set(c, "fixtures", &fixture_inputs());
}

criterion_group!(benches, trim);
criterion_main!(benches);
