//! Every error answer has one shape: `{"error": {"code": "...", "message": "..."}}` with the right
//! status, on every route and for every kind of mistake (unknown path, wrong method, bad JSON, bad
//! query, too large, wrong content type, unknown record, no token); the pages people open from an
//! email answer their errors in HTML.

mod common;

use common::{Donebot, NEW_YORK, local};
use reqwest::{Method, Response};
use serde_json::Value;

async fn start(dir: &std::path::Path) -> Donebot {
    Donebot::start(dir, None, local(NEW_YORK, "2026-03-09", 12, 0)).await
}

/// The status, `code`, `message` and `Allow` header of a JSON error answer; panics on any other
/// shape.
async fn json_error(resp: Response) -> (u16, String, String, Option<String>) {
    let status = resp.status().as_u16();
    let allow = resp
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "status {status}: {text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    let error = v["error"].as_object().expect("an error object");
    assert_eq!(error.len(), 2, "{v}");
    let field = |k: &str| error[k].as_str().expect(k).to_owned();
    (status, field("code"), field("message"), allow)
}

#[actix_rt::test]
async fn unknown_paths_and_wrong_methods_answer_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path()).await;
    let send = |method: Method, path: &str| {
        d.http
            .request(method, d.url(path))
            .bearer_auth(&d.token)
            .send()
    };

    for path in ["/nope", "/api/v1/nope", "/api/v1", "/api/v1/teams/1/nope/2"] {
        let (status, code, message, _) = json_error(send(Method::GET, path).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (404, "not_found"), "{path}");
        assert!(message.contains(path), "{message}");
    }

    let (status, code, message, allow) =
        json_error(send(Method::PUT, "/api/v1/teams").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (405, "method_not_allowed"));
    let mut allowed: Vec<&str> = allow.as_deref().unwrap().split(", ").collect();
    allowed.sort();
    assert_eq!(allowed, ["GET", "POST"]);
    assert!(
        message.contains("PUT") && message.contains("/api/v1/teams"),
        "{message}"
    );

    let (status, code, _, allow) =
        json_error(send(Method::DELETE, "/healthz").await.unwrap()).await;
    assert_eq!(
        (status, code.as_str(), allow.as_deref()),
        (405, "method_not_allowed", Some("GET"))
    );

    // A path parameter of the wrong type names no record: not found.
    let (status, code, _, _) =
        json_error(send(Method::DELETE, "/api/v1/tokens/abc").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    d.stop().await;
}

#[actix_rt::test]
async fn bad_bodies_answer_json_with_their_own_status() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path()).await;
    let post = |body: Vec<u8>, content_type: &str| {
        d.http
            .post(d.url("/api/v1/teams"))
            .bearer_auth(&d.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let (status, code, message, _) = json_error(
        post(b"{\"name\": ".to_vec(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_json"));
    assert!(message.starts_with("invalid JSON body"), "{message}");

    let (status, code, message, _) = json_error(
        post(b"{\"name\": 7}".to_vec(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_json"), "{message}");

    let (status, code, _, _) =
        json_error(post(b"name=Core".to_vec(), "text/plain").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (415, "unsupported_media_type"));

    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(3 << 20));
    let (status, code, message, _) =
        json_error(post(big.into_bytes(), "application/json").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    assert!(message.contains("1048576 bytes"), "{message}");

    // A route that reads raw bytes (inbound mail) has the payload limit of its config.
    let limit = d.server.app.settings.inbound_max_bytes;
    let resp = d
        .http
        .post(d.url("/inbound/email"))
        .bearer_auth(common::RAW_SECRET)
        .body(vec![b'a'; limit + 1])
        .send()
        .await
        .unwrap();
    let (status, code, _, _) = json_error(resp).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    d.stop().await;
}

#[actix_rt::test]
async fn bad_queries_unknown_records_and_missing_tokens_answer_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path()).await;
    let team = d.create_team("Core", "America/New_York").await;
    let get = |path: String| d.http.get(d.url(&path)).bearer_auth(&d.token).send();

    let (status, code, message, _) = json_error(
        get(format!("/api/v1/teams/{team}/dones?date=yesterday"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_query"));
    assert!(message.starts_with("invalid query string"), "{message}");

    let (status, code, _, _) = json_error(
        get(format!("/api/v1/teams/{team}/dones?colour=red"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_query"));

    let (status, code, message, _) =
        json_error(get("/api/v1/teams/Nope".into()).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert!(message.contains("Nope"), "{message}");

    let resp = d.http.get(d.url("/api/v1/teams")).send().await.unwrap();
    let (status, code, _, _) = json_error(resp).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    d.stop().await;
}

#[actix_rt::test]
async fn link_pages_answer_their_errors_in_html() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path()).await;
    for (method, path, want) in [
        (Method::GET, "/unsubscribe/not-a-token", 404),
        (Method::POST, "/unsubscribe/not-a-token", 404),
        (Method::GET, "/pause/not-a-token", 404),
        (Method::PUT, "/pause/not-a-token", 405),
    ] {
        let resp = d.http.request(method, d.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), want, "{path}");
        assert_eq!(
            resp.headers()["content-type"],
            "text/html; charset=utf-8",
            "{path}"
        );
        let html = resp.text().await.unwrap();
        assert!(html.starts_with("<!doctype html>"), "{html}");
        assert!(!html.contains("{\"error\""), "{html}");
        if want == 404 {
            assert!(html.contains("This link does not work"), "{html}");
        }
    }
    d.stop().await;
}

#[actix_rt::test]
async fn the_pause_page_refuses_a_day_already_past_in_html() {
    let dir = tempfile::tempdir().unwrap();
    // Wednesday 9 December 2026 in New York.
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-12-09", 12, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    let url = d.url(&format!(
        "/pause/{}",
        d.server.app.signer.link_token("pause", ada)
    ));

    let resp = d
        .http
        .post(&url)
        .form(&[("until", "2026-12-08")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    let html = resp.text().await.unwrap();
    assert!(html.contains("2026-12-08 has already passed"), "{html}");
    assert_eq!(d.member(team, ada).await["state"], "active");

    let resp = d
        .http
        .post(&url)
        .form(&[("until", "2026-12-11")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("through Friday 11 December 2026 (2026-12-11)"),
        "{html}"
    );
    assert!(html.contains("no daily question, no digest"), "{html}");
    let m = d.member(team, ada).await;
    assert_eq!(
        (&m["state"], &m["paused_until"]),
        (
            &serde_json::json!("paused"),
            &serde_json::json!("2026-12-11")
        )
    );
    d.stop().await;
}
