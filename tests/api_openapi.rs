//! The OpenAPI document the server serves is the generated one, and over the wire every
//! operation it describes is routed: called with its path filled in, none answers "no such path"
//! or "method not allowed". (`web::api::openapi::tests` checks the converse: every route the
//! router serves is described, and every `$ref` resolves.)

mod common;

use common::{Donebot, NEW_YORK, local};
use serde_json::{Value, json};

#[actix_rt::test]
async fn every_described_operation_is_routed() {
    let dir = tempfile::tempdir().unwrap();
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.org").await;

    // Public, and the generated document (3.1, with the bearer scheme and the error shape).
    let doc: Value = d
        .http
        .get(d.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"], json!([{"url": "/api/v1"}]));
    assert!(doc["components"]["schemas"]["Error"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let mut called = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path
                .replace("{team}", &team.to_string())
                .replace("{member}", &ada.to_string())
                .replace("{done}", "1")
                .replace("{id}", "1");
            let req = match method.as_str() {
                "get" => d.http.get(d.url(&format!("/api/v1{concrete}"))),
                "post" => d.http.post(d.url(&format!("/api/v1{concrete}"))),
                "patch" => d.http.patch(d.url(&format!("/api/v1{concrete}"))),
                "delete" => d.http.delete(d.url(&format!("/api/v1{concrete}"))),
                other => panic!("{other} {path}: an unexpected method"),
            };
            // No body: the handlers refuse it as invalid, after routing.
            let resp = req.bearer_auth(&d.token).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert_ne!(status, 405, "{method} {concrete}: {body}");
            assert!(
                !message.starts_with("no such path"),
                "{method} {concrete} is not routed: {body}"
            );
            assert!(status < 500, "{method} {concrete}: {status} {body}");
            called += 1;
        }
    }
    assert!(called >= 29, "only {called} operations");
    d.stop().await;
}
