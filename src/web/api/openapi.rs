//! The OpenAPI document of `/api/v1` (`GET /api/v1/openapi.json`), generated from the handlers'
//! `#[utoipa::path]` annotations and the types they read and answer, once, at the first request.
//!
//! Invariant: the document describes exactly the routes [`super::declare`] serves, methods
//! included, and every `$ref` in it resolves (`tests` below walk both); a new route without an
//! annotation listed here fails the build of the tests, not a client.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

use super::{import, participation, record};
use crate::web::{queues, tokens};

/// Every error's body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `invalid`, `invalid_json`, `invalid_query`,
    /// `invalid_cursor`, `not_found`, `unauthorized`, `forbidden`, `conflict`, ….
    code: String,
    /// For people: what was wrong and what to do.
    message: String,
}

/// The error answers every operation may give (each documented in its own message).
pub struct Errors;

impl IntoResponses for Errors {
    fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        [
            (
                "400",
                "Invalid request (`invalid`, `invalid_json`, `invalid_query`, ...)",
            ),
            ("401", "Missing, unknown or expired token"),
            (
                "403",
                "The token may not use this route (a team token on another team's)",
            ),
            ("404", "No such team, member, done or path"),
        ]
        .into_iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("Error")))
                        .build(),
                )
                .build();
            (status.to_owned(), RefOr::T(response))
        })
        .collect()
    }
}

/// One page of a list: its items and the cursor of the next page (`null` on the last one). The
/// schemas below mirror [`super::page::Page`] for each item type.
macro_rules! page_schema {
    ($name:ident, $item:ty) => {
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            items: Vec<$item>,
            /// Pass as `cursor` for the next page; `null`: this is the last one.
            next: Option<String>,
        }
    };
}

page_schema!(TeamPage, super::TeamView);
page_schema!(MemberPage, super::MemberView);
page_schema!(DonePage, super::DoneView);
page_schema!(TokenPage, tokens::TokenView);
page_schema!(OutboxPage, queues::OutboxView);
page_schema!(InboundPage, queues::InboundView);

/// `GET /openapi.json`: this document (no token needed).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    summary = "This OpenAPI document",
    security(()),
    responses((status = 200, description = "The OpenAPI document", body = Object)),
)]
pub async fn serve() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        document()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot render the document: {e}\"}}"))
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json.as_str())
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin token (`donebot token create --admin`) or a team's \
                         (`donebot token create --team TEAM`)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "donebot API",
        version = "1",
        description = "Teams, members, prompts, dones and digests. Every call but this document \
                       needs `Authorization: Bearer TOKEN`: an admin token (`donebot token create \
                       --admin`), or a token scoped to one team (`donebot token create --team \
                       TEAM`), which may use only that team's routes (/teams/{team}/...) and gets \
                       403 everywhere else. Errors are `{\"error\": {\"code\", \"message\"}}` with \
                       a stable `code`. Lists take `limit` (1-1000, default 100) and `cursor` (the \
                       `next` of the previous page) and answer `{\"items\": [...], \"next\": \
                       CURSOR or null}`.",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
    ),
    servers((url = "/api/v1")),
    security(("bearer" = [])),
    modifiers(&BearerAuth),
    paths(
        serve,
        super::create_team,
        super::list_teams,
        super::get_team,
        super::patch_team,
        super::connect_code,
        super::link_code,
        super::add_member,
        super::list_members,
        super::patch_member,
        super::remove_member,
        super::send_prompts,
        super::send_digest,
        record::record_done,
        super::list_dones,
        super::edit_done,
        super::delete_done,
        participation::participation,
        import::import,
        super::export,
        super::search,
        super::backup,
        tokens::create_token,
        tokens::list_tokens,
        tokens::revoke_token,
        queues::outbox_status,
        queues::outbox_messages,
        queues::retry,
        queues::inbound,
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "teams", description = "Teams and their schedules"),
        (name = "members", description = "Members, their state and chat accounts"),
        (name = "dones", description = "Dones: recorded, listed, edited, searched, imported, exported"),
        (name = "operations", description = "Prompts and digests on demand, backups, tokens, the mail queues"),
        (name = "meta", description = "This document"),
    ),
)]
struct ApiDoc;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::web::api::{Router, declare};

    fn doc() -> Value {
        serde_json::to_value(document()).expect("the document serializes")
    }

    #[test]
    fn every_route_served_is_described_and_nothing_else() {
        let mut r = Router::listing();
        declare(&mut r);
        let served: BTreeSet<(String, String)> = r
            .listed()
            .iter()
            .map(|(m, p)| (m.as_str().to_lowercase(), p.to_string()))
            .collect();
        assert_eq!(served.len(), r.listed().len(), "a route is declared twice");
        let doc = doc();
        let described: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .expect("a path item")
                    .keys()
                    .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                    .map(move |m| (m.clone(), path.clone()))
            })
            .collect();
        let undescribed: Vec<_> = served.difference(&described).collect();
        let unserved: Vec<_> = described.difference(&served).collect();
        assert!(
            undescribed.is_empty(),
            "served, not described: {undescribed:?}"
        );
        assert!(unserved.is_empty(), "described, not served: {unserved:?}");
    }

    /// Every `$ref` string in `v`.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_structurally_valid_openapi_3() {
        let doc = doc();
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
        assert_eq!(doc["servers"][0]["url"], "/api/v1");
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        // Every reference resolves.
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{r} is not local"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        // Every operation answers something, and declares each of its path's parameters.
        for (path, ops) in doc["paths"].as_object().unwrap() {
            let placeholders: Vec<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            for (method, op) in ops.as_object().unwrap() {
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path} has no responses"
                );
                let in_path: Vec<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                assert_eq!(in_path, placeholders, "{method} {path}");
            }
        }
    }

    #[test]
    fn lists_are_described_with_their_cursor() {
        let doc = doc();
        for path in [
            "/teams",
            "/teams/{team}/members",
            "/teams/{team}/dones",
            "/tokens",
            "/outbox/messages",
            "/inbound",
        ] {
            let op = &doc["paths"][path]["get"];
            let names: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert!(
                names.contains(&"limit") && names.contains(&"cursor"),
                "{path}: {names:?}"
            );
            let schema = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap();
            let page = doc.pointer(&schema[1..]).unwrap();
            assert!(
                page["properties"]["items"].is_object() && page["properties"]["next"].is_object(),
                "{path}"
            );
        }
    }
}
