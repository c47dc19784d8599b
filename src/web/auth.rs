//! Bearer-token authentication for the API. Tokens are stored as SHA-256 hashes; the server also
//! accepts its control token (written to `DATA/control.json`, readable only by the owner of the
//! data directory) so the CLI can act through a running server.

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

/// An authenticated admin.
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Admin, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req))
    }
}

fn check(req: &HttpRequest) -> Result<Admin, ApiError> {
    let unauthorized = |m: &str| ApiError(AppError::Unauthorized(m.to_string()));
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("missing Authorization: Bearer TOKEN"))?;
    let token = header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .ok_or_else(|| unauthorized("expected Authorization: Bearer TOKEN"))?;
    if let Some(control) = req.app_data::<web::Data<ControlToken>>()
        && !control.0.is_empty()
        && constant_time_eq(control.0.as_bytes(), token.as_bytes())
    {
        return Ok(Admin);
    }
    let app = req
        .app_data::<web::Data<App>>()
        .ok_or_else(|| ApiError(AppError::Unavailable("no app".into())))?;
    match app.store.token_by_hash(&token_hash(token)) {
        Ok(Some(t)) if t.admin => Ok(Admin),
        Ok(Some(_)) => Err(ApiError(AppError::Unauthorized(
            "this token is not an admin token".into(),
        ))),
        Ok(None) => Err(unauthorized("unknown token")),
        Err(e) => Err(ApiError(e.into())),
    }
}
