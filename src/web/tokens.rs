//! `/api/v1/tokens`: creating, listing and revoking API tokens (admin only). A token is shown
//! once, when it is created; afterwards only its record (id, scope, label, expiry) is.
//!
//! Invariant: a new token is either an admin token or scoped to exactly one existing team.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::error::AppError;
use crate::ops::{TokenScope, create_scoped_token};
use crate::web::ApiResult;
use crate::web::api::page::{Key, List, ListResult, Window};
use crate::web::api::{ListQuery, Router, after_id};
use crate::web::auth::Admin;

pub fn declare(r: &mut Router) {
    r.post("/tokens", create_token)
        .get("/tokens", list_tokens)
        .delete("/tokens/{id}", revoke_token);
}

/// `POST /tokens`: `{"admin": true}` or `{"team": "NAME or id"}`, optional `label` and
/// `expires_in_days`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    /// An admin token (everything).
    #[serde(default)]
    admin: bool,
    /// Or a token for this team only (its id or name).
    team: Option<String>,
    /// What it is for (at most 200 characters).
    #[serde(default)]
    label: String,
    /// Expires after this many days (at most 3650); absent or 0: never.
    #[schema(maximum = 3650)]
    expires_in_days: Option<u32>,
}

/// A token's record, as listed.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Token)]
pub struct TokenView {
    pub id: u64,
    pub admin: bool,
    pub team_id: Option<u64>,
    pub label: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<storage::ApiToken> for TokenView {
    fn from(t: storage::ApiToken) -> Self {
        TokenView {
            id: t.id,
            admin: t.admin,
            team_id: t.team_id,
            label: t.label,
            created_at: t.created_at,
            expires_at: t.expires_at,
        }
    }
}

/// A new token: its record, and the token itself, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = NewTokenRecord)]
pub(super) struct NewTokenView {
    #[serde(flatten)]
    record: TokenView,
    /// The secret: `Authorization: Bearer TOKEN`. Not shown again.
    token: String,
}

/// The longest expiry a token can be given, in days (ten years).
const MAX_EXPIRY_DAYS: u32 = 3650;

#[utoipa::path(
    post, path = "/tokens", tag = "operations",
    summary = "Create an API token (shown once)",
    request_body = NewToken,
    responses((status = 201, description = "The token and its record", body = NewTokenView), super::api::openapi::Errors),
)]
pub(super) async fn create_token(
    _: Admin,
    app: web::Data<App>,
    body: web::Json<NewToken>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let team = match &body.team {
        Some(t) => Some(app.store.find_team(t)?.id),
        None => None,
    };
    let expires_at = match body.expires_in_days {
        Some(0) | None => None,
        Some(days) if days > MAX_EXPIRY_DAYS => {
            return Err(AppError::Invalid(format!(
                "expires_in_days must be at most {MAX_EXPIRY_DAYS}"
            ))
            .into());
        }
        Some(days) => Some(app.now() + chrono::Duration::days(i64::from(days))),
    };
    let scope = TokenScope {
        admin: body.admin,
        team,
        expires_at,
    };
    if body.label.chars().count() > 200 {
        return Err(AppError::Invalid("label: at most 200 characters".into()).into());
    }
    let (token, record) = create_scoped_token(&app.store, scope, &body.label, app.now())?;
    Ok(HttpResponse::Created().json(NewTokenView {
        record: record.into(),
        token,
    }))
}

/// Tokens by id, a page at a time.
#[utoipa::path(
    get, path = "/tokens", tag = "operations", summary = "List API tokens (never the secrets)",
    params(super::api::ListQuery),
    responses((status = 200, description = "A page of tokens", body = super::api::openapi::TokenPage), super::api::openapi::Errors),
)]
pub(super) async fn list_tokens(
    _: Admin,
    app: web::Data<App>,
    q: web::Query<ListQuery>,
) -> ListResult {
    let w = Window::new(List::Tokens, q.limit, q.cursor.as_deref())?;
    let tokens = after_id(app.store.tokens()?, w, |t| t.id);
    Ok(w.page(List::Tokens, tokens, |t| Key::Id(t.id))
        .map(TokenView::from)
        .respond())
}

#[utoipa::path(
    delete, path = "/tokens/{id}", tag = "operations", summary = "Revoke an API token",
    params(("id" = u64, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked"), super::api::openapi::Errors),
)]
pub(super) async fn revoke_token(
    _: Admin,
    app: web::Data<App>,
    id: web::Path<u64>,
) -> ApiResult<HttpResponse> {
    if app.store.revoke_token(*id)? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound(format!("token {id}")).into())
    }
}
