//! The JSON API beyond the email loop: editing and deleting dones, exports, authentication, and
//! an OpenAPI document that lists every route the server has.

mod common;

use common::{Donebot, NEW_YORK, local, reply_mail};
use donebot::events::Event;
use serde_json::json;

async fn with_dones(dir: &std::path::Path) -> (Donebot, u64) {
    let mut d = Donebot::start(dir, None, local(NEW_YORK, "2026-03-09", 19, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    d.add_member(team, "Ada", "ada@example.com").await;
    let raw = common::authenticated(reply_mail(
        "ada@example.com",
        "donebot@done.example.com",
        "r1@example.com",
        "- shipped, \"v2\"\n=SUM(A1)\ngoal: docs #writing",
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
    (d, team)
}

#[actix_rt::test]
async fn dones_are_edited_deleted_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let (d, team) = with_dones(dir.path()).await;
    let dones = d.dones(team, "2026-03-09").await;
    assert_eq!(dones.len(), 3);
    let id = dones[0]["id"].as_u64().unwrap();

    let resp = d
        .http
        .patch(d.url(&format!("/api/v1/teams/{team}/dones/{id}")))
        .bearer_auth(&d.token)
        .json(&serde_json::json!({"text": "blocker: waiting on #legal"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let edited: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (edited["text"].as_str(), edited["kind"].as_str()),
        (Some("waiting on #legal"), Some("blocker"))
    );
    assert_eq!(edited["tags"], serde_json::json!(["legal"]));

    let gone = dones[1]["id"].as_u64().unwrap();
    let resp = d
        .http
        .delete(d.url(&format!("/api/v1/teams/{team}/dones/{gone}")))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = d
        .http
        .delete(d.url(&format!("/api/v1/teams/{team}/dones/{gone}")))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "a deleted done is gone");
    let texts: Vec<String> = d
        .dones(team, "2026-03-09")
        .await
        .iter()
        .map(|d| d["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["waiting on #legal", "docs #writing"]);

    let csv = d
        .http
        .get(d.url(&format!("/api/v1/teams/{team}/export?format=csv")))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,date,member_id,member,email,kind,text,tags,mentions,source,created_at"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].contains(",2026-03-09,")
            && lines[1].contains(",Ada,ada@example.com,blocker,waiting on #legal,legal,,email,"),
        "{}",
        lines[1]
    );

    let json: serde_json::Value = d
        .http
        .get(d.url(&format!(
            "/api/v1/teams/{team}/export?from=2026-03-09&to=2026-03-09"
        )))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[1]["member"], "Ada");
    assert_eq!(json[1]["kind"], "goal");
    d.stop().await;
}

#[actix_rt::test]
async fn csv_export_quotes_and_defuses_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let (d, team) = with_dones(dir.path()).await;
    let csv = d
        .http
        .get(d.url(&format!("/api/v1/teams/{team}/export?format=csv")))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains(",\"shipped, \"\"v2\"\"\","), "{csv}");
    assert!(csv.contains(",'=SUM(A1),"), "{csv}");
    d.stop().await;
}

#[actix_rt::test]
async fn the_api_wants_an_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let no_token = d.http.get(d.url("/api/v1/teams")).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    let wrong = d
        .http
        .get(d.url("/api/v1/teams"))
        .bearer_auth("dbt_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown token")
    );
    let (status, _) = d
        .post(
            "/api/v1/teams",
            Some(serde_json::json!({"name": "X", "timezone": "Mars/Base"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        d.http.get(d.url("/healthz")).send().await.unwrap().status(),
        200
    );
    d.stop().await;
}

#[actix_rt::test]
async fn openapi_describes_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let doc: serde_json::Value = d
        .http
        .get(d.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/teams", "post"),
        ("/teams", "get"),
        ("/teams/{team}", "get"),
        ("/teams/{team}", "patch"),
        ("/teams/{team}/members", "post"),
        ("/teams/{team}/members", "get"),
        ("/teams/{team}/members/{member}", "patch"),
        ("/teams/{team}/members/{member}", "delete"),
        ("/teams/{team}/members/{member}/link-codes", "post"),
        ("/teams/{team}/connect-codes", "post"),
        ("/teams/{team}/prompts", "post"),
        ("/teams/{team}/digests", "post"),
        ("/teams/{team}/dones", "get"),
        ("/teams/{team}/dones/{done}", "patch"),
        ("/teams/{team}/dones/{done}", "delete"),
        ("/teams/{team}/export", "get"),
        ("/tokens", "post"),
        ("/backups", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not described"
        );
    }
    d.stop().await;
}

#[actix_rt::test]
async fn a_reply_token_expires_thirty_days_after_its_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 18, 30)).await;
    let team = d.create_team("Core", "America/New_York").await;
    d.add_member(team, "Ada", "ada@example.com").await;
    let (status, v) = d.post(&format!("/api/v1/teams/{team}/prompts"), None).await;
    assert_eq!((status, v["sent"].as_u64()), (200, Some(1)));
    d.wait_for("the prompt email", |e| {
        matches!(
            e,
            Event::EmailSent {
                kind: storage::OutboxKind::Prompt,
                ..
            }
        )
        .then_some(())
    })
    .await;
    let prompt = common::eml_files(&dir.path().join("outbox-eml"))
        .into_iter()
        .find(|m| m.header("X-Donebot-Kind").as_deref() == Some("prompt"))
        .expect("the prompt .eml");
    let reply_to = prompt.reply_to();

    // 31 days later, from another address so that only the token could match it.
    d.clock.advance(chrono::Duration::days(31));
    let raw = common::authenticated(reply_mail(
        "someone@else.example",
        &reply_to,
        "late@example.com",
        "very late work",
        "Fri, 10 Apr 2026 09:00:00 -0400",
    ));
    let resp = d
        .http
        .post(d.url("/inbound/email"))
        .bearer_auth(common::RAW_SECRET)
        .header("X-Envelope-To", reply_to.as_str())
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "accepted into the log first");
    let error = d
        .wait_for("the refusal", |e| match e {
            Event::InboundFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .await;
    assert!(error.contains("expired"), "{error}");
    assert!(d.dones(team, "2026-03-09").await.is_empty());
    d.stop().await;
}

/// An admin manages a member: name, zone, pause (not into the past), resume, unsubscribe; the
/// forbidden and the impossible are refused with the reason.
#[actix_rt::test]
async fn an_admin_changes_a_member() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    let path = format!("/api/v1/teams/{team}/members/{ada}");
    let (status, v) = d
        .patch(
            &path,
            json!({"name": "Ada Lovelace", "timezone": "Europe/London", "state": "paused", "paused_until": "2026-03-20"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (&v["name"], &v["timezone"], &v["state"], &v["paused_until"]),
        (
            &json!("Ada Lovelace"),
            &json!("Europe/London"),
            &json!("paused"),
            &json!("2026-03-20")
        )
    );
    for (bad, why) in [
        (
            json!({"state": "paused", "paused_until": "2026-03-01"}),
            "already passed",
        ),
        (json!({"paused_until": "2026-03-30"}), "only with"),
        (json!({"state": "sleeping"}), "expected"),
        (json!({"timezone": "Mars/Olympus"}), "time zone"),
        (json!({"name": "  "}), "empty"),
    ] {
        let (status, v) = d.patch(&path, bad.clone()).await;
        assert_eq!(status, 400, "{bad} → {v}");
        assert!(v.to_string().contains(why), "{bad} → {v}");
    }
    let (status, v) = d
        .patch(&path, json!({"state": "active", "timezone": null}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (&v["state"], &v["timezone"]),
        (&json!("active"), &json!(null))
    );
    let (status, v) = d.patch(&path, json!({"state": "unsubscribed"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(d.member(team, ada).await["state"], "unsubscribed");
    // Another team's member is not this team's to change.
    let other = d.create_team("Other", "UTC").await;
    let (status, _) = d
        .patch(
            &format!("/api/v1/teams/{other}/members/{ada}"),
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(status, 404);
    d.stop().await;
}

/// An admin changes a team's schedules, zone, working days, holidays and digest email; a bad
/// value is refused with its key and changes nothing.
#[actix_rt::test]
async fn an_admin_changes_a_teams_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let path = format!("/api/v1/teams/{team}");
    let (status, v) = d
        .patch(
            &path,
            json!({"timezone": "Europe/Berlin", "prompt_cron": "30 17 * * 1-4",
                "digest_cron": "0 8 * * 1-5", "working_days": "mon-thu",
                "holidays": ["2026-12-25", "2026-12-24", "2026-12-25"], "digest_to_email": false}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["timezone"], "Europe/Berlin");
    assert_eq!(v["prompt_cron"], "30 17 * * 1-4");
    assert_eq!(v["working_days"], json!(["Mon", "Tue", "Wed", "Thu"]));
    assert_eq!(v["holidays"], json!(["2026-12-24", "2026-12-25"]));
    for (bad, key) in [
        (json!({"prompt_cron": "61 18 * * *"}), "prompt_cron"),
        (json!({"working_days": "someday"}), "working_days"),
        (
            json!({"timezone": "Nowhere/Land", "prompt_cron": "0 9 * * *"}),
            "time zone",
        ),
        (json!({"working_days": ["Mon", "Funday"]}), "working_days"),
    ] {
        let (status, v) = d.patch(&path, bad.clone()).await;
        assert_eq!(status, 400, "{bad} → {v}");
        assert!(v.to_string().contains(key), "{bad} → {v}");
    }
    let (_, v) = d.get(&path).await;
    assert_eq!(
        v["prompt_cron"], "30 17 * * 1-4",
        "unchanged by the refused ones"
    );
    d.stop().await;
}
