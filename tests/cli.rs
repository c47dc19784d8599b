//! The command line as a contract: exact output of `schedule preview` and `trim`, exit codes and
//! messages of bad input and bad configuration, and the admin commands on a stopped data directory
//! (tokens, teams, members, backup and restore) and through a running server.

mod common;

use std::path::Path;

use common::process::{Serve, ok, run};

fn data_arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// `team ID NAME` → ID (ids are opaque numbers).
fn team_id(stdout: &str, name: &str) -> u64 {
    let words: Vec<&str> = stdout.split_whitespace().collect();
    match words.as_slice() {
        ["team", id, n] if *n == name => id.parse().expect("a numeric id"),
        _ => panic!("expected `team ID {name}`, got {stdout:?}"),
    }
}

#[test]
fn schedule_preview_prints_rfc3339_local_times_across_spring_forward() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(
        tmp.path(),
        &[
            "schedule",
            "preview",
            "--tz",
            "America/New_York",
            "--cron",
            "30 2 * * *",
            "--from",
            "2026-03-07",
            "--count",
            "3",
        ],
    );
    assert_eq!(
        out.stdout,
        "2026-03-07T02:30:00-05:00\n2026-03-08T03:30:00-04:00\n2026-03-09T02:30:00-04:00\n"
    );
}

/// A member's own days and time across Berlin's spring forward (2026-03-29): 17:00 local on
/// each chosen day, Saturday included though the team's cron says Monday to Friday.
#[test]
fn schedule_preview_shows_a_members_own_days_and_time() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(
        tmp.path(),
        &[
            "schedule",
            "preview",
            "--tz",
            "Europe/Berlin",
            "--cron",
            "0 18 * * 1-5",
            "--from",
            "2026-03-27",
            "--count",
            "4",
            "--days",
            "mon,wed,sat",
            "--time",
            "17:00",
        ],
    );
    assert_eq!(
        out.stdout,
        "2026-03-28T17:00:00+01:00\n2026-03-30T17:00:00+02:00\n2026-04-01T17:00:00+02:00\n2026-04-04T17:00:00+02:00\n"
    );
    let bad = run(
        tmp.path(),
        &[
            "schedule",
            "preview",
            "--tz",
            "UTC",
            "--cron",
            "0 18 * * 1-5",
            "--from",
            "2026-03-27",
            "--days",
            "funday",
        ],
        &[],
    );
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("--days"), "{}", bad.stderr);
}

#[test]
fn trim_prints_exactly_what_was_typed() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reply.eml");
    let expected = include_str!("fixtures/reply.expected");
    let out = ok(tmp.path(), &["trim", fixture]);
    assert_eq!(out.stdout, expected);
}

#[test]
fn trim_of_binary_garbage_is_refused_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("garbage.bin");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 % 32)
        .collect();
    std::fs::write(&garbage, bytes).unwrap();
    let out = run(tmp.path(), &["trim", garbage.to_str().unwrap()], &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with("donebot: unreadable input"),
        "{out:?}"
    );
}

#[test]
fn invalid_configuration_names_the_key_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run(
        tmp.path(),
        &["serve", "--data", data_arg(&data)],
        &[("DONEBOT_WEB__LISTEN", "nope")],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("[web] listen"), "{out:?}");
    assert!(out.stderr.contains("\"nope\""), "{out:?}");
    assert!(!data.join("control.json").exists());
}

#[test]
fn admin_commands_on_a_stopped_data_directory_and_backup_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let d = data_arg(&data);

    let out = ok(cwd, &["token", "create", "--admin", "--data", d]);
    let token = out.last_word().to_string();
    assert!(token.starts_with("dbt_") && token.len() > 20, "{out:?}");

    let out = ok(
        cwd,
        &[
            "team",
            "add",
            "Engines",
            "--tz",
            "America/New_York",
            "--data",
            d,
        ],
    );
    let id = team_id(&out.stdout, "Engines");
    let out = ok(
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
    assert!(out.stdout.ends_with(" ada@example.org\n"), "{out:?}");

    let backup = cwd.join("backup");
    ok(cwd, &["backup", data_arg(&backup), "--data", d]);

    let restored = cwd.join("restored");
    let r = data_arg(&restored);
    ok(cwd, &["restore", data_arg(&backup), "--data", r]);
    let out = ok(cwd, &["team", "list", "--data", r]);
    assert_eq!(out.stdout, format!("{id}\tEngines\tAmerica/New_York\n"));

    // The token is stored (hashed) in the data directory and in its backup.
    let store = storage::Store::open(&restored).unwrap();
    let t = store
        .token_by_hash(&donebot::ops::token_hash(&token))
        .unwrap()
        .expect("the token was restored");
    assert!(t.admin);
}

#[test]
fn while_a_server_runs_team_add_goes_through_it_and_restore_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let d = data_arg(&data);
    let token = ok(cwd, &["token", "create", "--admin", "--data", d])
        .last_word()
        .to_string();
    ok(
        cwd,
        &[
            "team",
            "add",
            "Engines",
            "--tz",
            "America/New_York",
            "--data",
            d,
        ],
    );
    let backup = cwd.join("backup");
    ok(cwd, &["backup", data_arg(&backup), "--data", d]);

    let server = Serve::start(&data);
    let out = ok(
        cwd,
        &["team", "add", "Ops", "--tz", "Europe/London", "--data", d],
    );
    team_id(&out.stdout, "Ops");
    assert!(out.stderr.contains("going through its API"), "{out:?}");

    let out = run(cwd, &["restore", data_arg(&backup), "--data", d], &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("a donebot server is using") && out.stderr.contains("stop it"),
        "{out:?}"
    );

    // The running server has the new team.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let teams: serde_json::Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("http://{}/api/v1/teams", server.web))
            .bearer_auth(&token)
            .timeout(common::WAIT)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let names: Vec<&str> = teams["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Engines", "Ops"]);
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn a_short_secret_stops_the_server_at_start_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(
        tmp.path(),
        &["serve", "--data", "data"],
        &[("DONEBOT_INBOUND_HTTP__RAW_SECRET", "x")],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("[inbound_http] raw_secret: too short (at least 16 characters"),
        "{out:?}"
    );
}

#[test]
fn tokens_for_one_team_are_created_listed_and_revoked() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let d = data_arg(&data);
    ok(
        cwd,
        &[
            "team",
            "add",
            "Engines",
            "--tz",
            "America/New_York",
            "--data",
            d,
        ],
    );
    let out = ok(
        cwd,
        &[
            "token",
            "create",
            "--team",
            "Engines",
            "--expires-days",
            "30",
            "--data",
            d,
        ],
    );
    assert!(
        out.stdout.starts_with("token for team Engines: dbt_"),
        "{out:?}"
    );
    let list = ok(cwd, &["token", "list", "--data", d]).stdout;
    let line = list
        .lines()
        .find(|l| l.contains("\tteam "))
        .expect("the team token is listed");
    assert!(
        !list.contains("dbt_"),
        "tokens themselves are never listed: {list}"
    );
    let id = line.split('\t').next().unwrap().to_string();
    ok(cwd, &["token", "revoke", &id, "--data", d]);
    assert!(
        !ok(cwd, &["token", "list", "--data", d])
            .stdout
            .contains("\tteam ")
    );
    let out = run(cwd, &["token", "create", "--data", d], &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
}

#[test]
fn search_takes_options_after_the_words_and_exclusions_after_a_double_dash() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let d = data_arg(&data);
    ok(cwd, &["team", "add", "Core", "--tz", "UTC", "--data", d]);

    let out = ok(
        cwd,
        &["search", "Core", "kafka", "--limit", "1", "--data", d],
    );
    assert_eq!(out.stdout, "", "{out:?}");
    assert!(out.stderr.contains("(0 of 0 matching dones)"), "{out:?}");

    // `--limit` after the words is the option (checked), not more words.
    let out = run(
        cwd,
        &["search", "Core", "kafka", "--limit", "0", "--data", d],
        &[],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("--limit must be between 1 and"),
        "{out:?}"
    );

    ok(
        cwd,
        &["search", "Core", "kafka", "--data", d, "--", "-zookeeper"],
    );
    let out = run(cwd, &["search", "Core", "-zookeeper", "--data", d], &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("'-- -z'"), "clap's tip: {out:?}");
}

#[test]
fn help_says_what_each_command_and_option_takes() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let help = |args: &[&str]| {
        let mut args = args.to_vec();
        args.push("--help");
        ok(cwd, &args).stdout
    };

    let text = help(&["outbox", "list"]);
    for state in ["queued", "sending", "sent", "deferred", "failed"] {
        assert!(text.contains(state), "{state} missing in {text}");
    }
    let text = help(&["team", "add"]);
    assert!(text.contains("Create a team"), "{text}");
    assert!(text.contains("IANA name such as Europe/Berlin"), "{text}");
    let text = help(&["token", "create"]);
    assert!(
        text.contains("--admin") && text.contains("every team"),
        "{text}"
    );
    let text = help(&["member", "add"]);
    assert!(
        text.contains("--name <NAME>") && text.contains("as digests show it"),
        "{text}"
    );
    assert!(help(&["team", "list"]).contains("List the teams"));
    assert!(help(&["inbound", "list"]).contains("Only mail whose processing failed"));
    let text = help(&[]);
    assert!(
        text.contains("Exit codes: 0 done, 1 failed, 2 usage"),
        "{text}"
    );
}

#[test]
fn exit_codes_are_0_done_1_failed_2_usage_or_input() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let d = data_arg(&data);

    let out = run(
        cwd,
        &["outbox", "list", "--state", "bogus", "--data", d],
        &[],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("[possible values: queued, sending, sent, deferred, failed]"),
        "{out:?}"
    );
    ok(cwd, &["outbox", "list", "--state", "failed", "--data", d]);

    let out = run(
        cwd,
        &["team", "add", "Core", "--tz", "Mars/Olympus", "--data", d],
        &[],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    let out = run(
        cwd,
        &[
            "member",
            "add",
            "Nope",
            "a@example.org",
            "--name",
            "A",
            "--data",
            d,
        ],
        &[],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    let out = run(cwd, &["no-such-command"], &[]);
    assert_eq!(out.code, Some(2), "{out:?}");

    // Not the user's mistake: the data directory cannot be created (its parent is a file).
    let file = cwd.join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = run(
        cwd,
        &["team", "list", "--data", data_arg(&file.join("data"))],
        &[],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
}

#[test]
fn data_means_that_directory_even_while_a_server_runs_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let served = cwd.join("data");
    let other = cwd.join("restored");
    ok(
        cwd,
        &[
            "team",
            "add",
            "Alpha",
            "--tz",
            "UTC",
            "--data",
            data_arg(&served),
        ],
    );
    ok(
        cwd,
        &[
            "team",
            "add",
            "Bravo",
            "--tz",
            "UTC",
            "--data",
            data_arg(&other),
        ],
    );

    let server = Serve::start(&served);
    // A copy of the running server's control file (as a copy of its directory would carry) does
    // not send commands on `other` to that server.
    std::fs::copy(served.join("control.json"), other.join("control.json")).unwrap();
    let out = ok(cwd, &["team", "list", "--data", data_arg(&other)]);
    assert!(out.stdout.ends_with("\tBravo\tUTC\n"), "{out:?}");
    assert!(!out.stdout.contains("Alpha"), "{out:?}");
    assert!(!out.stderr.contains("going through its API"), "{out:?}");

    // On the served directory itself, `team list` goes through the running server.
    let out = ok(cwd, &["team", "list", "--data", data_arg(&served)]);
    assert!(out.stdout.ends_with("\tAlpha\tUTC\n"), "{out:?}");
    assert!(out.stderr.contains("going through its API"), "{out:?}");
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn log_settings_never_stop_start_up_and_json_logs_are_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let log_path = tmp.path().join("stderr.log");
    for filter in ["warn", "info,[nonsense"] {
        let log = std::fs::File::create(&log_path).unwrap();
        let server = Serve::start_logging(
            &data,
            &[("DONEBOT_LOG", filter), ("DONEBOT_LOG__FORMAT", "json")],
            log.into(),
        );
        assert_eq!(server.terminate().code(), Some(0), "DONEBOT_LOG={filter}");
        let text = std::fs::read_to_string(&log_path).unwrap();
        // Not a terminal: no colour codes, whatever the format.
        assert!(!text.contains('\u{1b}'), "{text}");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
        if filter == "warn" {
            assert!(!messages.contains(&"donebot started"), "{text}");
        } else {
            // The bad filter is reported first, and replaced by `info`.
            assert!(
                messages[0].starts_with("DONEBOT_LOG=\"info,[nonsense\" is not a log filter"),
                "{text}"
            );
            assert_eq!(lines[0]["level"], "WARN", "{text}");
            let started = lines
                .iter()
                .find(|l| l["message"] == "donebot started")
                .unwrap_or_else(|| panic!("{text}"));
            // Fields in Display form: the address, not `Some(127.0.0.1:…)`.
            let smtp = started["smtp"].as_str().unwrap_or_default();
            assert!(smtp.starts_with("127.0.0.1:"), "{started}");
        }
    }
}

#[test]
fn text_logs_in_a_file_have_no_colour_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let log_path = tmp.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = Serve::start_logging(&data, &[("RUST_LOG", "info")], log.into());
    assert_eq!(server.terminate().code(), Some(0));
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("donebot started"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(
        text.contains(" smtp=127.0.0.1:") && !text.contains("Some("),
        "{text}"
    );
}

#[test]
fn completions_are_printed_for_each_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let bash = ok(cwd, &["completions", "bash"]).stdout;
    assert!(bash.contains("complete -F _donebot"), "{bash}");
    assert!(
        bash.contains("--state") && bash.contains("queued"),
        "values are completed"
    );
    let zsh = ok(cwd, &["completions", "zsh"]).stdout;
    assert!(zsh.starts_with("#compdef donebot"), "{zsh}");
    let fish = ok(cwd, &["completions", "fish"]).stdout;
    assert!(fish.contains("complete -c donebot"), "{fish}");
    let out = run(cwd, &["completions", "tcsh"], &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("bash") && out.stderr.contains("zsh"),
        "{out:?}"
    );
}

#[test]
fn the_mail_queues_are_read_through_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let d = data_arg(&data);
    ok(cwd, &["team", "add", "Core", "--tz", "UTC", "--data", d]);
    ok(
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
    );
    let stopped = ok(cwd, &["outbox", "list", "--data", d]).stdout;
    assert!(
        stopped.contains("\tqueued\twelcome\tada@example.org\t0\t"),
        "{stopped}"
    );

    let server = Serve::start(&data);
    let out = ok(cwd, &["outbox", "status", "--data", d]);
    assert!(out.stderr.contains("going through its API"), "{out:?}");
    let counts: u64 = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with("oldest due"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counts, 1, "{out:?}");
    let out = ok(cwd, &["outbox", "list", "--data", d]);
    assert!(
        out.stdout.contains("\twelcome\tada@example.org\t"),
        "{out:?}"
    );
    let out = ok(cwd, &["inbound", "list", "--failed", "--data", d]);
    assert_eq!(out.stdout, "", "{out:?}");
    let out = run(cwd, &["outbox", "retry", "999999", "--data", d], &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("not found"), "{out:?}");
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn search_and_export_name_the_member_with_or_without_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let d = data_arg(&data);
    let token = ok(cwd, &["token", "create", "--admin", "--data", d])
        .last_word()
        .to_string();
    ok(cwd, &["team", "add", "Core", "--tz", "UTC", "--data", d]);
    ok(
        cwd,
        &[
            "member",
            "add",
            "Core",
            "ada@example.org",
            "--name",
            "Ada Lovelace",
            "--data",
            d,
        ],
    );

    let server = Serve::start_with(
        &data,
        &[("DONEBOT_INBOUND_HTTP__RAW_SECRET", common::RAW_SECRET)],
    );
    let raw = common::authenticated(common::reply_mail(
        "ada@example.org",
        "donebot@done.example.com",
        "r1@example.org",
        "shipped the kafka consumer",
        "Wed, 9 Dec 2026 18:00:00 +0000",
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(common::WAIT)
            .build()
            .unwrap();
        let resp = http
            .post(format!("http://{}/inbound/email", server.web))
            .bearer_auth(common::RAW_SECRET)
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        // Bounded poll on what the API shows: the done is searchable once recorded and indexed.
        tokio::time::timeout(common::WAIT, async {
            loop {
                let v: serde_json::Value = http
                    .get(format!(
                        "http://{}/api/v1/teams/Core/search?q=kafka",
                        server.web
                    ))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if v["total"] == 1 {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the reply is recorded and searchable in time");
    });
    let through_api = ok(cwd, &["search", "Core", "kafka", "--data", d]);
    assert!(
        through_api.stderr.contains("going through its API"),
        "{through_api:?}"
    );
    assert!(
        through_api
            .stdout
            .contains("\tAda Lovelace\tdone\tshipped the kafka consumer\n"),
        "{through_api:?}"
    );
    let csv_api = ok(cwd, &["export", "Core", "--data", d]).stdout;
    let json_api = ok(cwd, &["export", "Core", "--format", "json", "--data", d]).stdout;
    assert_eq!(server.terminate().code(), Some(0));

    let local = ok(cwd, &["search", "Core", "kafka", "--data", d]);
    assert_eq!(local.stdout, through_api.stdout);

    // The same export with the server stopped; CSV and JSON with the same columns.
    let csv = ok(cwd, &["export", "Core", "--data", d]).stdout;
    assert_eq!(csv, csv_api);
    let mut lines = csv.split("\r\n");
    let header = lines.next().unwrap();
    assert_eq!(
        header,
        "id,date,member_id,member,email,kind,text,tags,mentions,source,created_at"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .contains(",Ada Lovelace,ada@example.org,done,shipped the kafka consumer,"),
        "{csv}"
    );
    let json = ok(cwd, &["export", "Core", "--format", "json", "--data", d]).stdout;
    assert_eq!(json, json_api);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut columns: Vec<&str> = header.split(',').collect();
    keys.sort();
    columns.sort();
    assert_eq!(keys, columns);
    let out = run(
        cwd,
        &["export", "Core", "--format", "xml", "--data", d],
        &[],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
}

#[test]
fn members_are_listed_with_or_without_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let d = data_arg(&data);
    ok(cwd, &["team", "add", "Core", "--tz", "UTC", "--data", d]);
    ok(
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
    );
    ok(
        cwd,
        &[
            "member",
            "add",
            "Core",
            "bo@example.org",
            "--name",
            "Bo",
            "--tz",
            "Asia/Tokyo",
            "--data",
            d,
        ],
    );
    let stopped = ok(cwd, &["member", "list", "Core", "--data", d]).stdout;
    let rows: Vec<Vec<&str>> = stopped
        .lines()
        .map(|l| l.split('\t').skip(1).collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["Ada", "ada@example.org", "active", "(team's)"],
            ["Bo", "bo@example.org", "active", "Asia/Tokyo"]
        ]
    );
    let server = Serve::start(&data);
    let running = ok(cwd, &["member", "list", "Core", "--data", d]);
    assert!(
        running.stderr.contains("going through its API"),
        "{running:?}"
    );
    assert_eq!(running.stdout, stopped);
    let out = run(cwd, &["member", "list", "Nope", "--data", d], &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(server.terminate().code(), Some(0));
}

/// An admin pauses, resumes and removes a member from the command line, on a stopped data
/// directory and through a running server alike.
#[test]
fn members_are_paused_resumed_and_removed_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let d = data_arg(&data);
    ok(cwd, &["team", "add", "Core", "--tz", "UTC", "--data", d]);
    for (email, name) in [("ada@example.org", "Ada"), ("bo@example.org", "Bo")] {
        ok(
            cwd,
            &["member", "add", "Core", email, "--name", name, "--data", d],
        );
    }
    let out = ok(
        cwd,
        &[
            "member",
            "pause",
            "Core",
            "ada@example.org",
            "--until",
            "2099-01-31",
            "--data",
            d,
        ],
    );
    assert!(out.stdout.ends_with("paused until 2099-01-31\n"), "{out:?}");
    let past = run(
        cwd,
        &[
            "member",
            "pause",
            "Core",
            "ada@example.org",
            "--until",
            "2000-01-01",
            "--data",
            d,
        ],
        &[],
    );
    assert_eq!(past.code, Some(2), "{past:?}");
    assert!(past.stderr.contains("already passed"), "{past:?}");
    let out = ok(
        cwd,
        &["member", "resume", "Core", "ada@example.org", "--data", d],
    );
    assert!(out.stdout.ends_with("active\n"), "{out:?}");

    let server = Serve::start(&data);
    let out = ok(
        cwd,
        &["member", "pause", "Core", "bo@example.org", "--data", d],
    );
    assert!(out.stderr.contains("going through its API"), "{out:?}");
    assert!(out.stdout.ends_with("paused\n"), "{out:?}");
    let out = ok(
        cwd,
        &["member", "remove", "Core", "bo@example.org", "--data", d],
    );
    assert!(out.stdout.ends_with("removed\n"), "{out:?}");
    let again = run(
        cwd,
        &["member", "resume", "Core", "bo@example.org", "--data", d],
        &[],
    );
    assert_ne!(
        again.code,
        Some(0),
        "a removed member stays removed: {again:?}"
    );
    assert_eq!(server.terminate().code(), Some(0));
}

/// `team set` changes a team's schedule settings, checked, on a stopped data directory and
/// through a running server alike.
#[test]
fn a_teams_schedule_is_set_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let d = data_arg(&data);
    ok(cwd, &["team", "add", "Core", "--tz", "UTC", "--data", d]);
    let out = ok(
        cwd,
        &[
            "team",
            "set",
            "Core",
            "--tz",
            "Europe/Berlin",
            "--prompt",
            "30 17 * * 1-4",
            "--working-days",
            "mon-thu",
            "--holidays",
            "2026-12-24,2026-12-25",
            "--data",
            d,
        ],
    );
    assert!(
        out.stdout.ends_with(
            "Core: Europe/Berlin, prompt \"30 17 * * 1-4\", digest \"0 9 * * 1-5\", working days Mon,Tue,Wed,Thu, 2 holidays\n"
        ),
        "{out:?}"
    );
    let bad = run(
        cwd,
        &[
            "team",
            "set",
            "Core",
            "--prompt",
            "61 17 * * *",
            "--data",
            d,
        ],
        &[],
    );
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(bad.stderr.contains("prompt_cron"), "{bad:?}");

    let server = Serve::start(&data);
    let out = ok(cwd, &["team", "set", "Core", "--holidays", "", "--data", d]);
    assert!(out.stderr.contains("going through its API"), "{out:?}");
    assert!(
        out.stdout
            .ends_with("working days Mon,Tue,Wed,Thu, 0 holidays\n"),
        "{out:?}"
    );
    assert_eq!(server.terminate().code(), Some(0));
}
