//! Search over the wire: a reply's dones are found through `GET /api/v1/teams/{team}/search` as
//! soon as the index says it has them, edits show, filters filter, a bad query is a 400 with a
//! reason, and the OpenAPI document describes the route.

mod common;

use common::{Donebot, NEW_YORK, WAIT, local, reply_mail};
use donebot::events::Event;
use serde_json::Value;

/// Waits (off the async runtime's thread) until every write so far is searchable.
async fn indexed(d: &Donebot) {
    let search = d.server.app.search.clone();
    let seq = d.server.app.store.change_seq();
    let caught_up = tokio::task::spawn_blocking(move || search.wait_indexed(seq, WAIT))
        .await
        .unwrap()
        .unwrap();
    assert!(caught_up, "the search index caught up in time");
}

async fn search(d: &Donebot, team: u64, query: &str) -> (u16, Value) {
    d.get(&format!("/api/v1/teams/{team}/search?{query}")).await
}

fn texts(v: &Value) -> Vec<&str> {
    v["results"]
        .as_array()
        .expect("a result list")
        .iter()
        .map(|h| h["text"].as_str().unwrap())
        .collect()
}

#[actix_rt::test]
async fn replies_are_searchable_by_words_member_date_and_tag() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 19, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    d.add_member(team, "Bob", "bob@example.com").await;
    for (from, mid, body) in [
        (
            "ada@example.com",
            "r1@example.com",
            "- shipped the Café <menu>\n- fixed billing #Release",
        ),
        (
            "bob@example.com",
            "r2@example.com",
            "- shipped the billing export",
        ),
    ] {
        let raw = common::authenticated(reply_mail(
            from,
            "donebot@done.example.com",
            mid,
            body,
            "Mon, 9 Mar 2026 19:00:00 -0400",
        ));
        let resp = d
            .http
            .post(d.url("/inbound/email"))
            .bearer_auth(common::RAW_SECRET)
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        d.wait_for("dones", |e| {
            matches!(e, Event::DonesRecorded { .. }).then_some(())
        })
        .await;
    }
    indexed(&d).await;

    let (status, v) = search(&d, team, "q=cafe").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["total"], 1);
    assert_eq!(v["results"][0]["member_id"].as_u64(), Some(ada));
    assert_eq!(v["results"][0]["date"], "2026-03-09");
    assert_eq!(
        v["results"][0]["snippet"],
        "shipped the <b>Café</b> &lt;menu&gt;"
    );
    // UTF-8 byte offsets of "Café" in the text.
    assert_eq!(
        v["results"][0]["highlights"],
        serde_json::json!([{"start": 12, "end": 17}])
    );
    assert_eq!(v["next"], Value::Null, "one page only");
    assert!(v["results"][0]["score"].as_f64().unwrap() > 0.0);

    let (_, v) = search(&d, team, "q=billing").await;
    assert_eq!(texts(&v).len(), 2);
    let (_, v) = search(&d, team, "q=billing&member=ada%40example.com").await;
    assert_eq!(texts(&v), ["fixed billing #Release"]);
    let (_, v) = search(&d, team, "tag=release").await;
    assert_eq!(texts(&v), ["fixed billing #Release"]);
    let (_, v) = search(&d, team, "q=shipped&from=2026-03-10").await;
    assert_eq!(v["total"], 0);
    let (_, v) = search(&d, team, "q=shipped&limit=1").await;
    assert_eq!((v["total"].as_u64(), texts(&v).len()), (Some(2), 1));
    let cursor = v["next"].as_str().expect("a next page");
    let (status, next) = search(&d, team, &format!("q=shipped&limit=1&cursor={cursor}")).await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(texts(&next).len(), 1);
    assert_ne!(texts(&next), texts(&v), "the second page is the other done");
    assert_eq!(next["next"], Value::Null, "and the last");
    let (status, bad) = search(&d, team, &format!("q=billing&cursor={cursor}")).await;
    assert_eq!(status, 400, "a cursor of another search: {bad}");
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("cursor"),
        "{bad}"
    );

    // Phrases, prefixes, ranking.
    let (_, v) = search(&d, team, "q=%22billing%20export%22").await;
    assert_eq!(texts(&v), ["shipped the billing export"]);
    let (_, v) = search(&d, team, "q=bill*").await;
    assert_eq!(
        texts(&v),
        ["shipped the billing export", "fixed billing #Release"],
        "a prefix scores flat: the newest first"
    );
    assert_eq!(
        v["results"][0]["highlights"],
        serde_json::json!([{"start": 12, "end": 19}])
    );
    let (_, v) = search(&d, team, "q=billing").await;
    assert_eq!(
        texts(&v),
        ["fixed billing #Release", "shipped the billing export"],
        "words rank best first: the shorter text, though older"
    );

    // An edit replaces the words the done is found by.
    let id = search(&d, team, "q=cafe").await.1["results"][0]["id"]
        .as_u64()
        .unwrap();
    let resp = d
        .http
        .patch(d.url(&format!("/api/v1/teams/{team}/dones/{id}")))
        .bearer_auth(&d.token)
        .json(&serde_json::json!({"text": "shipped the tea menu"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    indexed(&d).await;
    assert_eq!(search(&d, team, "q=cafe").await.1["total"], 0);
    assert_eq!(
        texts(&search(&d, team, "q=tea").await.1),
        ["shipped the tea menu"]
    );

    let (status, v) = search(&d, team, "q=%22unclosed").await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot read the search"),
        "{v}"
    );
    let (status, _) = search(&d, team, "q=x&limit=0").await;
    assert_eq!(status, 400);
    let resp = d
        .http
        .get(d.url(&format!("/api/v1/teams/{team}/search?q=billing")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "a token is needed");

    let metrics = d.metrics().await;
    assert!(
        metrics.contains("donebot_search_lag_seconds 0\n"),
        "{metrics}"
    );
    d.stop().await;
}

#[actix_rt::test]
async fn openapi_describes_search() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let (_, doc) = d.get("/api/v1/openapi.json").await;
    let op = &doc["paths"]["/teams/{team}/search"]["get"];
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .expect("search is described")
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        [
            "team", "q", "member", "from", "to", "tag", "kind", "limit", "offset", "cursor"
        ]
    );
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/SearchResults"
    );
    assert!(doc["components"]["schemas"]["SearchResults"].is_object());
    d.stop().await;
}

#[actix_rt::test]
async fn a_huge_offset_is_a_clear_400_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let (status, body) = search(&d, team, "offset=1000000000").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("offset must be at most 10000"),
        "{body}"
    );
    let (status, body) = search(&d, team, "limit=1000000000").await;
    assert_eq!(status, 400, "{body}");
    // The deepest allowed page still answers.
    assert_eq!(search(&d, team, "offset=10000&limit=200").await.0, 200);
    d.stop().await;
}
