//! `donebot import TEAM FILE`: on a stopped data directory, and through the running server (the
//! same checks and the same answer either way); bad rows by line on stderr with exit 2 and
//! nothing written; a re-import adds nothing; `member list` pages through the server's API.

mod common;

use std::path::Path;

use common::process::{Serve, ok, run};

fn data_arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[test]
fn import_on_a_stopped_directory_and_through_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let d = data_arg(&data);
    ok(cwd, &["team", "add", "Engines", "--tz", "UTC", "--data", d]);
    ok(
        cwd,
        &[
            "member",
            "add",
            "Engines",
            "ada@example.org",
            "--name",
            "Ada",
            "--data",
            d,
        ],
    );

    let bad = cwd.join("bad.csv");
    std::fs::write(
        &bad,
        "date,email,text\n2026-03-02,ada@example.org,fine\n2026-03-02,eve@example.org,who\n",
    )
    .unwrap();
    let out = run(
        cwd,
        &["import", "Engines", data_arg(&bad), "--data", d],
        &[],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("line 3: eve@example.org is not a member of the team"),
        "{out:?}"
    );
    assert!(out.stderr.contains("nothing was written"), "{out:?}");

    let good = cwd.join("good.csv");
    std::fs::write(
        &good,
        "Date,Email,Text,Kind\n\
         2026-03-02,ada@example.org,shipped the importer,done\n\
         2026-03-03,grace@example.org,\"review\nplan the release\",done\n",
    )
    .unwrap();
    let args = [
        "import",
        "Engines",
        data_arg(&good),
        "--create-members",
        "--data",
        d,
    ];
    let out = ok(cwd, &args);
    assert_eq!(
        out.stdout,
        "2 rows: 3 dones recorded, 0 rows already imported, 0 rows without a done\n\
         members added: grace@example.org\n"
    );

    // Through the running server: the same file adds nothing; the new member is listed.
    let server = Serve::start(&data);
    let out = ok(cwd, &args);
    assert!(out.stderr.contains("going through its API"), "{out:?}");
    assert_eq!(
        out.stdout,
        "2 rows: 0 dones recorded, 2 rows already imported, 0 rows without a done\n"
    );
    let out = ok(cwd, &["member", "list", "Engines", "--data", d]);
    let emails: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split('\t').nth(2).unwrap())
        .collect();
    assert_eq!(emails, ["ada@example.org", "grace@example.org"], "{out:?}");
    let out = run(
        cwd,
        &["import", "Engines", data_arg(&bad), "--data", d],
        &[],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("line 3: "), "{out:?}");
    assert_eq!(server.terminate().code(), Some(0));
}
