//! API tokens: a token scoped to one team sees only that team, on every route the OpenAPI
//! document lists; tokens are listed, revoked and expire; /metrics and backups are not public.

mod common;

use common::{Donebot, NEW_YORK, local};
use serde_json::json;

/// `method path` with `token`, a JSON body for writes; status and body text.
async fn call(d: &Donebot, token: &str, method: &str, path: &str) -> (u16, String) {
    let url = d.url(&format!("/api/v1{path}"));
    let req = match method {
        "get" => d.http.get(url),
        "post" => d.http.post(url).json(&json!({})),
        "patch" => d.http.patch(url).json(&json!({"text": "x"})),
        "delete" => d.http.delete(url),
        other => panic!("no such method {other}"),
    };
    let resp = req
        .bearer_auth(token)
        .send()
        .await
        .expect("the API answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

async fn scoped_token(d: &Donebot, team: &str) -> String {
    let (status, v) = d
        .post(
            "/api/v1/tokens",
            Some(json!({ "team": team, "label": "scoped" })),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["admin"], json!(false));
    v["token"].as_str().expect("the token").to_string()
}

#[actix_rt::test]
async fn a_team_token_gets_403_or_404_on_every_route_but_its_teams() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let alpha = d.create_team("Alpha", "America/New_York").await;
    let bravo = d.create_team("Bravo", "America/New_York").await;
    d.add_member(alpha, "Ada", "ada@alpha.example").await;
    let bob = d.add_member(bravo, "Bob", "bob@bravo-secret.example").await;
    let token = scoped_token(&d, "Alpha").await;

    let (_, doc) = d.get("/api/v1/openapi.json").await;
    let paths = doc["paths"].as_object().expect("paths");
    let mut tried = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            // The document itself needs no token.
            if op["security"] == json!([{}]) {
                continue;
            }
            // Another team, by id and by name; members and dones of that team.
            for team in [bravo.to_string(), "Bravo".to_string()] {
                let concrete = path
                    .replace("{team}", &team)
                    .replace("{member}", &bob.to_string())
                    .replace("{done}", "1")
                    .replace("{id}", "1");
                let (status, body) = call(&d, &token, method, &concrete).await;
                tried += 1;
                assert!(
                    status == 403 || status == 404,
                    "{method} {concrete}: {status} {body}"
                );
                assert!(
                    !body.contains("bob@bravo-secret.example") && !body.contains("Bravo\""),
                    "{method} {concrete} leaked: {body}"
                );
            }
        }
    }
    assert!(tried >= 30, "only {tried} requests");

    // Its own team works.
    let (status, body) = call(&d, &token, "get", &format!("/teams/{alpha}/members")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ada@alpha.example"), "{body}");
    let (status, _) = call(&d, &token, "get", "/teams/Alpha/dones?date=2026-03-09").await;
    assert_eq!(status, 200);
    // Metrics are not a team's.
    let metrics = d
        .http
        .get(d.url("/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status().as_u16(), 403);
    d.stop().await;
}

#[actix_rt::test]
async fn tokens_are_listed_revoked_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let alpha = d.create_team("Alpha", "America/New_York").await;
    let (status, v) = d
        .post(
            "/api/v1/tokens",
            Some(json!({ "team": "Alpha", "label": "weekly", "expires_in_days": 7 })),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let expiring = v["token"].as_str().unwrap().to_string();
    let expiring_id = v["id"].as_u64().unwrap();
    assert_eq!(v["team_id"], json!(alpha));
    let revoked = scoped_token(&d, "Alpha").await;
    let members = format!("/teams/{alpha}/members");
    assert_eq!(call(&d, &revoked, "get", &members).await.0, 200);

    let (status, list) = d.get("/api/v1/tokens").await;
    assert_eq!(status, 200);
    let list = list["items"].as_array().expect("a list").clone();
    assert!(list.iter().all(|t| t.get("token").is_none()), "{list:?}");
    let revoked_id = list
        .iter()
        .filter(|t| t["team_id"] == json!(alpha))
        .map(|t| t["id"].as_u64().unwrap())
        .find(|id| *id != expiring_id)
        .expect("the second scoped token");
    let resp = d
        .http
        .delete(d.url(&format!("/api/v1/tokens/{revoked_id}")))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(call(&d, &revoked, "get", &members).await.0, 401);
    // A team token cannot list or make tokens.
    assert_eq!(call(&d, &expiring, "get", "/tokens").await.0, 403);
    assert_eq!(call(&d, &expiring, "post", "/tokens").await.0, 403);

    // Eight days later the weekly token is refused.
    assert_eq!(call(&d, &expiring, "get", &members).await.0, 200);
    d.clock.advance(chrono::Duration::days(8));
    assert_eq!(call(&d, &expiring, "get", &members).await.0, 401);
    d.stop().await;
}

#[actix_rt::test]
async fn metrics_need_a_token_and_backups_stay_in_their_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let anonymous = d.http.get(d.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(d.metrics().await.contains("donebot_outbox_queued"));

    // No [web] backup_dir in the test config: backups through the API are off.
    let elsewhere = dir.path().join("elsewhere");
    let (status, v) = d
        .post(
            "/api/v1/backups",
            Some(json!({ "dir": elsewhere.display().to_string() })),
        )
        .await;
    assert_eq!(status, 403, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("[web] backup_dir"),
        "{v}"
    );
    assert!(!elsewhere.exists());
    d.stop().await;
}
