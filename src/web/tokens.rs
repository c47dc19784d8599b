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
use crate::web::auth::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/tokens", web::post().to(create_token))
        .route("/tokens", web::get().to(list_tokens))
        .route("/tokens/{id}", web::delete().to(revoke_token));
}

/// `POST /tokens`: `{"admin": true}` or `{"team": "NAME or id"}`, optional `label` and
/// `expires_in_days`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    admin: bool,
    team: Option<String>,
    #[serde(default)]
    label: String,
    expires_in_days: Option<u32>,
}

/// A token's record, as listed.
#[derive(Serialize)]
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

/// The longest expiry a token can be given, in days (ten years).
const MAX_EXPIRY_DAYS: u32 = 3650;

async fn create_token(
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
    let mut view = serde_json::to_value(TokenView::from(record))
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    view["token"] = serde_json::Value::String(token);
    Ok(HttpResponse::Created().json(view))
}

async fn list_tokens(_: Admin, app: web::Data<App>) -> ApiResult<HttpResponse> {
    let tokens: Vec<TokenView> = app.store.tokens()?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(tokens))
}

async fn revoke_token(
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
