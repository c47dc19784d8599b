//! The fake's HTTP side: accept connections, route `/api/<method>` and `/commands/...`, read
//! parameters and the bearer token.
//!
//! Owns: the request handler of the HTTP/1 server on the listener ([`crate::fake_http`]), turning a request into `(method, token, params)`
//! where params is one JSON object whatever the encoding (query string — slack-morphism sends
//! `users.info`, `users.lookupByEmail` and `auth.test` as GETs — a JSON body, or a urlencoded form),
//! and writing the answer (with `Retry-After` on a 429) or dropping the connection. It is not the
//! Web API ([`super::api`]).
//!
//! Invariant: the accept loop ([`crate::fake_http::serve`]) owns every connection task, so aborting
//! the loop closes them all.

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value};
use tokio::net::TcpListener;

use crate::fake_http::Dropped;

use super::api::{Answer, Params, State};

pub(super) async fn serve(listener: TcpListener, state: Arc<State>) {
    crate::fake_http::serve(listener, state, handle).await;
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(CONTENT_TYPE).unwrap_or_default();
    let token = header(AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned));
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let params = match params(query.as_deref(), &content_type, &body) {
        Ok(params) => Params(params),
        Err(_) => return respond(Answer::error("invalid_form_data")),
    };
    let answer = if let Some(method) = path.strip_prefix("/api/") {
        state.call(method, token.as_deref(), params)
    } else if path.starts_with("/commands/") {
        state.respond(&path, params)
    } else {
        Answer::Text(404, "text/html", "Not Found".into())
    };
    respond(answer)
}

fn respond(answer: Answer) -> Result<Response<Full<Bytes>>, Dropped> {
    let (status, content_type, body, retry_after) = match answer {
        Answer::Drop => return Err(Dropped),
        Answer::Json(status, value, retry_after) => (
            status,
            "application/json; charset=utf-8",
            value.to_string(),
            retry_after,
        ),
        Answer::Text(status, content_type, body) => (status, content_type, body, None),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(seconds) = retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    Ok(response)
}

fn params(
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Result<Map<String, Value>, String> {
    let mut params = Map::new();
    let form = |bytes: &[u8], params: &mut Map<String, Value>| {
        for (k, v) in url::form_urlencoded::parse(bytes) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    };
    if let Some(query) = query {
        form(query.as_bytes(), &mut params);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => params.extend(object),
            Ok(_) => return Err("the JSON body is not an object".into()),
            Err(e) => return Err(format!("invalid JSON body: {e}")),
        }
    } else {
        form(body, &mut params);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_json_and_form_parameters_merge() {
        let p = params(
            Some("user=U1"),
            "application/json; charset=utf-8",
            br#"{"channel": "C1", "blocks": []}"#,
        )
        .unwrap();
        assert_eq!(
            (p["user"].as_str(), p["channel"].as_str()),
            (Some("U1"), Some("C1"))
        );
        assert_eq!(p["blocks"], Value::Array(Vec::new()));
        let p = params(
            None,
            "application/x-www-form-urlencoded",
            b"text=a+b&channel=C1",
        )
        .unwrap();
        assert_eq!(p["text"], "a b");
        assert!(params(None, "application/json", b"[1]").is_err());
    }
}
