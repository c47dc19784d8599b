//! Bearer-token authentication for the API. Tokens are stored as SHA-256 hashes; the server also
//! accepts its control token (written to `DATA/control.json`, readable only by the owner of the
//! data directory) so the CLI can act through a running server.
//!
//! A token is an admin token (everything) or scoped to one team: it passes only on routes whose
//! path names that team (`/teams/{team}/...`), and is refused (`403`) everywhere else, so it
//! never sees another team's data nor the global routes (teams, tokens, backups, metrics). A
//! token past its expiry is refused (`401`).
//!
//! Invariant: every route that reads or writes data takes [`Admin`] (or checks [`check_metrics`]);
//! the scope check lives here, once, not in the handlers.

use std::sync::Arc;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use std::future::{Ready, ready};

use crate::app::App;
use crate::domain::token::constant_time_eq;
use crate::error::AppError;
use crate::ops::token_hash;
use crate::web::ApiError;

/// The running server's control token (admin), for the local CLI.
#[derive(Clone)]
pub struct ControlToken(pub Arc<str>);

/// A caller allowed on this route: an admin, or a team-scoped token on its own team's route.
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Admin, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req))
    }
}

/// Who presented a valid token.
enum Caller {
    Admin,
    Team(u64),
}

fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
    let unauthorized = |m: &str| ApiError(AppError::Unauthorized(m.to_string()));
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("missing Authorization: Bearer TOKEN"))?;
    header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .ok_or_else(|| unauthorized("expected Authorization: Bearer TOKEN"))
}

fn app(req: &HttpRequest) -> Result<&web::Data<App>, ApiError> {
    req.app_data::<web::Data<App>>()
        .ok_or_else(|| ApiError(AppError::Unavailable("no app".into())))
}

fn caller(req: &HttpRequest, token: &str) -> Result<Caller, ApiError> {
    if let Some(control) = req.app_data::<web::Data<ControlToken>>()
        && !control.0.is_empty()
        && constant_time_eq(control.0.as_bytes(), token.as_bytes())
    {
        return Ok(Caller::Admin);
    }
    let app = app(req)?;
    let unauthorized = |m: &str| ApiError(AppError::Unauthorized(m.to_string()));
    match app.store.token_by_hash(&token_hash(token)) {
        Ok(Some(t)) if t.expires_at.is_some_and(|at| at <= app.now()) => {
            Err(unauthorized("this token has expired"))
        }
        Ok(Some(t)) if t.admin => Ok(Caller::Admin),
        Ok(Some(t)) => match t.team_id {
            Some(team) => Ok(Caller::Team(team)),
            None => Err(ApiError(AppError::Forbidden(
                "this token has no scope".into(),
            ))),
        },
        Ok(None) => Err(unauthorized("unknown token")),
        Err(e) => Err(ApiError(e.into())),
    }
}

fn check(req: &HttpRequest) -> Result<Admin, ApiError> {
    let token = bearer(req)?;
    match caller(req, token)? {
        Caller::Admin => Ok(Admin),
        Caller::Team(scope) => {
            let forbidden = || {
                ApiError(AppError::Forbidden(
                    "this token is scoped to one team; this route is not that team's".into(),
                ))
            };
            let named = req.match_info().get("team").ok_or_else(forbidden)?;
            match app(req)?.store.find_team(named) {
                Ok(team) if team.id == scope => Ok(Admin),
                // Another team's route, or one that does not exist: the same answer, so a
                // scoped token learns nothing about other teams.
                Ok(_) => Err(forbidden()),
                Err(e) if e.is_not_found() => Err(forbidden()),
                Err(e) => Err(ApiError(e.into())),
            }
        }
    }
}

/// `/metrics`: an admin token, the control token, or `[web] metrics_token` when set.
pub fn check_metrics(req: &HttpRequest) -> Result<(), ApiError> {
    let token = bearer(req)?;
    if let Some(secret) = &app(req)?.settings.metrics_token
        && secret.matches(token)
    {
        return Ok(());
    }
    match caller(req, token)? {
        Caller::Admin => Ok(()),
        Caller::Team(_) => Err(ApiError(AppError::Forbidden(
            "/metrics needs an admin token or [web] metrics_token".into(),
        ))),
    }
}
