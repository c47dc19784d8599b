//! The API completed: dones recorded through `POST /teams/{team}/dones` (the member's day, an
//! idempotent retry, found by search and listed), cursor pagination of the lists, participation
//! per member and day, and the CSV import (columns, bad rows by line with nothing written, a
//! re-import that adds nothing).

mod common;

use common::{Donebot, NEW_YORK, local};
use donebot::events::Event;
use serde_json::{Value, json};

/// `POST path` with a CSV body.
async fn post_csv(d: &Donebot, path: &str, csv: &str, content_type: &str) -> (u16, Value) {
    let resp = d
        .http
        .post(d.url(path))
        .bearer_auth(&d.token)
        .header("Content-Type", content_type)
        .body(csv.to_owned())
        .send()
        .await
        .expect("the API answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn texts(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|d| d["text"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_rt::test]
async fn a_done_posted_through_the_api_is_the_members_and_is_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    // 23:30 in New York is already the next day in UTC: the member's day is New York's.
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 23, 30)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.org").await;
    let path = format!("/api/v1/teams/{team}/dones");

    let (status, v) = d
        .post(
            &path,
            Some(json!({"member_id": ada, "text": "shipped #billing"})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let done = &v["dones"][0];
    assert_eq!(
        (
            &done["date"],
            &done["source"],
            &done["tags"],
            &done["member_id"]
        ),
        (
            &json!("2026-03-09"),
            &json!("api"),
            &json!(["billing"]),
            &json!(ada)
        )
    );
    d.wait_for("the event", |e| {
        matches!(e, Event::DonesRecorded { member, .. } if *member == ada).then_some(())
    })
    .await;

    // Several lines are several dones, read like a reply; with an Idempotency-Key a retry
    // records nothing and answers the first request's dones.
    let send = |key: &'static str| {
        d.http
            .post(d.url(&path))
            .bearer_auth(&d.token)
            .header("Idempotency-Key", key)
            .json(&json!({"member_id": ada, "date": "2026-03-06", "text": "- docs\ngoal: release"}))
            .send()
    };
    let first = send("k-1").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send("k-1").await.unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again);
    assert_eq!(texts(&first["dones"]), ["docs", "release"]);
    assert_eq!(first["dones"][1]["kind"], "goal");
    assert_eq!(d.dones(team, "2026-03-06").await.len(), 2);

    // Refused: a day not yet started for the member, another team's member, no text, a bad key.
    for (body, code) in [
        (
            json!({"member_id": ada, "date": "2026-03-10", "text": "x"}),
            400,
        ),
        (
            json!({"member_id": ada, "date": "1969-12-31", "text": "x"}),
            400,
        ),
        (json!({"member_id": 999_999, "text": "x"}), 404),
        (json!({"member_id": ada, "text": "  \n "}), 400),
        (json!({"member_id": ada, "text": "x", "extra": 1}), 400),
    ] {
        let (status, v) = d.post(&path, Some(body.clone())).await;
        assert_eq!(status, code, "{body}: {v}");
        assert!(v["error"]["code"].is_string(), "{v}");
    }
    let bad_key = d
        .http
        .post(d.url(&path))
        .bearer_auth(&d.token)
        .header("Idempotency-Key", "")
        .json(&json!({"member_id": ada, "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_key.status(), 400);
    d.stop().await;
}

#[actix_rt::test]
async fn lists_are_paged_by_cursor_and_a_bad_cursor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 20, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.org").await;
    for (day, text) in [
        ("2026-03-02", "a"),
        ("2026-03-03", "b\nc\nd"),
        ("2026-03-05", "e"),
    ] {
        let (status, v) = d
            .post(
                &format!("/api/v1/teams/{team}/dones"),
                Some(json!({"member_id": ada, "date": day, "text": text})),
            )
            .await;
        assert_eq!(status, 201, "{v}");
    }
    // Pages of two, followed to the end: each done once, in order of day then id.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/api/v1/teams/{team}/dones?from=2026-03-01&to=2026-03-31&limit=2");
        if let Some(c) = &cursor {
            path += &format!("&cursor={c}");
        }
        let (status, v) = d.get(&path).await;
        assert_eq!(status, 200, "{v}");
        seen.extend(texts(&v["items"]));
        pages += 1;
        match v["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "the pages end");
    }
    assert_eq!((seen.join(""), pages), ("abcde".to_owned(), 3));

    // The outbox too (a welcome email per member added), oldest first, across pages.
    d.add_member(team, "Bob", "bob@example.org").await;
    d.add_member(team, "Cy", "cy@example.org").await;
    let (status, first) = d.get("/api/v1/outbox/messages?limit=2").await;
    assert_eq!(status, 200, "{first}");
    let next = first["next"].as_str().expect("a second page");
    let (_, second) = d
        .get(&format!("/api/v1/outbox/messages?limit=2&cursor={next}"))
        .await;
    let to: Vec<&Value> = [&first, &second]
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap())
        .map(|m| &m["to"][0])
        .collect();
    assert_eq!(
        to,
        [
            &json!("ada@example.org"),
            &json!("bob@example.org"),
            &json!("cy@example.org")
        ]
    );
    assert_eq!(second["next"], Value::Null);

    // Every list answers {items, next}; a cursor of another list, or none at all, is refused.
    let (_, teams) = d.get("/api/v1/teams?limit=1").await;
    assert_eq!(teams["items"].as_array().map(Vec::len), Some(1));
    let foreign = teams["next"].as_str();
    assert_eq!(foreign, None, "one team: one page");
    let (_, members) = d
        .get(&format!("/api/v1/teams/{team}/members?limit=1"))
        .await;
    assert_eq!(members["items"][0]["id"].as_u64(), Some(ada));
    let next = members["next"].as_str().expect("Bob and Cy follow");
    let (_, rest) = d
        .get(&format!(
            "/api/v1/teams/{team}/members?limit=5&cursor={next}"
        ))
        .await;
    let names: Vec<&str> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!((names, &rest["next"]), (vec!["Bob", "Cy"], &Value::Null));
    for path in [
        "/api/v1/teams?cursor=not-a-cursor",
        "/api/v1/tokens?cursor=AQAAAAAAAAAB",
        "/api/v1/outbox/messages?cursor=!!!",
        "/api/v1/inbound?cursor=BgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let (status, v) = d.get(path).await;
        assert_eq!(
            (status, &v["error"]["code"]),
            (400, &json!("invalid_cursor")),
            "{path}: {v}"
        );
    }
    let (status, v) = d
        .get(&format!(
            "/api/v1/teams/{team}/dones?date=2026-03-03&limit=2"
        ))
        .await;
    assert_eq!(status, 200);
    let dones_cursor = v["next"].as_str().unwrap().to_owned();
    let (status, v) = d.get(&format!("/api/v1/teams?cursor={dones_cursor}")).await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (400, &json!("invalid_cursor"))
    );
    for limit in ["0", "1001", "-1"] {
        let (status, _) = d.get(&format!("/api/v1/teams?limit={limit}")).await;
        assert_eq!(status, 400, "limit={limit}");
    }
    d.stop().await;
}

#[actix_rt::test]
async fn participation_counts_prompts_answers_and_dones_per_member_and_day() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 19, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.org").await;
    let bob = d.add_member(team, "Bob", "bob@example.org").await;
    let (status, v) = d.post(&format!("/api/v1/teams/{team}/prompts"), None).await;
    assert_eq!((status, &v["sent"]), (200, &json!(2)), "{v}");
    for (member, date, text) in [(ada, "2026-03-09", "a\nb"), (bob, "2026-03-07", "weekend")] {
        let (status, v) = d
            .post(
                &format!("/api/v1/teams/{team}/dones"),
                Some(json!({"member_id": member, "date": date, "text": text})),
            )
            .await;
        assert_eq!(status, 201, "{v}");
    }
    let (status, v) = d
        .get(&format!(
            "/api/v1/teams/{team}/participation?from=2026-03-02&to=2026-03-09"
        ))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["members"],
        json!([
            {"member_id": ada, "name": "Ada", "state": "active", "prompted": 1, "answered": 1,
             "dones": 2, "days": [{"date": "2026-03-09", "prompted": true, "answered": true, "dones": 2}]},
            {"member_id": bob, "name": "Bob", "state": "active", "prompted": 1, "answered": 1,
             "dones": 1, "days": [
                {"date": "2026-03-07", "prompted": false, "answered": true, "dones": 1},
                {"date": "2026-03-09", "prompted": true, "answered": false, "dones": 0}]},
        ])
    );
    for query in [
        "from=2026-03-09&to=2026-03-01",
        "from=2025-01-01&to=2026-03-01",
        "from=2026-03-01",
    ] {
        let (status, _) = d
            .get(&format!("/api/v1/teams/{team}/participation?{query}"))
            .await;
        assert_eq!(status, 400, "{query}");
    }
    d.stop().await;
}

#[actix_rt::test]
async fn an_import_is_checked_whole_written_once_and_found_by_search() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.org").await;
    let path = format!("/api/v1/teams/{team}/import");

    // Two bad rows: reported by line, nothing written.
    let bad = "Date,Email,Text\n\
               2026-03-02,ada@example.org,fine\n\
               2026-13-01,ada@example.org,bad date\n\
               2026-03-03,eve@example.org,\"unknown,\nmember\"\n";
    let (status, v) = post_csv(&d, &path, bad, "text/csv").await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_import");
    let lines: Vec<u64> = v["error"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{v}");
    assert!(
        d.dones(team, "2026-03-02").await.is_empty(),
        "nothing was written"
    );

    // iDoneThis-like columns, a new member created, a goal by its status column.
    let csv = "done_date,owner_email,raw_text,status\n\
               2026-03-02,ada@example.org,shipped the importer #import,done\n\
               2026-03-02,ada@example.org,shipped the importer #import,done\n\
               2026-03-03,grace@example.org,\"- review\n- deploy\",done\n\
               2026-03-03,grace@example.org,write the docs,goal\n\
               2026-03-04,ada@example.org,Thanks!,done\n";
    let (status, v) = post_csv(
        &d,
        &format!("{path}?create_members=true"),
        csv,
        "text/csv; charset=utf-8",
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"rows": 5, "recorded": 4, "duplicates": 1, "empty_rows": 1,
               "members_created": ["grace@example.org"]})
    );
    let day = d.dones(team, "2026-03-03").await;
    assert_eq!(
        texts(&Value::Array(day.clone())),
        ["review", "deploy", "write the docs"]
    );
    assert_eq!(
        (&day[2]["kind"], &day[0]["source"]),
        (&json!("goal"), &json!("import"))
    );
    assert_eq!(
        d.dones(team, "2026-03-02").await[0]["member_id"],
        json!(ada)
    );

    // Again: nothing new.
    let (status, v) = post_csv(&d, &format!("{path}?create_members=true"), csv, "text/csv").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((&v["recorded"], &v["duplicates"]), (&json!(0), &json!(4)));

    // Searchable like any done (the index follows storage's change log).
    assert!(
        d.server.app.search.wait_caught_up(common::WAIT).unwrap(),
        "the index caught up in time"
    );
    let (_, found) = d
        .get(&format!("/api/v1/teams/{team}/search?q=importer"))
        .await;
    assert!(
        found["results"].as_array().is_some_and(|r| !r.is_empty()),
        "found: {found}"
    );
    assert_eq!(found["results"][0]["source"], "import");

    // Not CSV, no date column.
    let (status, _) = post_csv(&d, &path, "{}", "application/json").await;
    assert_eq!(status, 415);
    let (status, v) = post_csv(&d, &path, "email,text\nada@example.org,x\n", "text/csv").await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (400, &json!("invalid_import"))
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no date column"),
        "{v}"
    );
    d.stop().await;
}
