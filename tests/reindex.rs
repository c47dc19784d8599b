//! `donebot reindex` on a stopped data directory: every done of sled is indexed again (with
//! progress on stderr, plain lines when it is not a terminal), the index it replaces is gone,
//! and `donebot search` answers from the new one. While a server runs, it refuses.

mod common;

use std::path::Path;

use common::process::{Serve, ok, run};

fn data_arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// The number after the first word of `stdout` (`team ID NAME`, `member ID EMAIL`).
fn id(stdout: &str) -> u64 {
    stdout
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("an id in {stdout:?}"))
}

/// Records dones straight into the stopped data directory.
fn record(data: &Path, team: u64, member: u64, lines: &[&str]) {
    let store = storage::Store::open(data).unwrap();
    let lines: Vec<storage::NewDone> = lines
        .iter()
        .map(|t| storage::NewDone {
            text: (*t).into(),
            kind: storage::DoneKind::Done,
            tags: vec![],
            mentions: vec![],
        })
        .collect();
    let source = storage::Source {
        channel: storage::Channel::Email,
        message_id: Some("r1@example.org".into()),
        prompt_id: None,
        inbound_id: None,
    };
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 9).unwrap();
    store
        .record_reply(team, member, day, &lines, &source, chrono::Utc::now())
        .unwrap();
    store.flush().unwrap();
}

#[test]
fn reindex_rebuilds_the_index_from_the_database_with_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let d = data_arg(&data);
    let team = id(&ok(cwd, &["team", "add", "Core", "--tz", "UTC", "--data", d]).stdout);
    let member = id(&ok(
        cwd,
        &[
            "member",
            "add",
            "Core",
            "ada@example.org",
            "--name",
            "Ada",
            "--data",
            d,
        ],
    )
    .stdout);
    record(
        &data,
        team,
        member,
        &[
            "shipped the kafka consumer",
            "ประชุมทีมเสร็จแล้ว",
            "fixed billing",
        ],
    );

    let out = ok(cwd, &["reindex", "--data", d]);
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    assert!(
        out.stdout.starts_with("search index rebuilt: 3 dones in "),
        "{out:?}"
    );
    // Not a terminal: plain lines, the last one complete.
    assert!(
        out.stderr
            .lines()
            .any(|l| l == "reindexing: 100% (3 of 3 dones)"),
        "{out:?}"
    );
    assert!(
        !out.stderr.contains('\r'),
        "no bar redrawn in a log: {out:?}"
    );
    assert!(data.join("search").join("meta.json").exists());

    let found = ok(cwd, &["search", "Core", "ประชุม", "--data", d]);
    assert!(
        found.stdout.ends_with("\tAda\tdone\tประชุมทีมเสร็จแล้ว\n"),
        "{found:?}"
    );
    let found = ok(cwd, &["search", "Core", "kaf*", "--data", d]);
    assert!(
        found.stdout.contains("shipped the kafka consumer"),
        "{found:?}"
    );

    let server = Serve::start(&data);
    let refused = run(cwd, &["reindex", "--data", d], &[]);
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(refused.stderr.contains("stop the server"), "{refused:?}");
    server.terminate();
}
