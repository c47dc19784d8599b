//! The mail queues through the API, for operators (and for `donebot outbox …` / `inbound list`
//! while a server runs): counts per state, the lists (filtered, bounded, never a body), a retry,
//! and their errors in the one error shape; admin only.

mod common;

use common::{Donebot, NEW_YORK, local, plain_mail};
use donebot::events::Event;
use serde_json::{Value, json};
use storage::OutboxKind;

#[actix_rt::test]
async fn outbox_and_inbound_are_listed_for_admins_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-12-09", 12, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.org").await;
    d.wait_for("the welcome email", |e| match e {
        Event::EmailSent {
            kind: OutboxKind::Welcome,
            ..
        } => Some(()),
        _ => None,
    })
    .await;

    // The outbox announces a send only once its round has recorded (and flushed) the outcome.
    let (status, v) = d.get("/api/v1/outbox").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["sending"], 0, "{v}");
    assert_eq!(
        (&v["sent"], &v["queued"], &v["failed"], &v["oldest_due"]),
        (&json!(1), &json!(0), &json!(0), &Value::Null)
    );
    let (status, v) = d.get("/api/v1/outbox/messages?state=sent").await;
    assert_eq!(status, 200, "{v}");
    let list = v["items"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(
        (
            &list[0]["kind"],
            &list[0]["channel"],
            &list[0]["to"],
            &list[0]["state"]
        ),
        (
            &json!("welcome"),
            &json!("email"),
            &json!(["ada@example.org"]),
            &json!("sent")
        )
    );
    assert!(list[0].get("body").is_none() && list[0].get("raw").is_none());
    let (_, v) = d.get("/api/v1/outbox/messages?state=failed").await;
    assert_eq!(v, json!({"items": [], "next": null}));

    for (query, says) in [
        (
            "state=bogus",
            "unknown state \"bogus\" (expected one of: queued, sending, sent, deferred, failed)",
        ),
        ("limit=0", "limit must be between 1 and 1000"),
    ] {
        let (status, v) = d.get(&format!("/api/v1/outbox/messages?{query}")).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"], json!({"code": "invalid", "message": says}));
    }

    // Only a failed or deferred message can be retried.
    let id = list[0]["id"].as_u64().unwrap();
    let (status, v) = d
        .post(&format!("/api/v1/outbox/messages/{id}/retry"), None)
        .await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (409, &json!("conflict")),
        "{v}"
    );
    let (status, v) = d.post("/api/v1/outbox/messages/999999/retry", None).await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (404, &json!("not_found")),
        "{v}"
    );

    // A stranger's mail is kept as failed, with the reason, and listed (never its body).
    let raw = plain_mail(
        "eve@evil.example",
        "donebot@done.example.com",
        "e1@evil.example",
        "hi",
    );
    let inbound = d
        .post_inbound("eve@evil.example", "donebot@done.example.com", raw)
        .await;
    assert!(d.inbound_outcome(inbound).await.is_err());
    let (status, v) = d.get("/api/v1/inbound?failed=true").await;
    assert_eq!(status, 200, "{v}");
    let list = v["items"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(
        (&list[0]["id"], &list[0]["state"], &list[0]["mail_from"]),
        (
            &json!(inbound),
            &json!("failed"),
            &json!("eve@evil.example")
        )
    );
    assert!(
        list[0]["detail"]
            .as_str()
            .unwrap()
            .contains("eve@evil.example"),
        "{v}"
    );

    // A team's token sees none of it.
    let (team_token, _) = donebot::ops::create_scoped_token(
        &d.server.app.store,
        donebot::ops::TokenScope {
            admin: false,
            team: Some(team),
            expires_at: None,
        },
        "team",
        d.server.app.now(),
    )
    .unwrap();
    for path in [
        "/api/v1/outbox",
        "/api/v1/outbox/messages",
        "/api/v1/inbound",
    ] {
        let resp = d
            .http
            .get(d.url(path))
            .bearer_auth(&team_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{path}");
    }

    // Described in the OpenAPI document.
    let (_, doc) = d.get("/api/v1/openapi.json").await;
    for (path, method) in [
        ("/outbox", "get"),
        ("/outbox/messages", "get"),
        ("/outbox/messages/{id}/retry", "post"),
        ("/inbound", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    let _ = ada;
    d.stop().await;
}
