//! The links in every email, working without login: one-click unsubscribe (RFC 8058: a `POST`
//! with `List-Unsubscribe=One-Click` from the mail client, or the button on the `GET` page) and
//! pause. A `GET` never changes anything (link scanners fetch every URL); the page has a button
//! that `POST`s.
//!
//! These are pages for people, in a browser: every answer, errors included, is HTML
//! ([`PageError`], and [`error_page`] for the framework's own errors on these paths).

use actix_web::{HttpResponse, ResponseError, http::StatusCode, web};
use chrono::NaiveDate;
use serde::Deserialize;
use storage::MemberState;

use crate::app::App;
use crate::domain::render::esc;
use crate::error::AppError;
use crate::web::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/unsubscribe/{token}", web::get().to(unsubscribe_page))
        .route("/unsubscribe/{token}", web::post().to(unsubscribe))
        .route("/pause/{token}", web::get().to(pause_page))
        .route("/pause/{token}", web::post().to(pause));
}

/// Whether `path` is one of these pages (so its errors are HTML too).
pub fn is_page(path: &str) -> bool {
    path.starts_with("/unsubscribe/") || path.starts_with("/pause/")
}

/// An error on one of these pages, as a page.
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let title = match status {
        StatusCode::NOT_FOUND => "This link does not work",
        s if s.is_server_error() => "Something went wrong",
        _ => "This did not work",
    };
    page_with(
        status,
        title,
        &format!(
            "<p>{}</p><p>The links in donebot's latest email work; you can also reply to it with \"pause\" or \"unsubscribe\".</p>",
            esc(message)
        ),
    )
}

/// An [`AppError`] on a page: the same status and message as the API's, as HTML.
#[derive(Debug)]
struct PageError(ApiError);

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(ApiError(e.into()))
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self.0.0, AppError::Storage(_)) {
            tracing::error!(error = %self.0, "page failed");
        }
        error_page(self.status_code(), &self.0.message())
    }
}

type PageResult = Result<HttpResponse, PageError>;

fn page(title: &str, body: &str) -> HttpResponse {
    page_with(StatusCode::OK, title, body)
}

fn page_with(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status).content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title></head><body style=\"font-family:sans-serif;max-width:36em;margin:3em auto\"><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    ))
}

fn member_of(app: &App, action: &str, token: &str) -> Result<storage::Member, AppError> {
    let id = app
        .signer
        .verify_link(action, token)
        .ok_or_else(|| AppError::NotFound("this link".into()))?;
    Ok(app.store.member(id)?)
}

/// The same state change as the chat and email commands (`crate::commands`).
fn set_state(app: &App, member: u64, state: MemberState) -> Result<storage::Member, AppError> {
    crate::commands::set_state(&app.ctx, &app.actors, member, state)
}

async fn unsubscribe_page(app: web::Data<App>, token: web::Path<String>) -> PageResult {
    let m = member_of(&app, "unsubscribe", &token)?;
    Ok(page(
        "Unsubscribe from donebot",
        &format!(
            "<p>Stop all donebot emails to {}?</p><form method=\"post\"><button>Unsubscribe</button></form>",
            esc(&m.email)
        ),
    ))
}

async fn unsubscribe(app: web::Data<App>, token: web::Path<String>) -> PageResult {
    let m = member_of(&app, "unsubscribe", &token)?;
    let m = set_state(&app, m.id, MemberState::Unsubscribed { at: app.now() })?;
    tracing::info!(member_id = m.id, "member unsubscribed by link");
    Ok(page(
        "Unsubscribed",
        &format!(
            "<p>{} will get no more donebot emails. Reply \"resume\" to any donebot email to come back.</p>",
            esc(&m.email)
        ),
    ))
}

async fn pause_page(app: web::Data<App>, token: web::Path<String>) -> PageResult {
    let m = member_of(&app, "pause", &token)?;
    Ok(page(
        "Pause donebot",
        &format!(
            "<p>Pause all donebot email (the daily question and the digest) for {}?</p><form method=\"post\"><label>Until (inclusive, empty: until you resume) <input type=\"date\" name=\"until\"></label> <button>Pause</button></form>",
            esc(&m.email)
        ),
    ))
}

#[derive(Deserialize)]
struct PauseForm {
    #[serde(default)]
    until: String,
}

async fn pause(
    app: web::Data<App>,
    token: web::Path<String>,
    form: Option<web::Form<PauseForm>>,
) -> PageResult {
    let m = member_of(&app, "pause", &token)?;
    let until = match form
        .as_ref()
        .map(|f| f.until.trim())
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some(
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| AppError::Invalid(format!("{s:?} is not a date (YYYY-MM-DD)")))?,
        ),
        None => None,
    };
    if let Some(day) = until {
        let today = crate::commands::member_today(&app.ctx, &m)?;
        if day < today {
            return Err(AppError::Invalid(format!(
                "{day} has already passed (today is {today}); nothing changed. Go back and choose a later day."
            ))
            .into());
        }
    }
    let m = set_state(&app, m.id, MemberState::Paused { until })?;
    let when = until
        .map(|d| format!("through {} ({d})", d.format("%A %-d %B %Y")))
        .unwrap_or_else(|| "until you reply \"resume\"".into());
    Ok(page(
        "Paused",
        &format!(
            "<p>No email from donebot (no daily question, no digest) for {} {when}. The unsubscribe link stops all donebot email for good.</p>",
            esc(&m.email)
        ),
    ))
}
