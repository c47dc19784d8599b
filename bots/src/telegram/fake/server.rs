//! The fake's HTTP side: accept connections, route `/bot<TOKEN>/<method>`, read parameters.
//!
//! Owns: the request handler of the HTTP/1 server on the listener ([`crate::fake_http`]), turning a request into `(method, params)` where
//! params is one JSON object whatever the encoding (query string, JSON body, urlencoded form,
//! multipart/form-data — teloxide sends `SetWebhook` as multipart with nested objects as JSON
//! strings), and writing the answer or dropping the connection. It is not the Bot API ([`super::api`]).
//!
//! Invariant: the accept loop ([`crate::fake_http::serve`]) owns every connection task, so aborting
//! the loop closes them all, long polls included.

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value};
use tokio::net::TcpListener;

use crate::fake_http::Dropped;

use super::api::{Answer, State};

pub(super) async fn serve(listener: TcpListener, state: Arc<State>) {
    crate::fake_http::serve(listener, state, handle).await;
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let answer = match route(&path) {
        None => Answer::error(404, "Not Found"),
        Some((token, _)) if token != state.token => Answer::error(401, "Unauthorized"),
        Some((_, method)) => match params(query.as_deref(), &content_type, &body) {
            Ok(params) => state.call(&method, params).await,
            Err(problem) => Answer::error(400, &format!("Bad Request: {problem}")),
        },
    };
    match answer {
        Answer::Drop => Err(Dropped),
        Answer::Json(status, value) => Ok(respond(status, "application/json", value.to_string())),
        Answer::Html(status, page) => Ok(respond(status, "text/html", page)),
    }
}

fn respond(status: u16, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `/bot<token>/<method>` → `(token, lowercase method)`.
fn route(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/bot")?;
    let (token, method) = rest.split_once('/')?;
    if method.is_empty() || method.contains('/') {
        return None;
    }
    let token = url::form_urlencoded::parse(format!("t={token}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    Some((token, method.to_ascii_lowercase()))
}

fn params(
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Result<Map<String, Value>, String> {
    let mut params = Map::new();
    if let Some(query) = query {
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    match media_type.as_str() {
        "application/json" => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => params.extend(object),
            Ok(_) => return Err("the JSON body is not an object".into()),
            Err(e) => return Err(format!("invalid JSON body: {e}")),
        },
        "application/x-www-form-urlencoded" => {
            for (k, v) in url::form_urlencoded::parse(body) {
                params.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
        "multipart/form-data" => {
            let boundary = boundary(content_type).ok_or("multipart without a boundary")?;
            for (name, value) in multipart(body, &boundary)? {
                params.insert(name, Value::String(value));
            }
        }
        other => return Err(format!("unsupported content type {other:?}")),
    }
    Ok(params)
}

fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim_matches('"').to_owned())
    })
}

/// The text fields of a multipart/form-data body (files are not used by donebot).
fn multipart(body: &[u8], boundary: &str) -> Result<Vec<(String, String)>, String> {
    let body = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    let mut fields = Vec::new();
    for part in body.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let (headers, value) = part
            .split_once("\r\n\r\n")
            .ok_or("a multipart part without headers")?;
        let name = headers
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .find_map(|l| {
                l.split(';').find_map(|p| {
                    p.trim()
                        .strip_prefix("name=")
                        .map(|n| n.trim_matches('"').to_owned())
                })
            })
            .ok_or("a multipart part without a name")?;
        fields.push((name, value.strip_suffix("\r\n").unwrap_or(value).to_owned()));
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_case_insensitive_and_need_a_token() {
        assert_eq!(
            route("/bot1:abc/SendMessage"),
            Some(("1:abc".into(), "sendmessage".into()))
        );
        assert_eq!(route("/bot1:abc/"), None);
        assert_eq!(route("/foo"), None);
    }

    #[test]
    fn multipart_fields_are_read() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"url\"\r\n\r\nhttps://a/b\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"allowed_updates\"\r\n\r\n[\"message\"]\r\n--XyZ--\r\n";
        let p = params(None, "multipart/form-data; boundary=XyZ", body.as_bytes()).unwrap();
        assert_eq!(p["url"], "https://a/b");
        assert_eq!(p["allowed_updates"], "[\"message\"]");
    }

    #[test]
    fn form_json_and_query_merge() {
        let p = params(
            Some("offset=5"),
            "application/x-www-form-urlencoded",
            b"chat_id=1&text=a+b",
        )
        .unwrap();
        assert_eq!(
            (p["offset"].as_str(), p["text"].as_str()),
            (Some("5"), Some("a b"))
        );
        let p = params(None, "application/json", br#"{"chat_id": 1}"#).unwrap();
        assert_eq!(p["chat_id"], 1);
        assert!(params(None, "application/json", b"[1]").is_err());
    }
}
