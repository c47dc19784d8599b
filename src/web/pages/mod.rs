//! The web pages for people: server-rendered HTML that works without JavaScript (a small script
//! only makes search update as you type), readable on a phone, usable from the keyboard.
//!
//! - [`sign_in`]: `GET /` (the sign-in form, or the person's teams), the sign-in link, sign-out.
//! - [`team`]: a team's feed by day, adding, editing and deleting one's own dones, a member's
//!   history as a calendar, search.
//! - [`settings`]: the team's settings (team admins), a member's own settings.
//! - [`admin`]: teams, the outbox and the inbound log (server admins).
//!
//! Every page goes through [`Visitor`] (who is asking) and, for a team's pages, [`team_access`]
//! (what they may do there); every `POST` checks the form's CSRF token first. Every answer,
//! errors included, is HTML ([`PageError`]).

mod admin;
mod settings;
mod sign_in;
mod team;

use actix_web::{HttpResponse, ResponseError, http::StatusCode, http::header, web};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use storage::Team;

use crate::app::App;
use crate::error::AppError;
use crate::web::ApiError;
use crate::web::session::{Access, Person, Visitor};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/style.css", web::get().to(style))
        .route("/assets/app.js", web::get().to(script));
    sign_in::routes(cfg);
    team::routes(cfg);
    settings::routes(cfg);
    admin::routes(cfg);
}

/// Whether `path` is one of these pages (its errors are pages too).
pub fn is_page(path: &str) -> bool {
    path == "/"
        || [
            "/sign-in",
            "/sign-out",
            "/teams/",
            "/teams",
            "/me",
            "/admin",
        ]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{}/", p.trim_end_matches('/'))))
}

/// A form sent to a page, and who sent it: its CSRF token is checked before the handler runs, so
/// no handler can take a form without it. The form's other fields are read into `T` (which has
/// no `csrf` field of its own; [`Nothing`] for a form that is only a button).
pub struct Posted<T> {
    pub visitor: Visitor,
    pub form: T,
}

/// A form with no fields but its token (a button).
#[derive(Debug, serde::Deserialize)]
pub struct Nothing {}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Posted<T> {
    type Error = PageError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, PageError>>>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let visitor = Visitor::read(req);
        let app = req.app_data::<web::Data<App>>().cloned();
        // The body within the server's payload limit.
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let app = app.ok_or_else(|| AppError::Unavailable("no app".into()))?;
            let visitor = visitor?;
            let body = body
                .await
                .map_err(|e| AppError::Invalid(format!("cannot read the form: {e}")))?;
            let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                .map_err(|e| AppError::Invalid(format!("cannot read the form: {e}")))?;
            let token = fields
                .iter()
                .find(|(k, _)| k == "csrf")
                .map_or("", |(_, v)| v.as_str());
            visitor.check_csrf(&app, token)?;
            let form = serde_urlencoded::from_bytes(&body)
                .map_err(|e| AppError::Invalid(format!("this form is not complete: {e}")))?;
            Ok(Posted { visitor, form })
        })
    }
}

/// An answer other than the page asked for: a redirect, or an error shown as a page.
#[derive(Debug)]
pub enum PageError {
    /// `303 See Other` to this path (after a form, or to the sign-in page).
    Redirect(String),
    App(ApiError),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::Redirect(to) => write!(f, "see {to}"),
            PageError::App(e) => e.fmt(f),
        }
    }
}

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError::App(ApiError(e.into()))
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::Redirect(_) => StatusCode::SEE_OTHER,
            PageError::App(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::Redirect(to) => see_other(to),
            PageError::App(e) => {
                if matches!(e.0, AppError::Storage(_)) {
                    tracing::error!(error = %e, "page failed");
                }
                error_page(e.status_code(), &e.message())
            }
        }
    }
}

pub type PageResult = Result<HttpResponse, PageError>;

/// `303 See Other`: the answer to a form, so that reloading does not send it again.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// An error as a page (no navigation: the visitor may not be known).
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::UNAUTHORIZED => "Please sign in",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        s if s.is_server_error() => "Something went wrong",
        _ => "This did not work",
    };
    let body = html! {
        p { (message) }
        p { a href="/" { "Back to donebot" } }
    };
    with_headers(HttpResponse::build(status)).body(document(title, None, body).into_string())
}

/// The headers of every page: no framing, no sniffing, no referrer (a sign-in link's secret is
/// in its URL), scripts and styles from this site only.
fn with_headers(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    b
}

/// What the navigation shows.
struct Nav<'a> {
    person: &'a Person,
    csrf: String,
    teams: Vec<Team>,
}

/// A whole HTML document.
fn document(title: &str, nav: Option<&Nav>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · donebot" }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    nav aria-label="Main" {
                        a.brand href="/" { "donebot" }
                        @if let Some(nav) = nav {
                            @for t in &nav.teams {
                                a href={ "/teams/" (t.id) } { (t.name) }
                            }
                            a href="/me" { "My settings" }
                            @if nav.person.server_admin {
                                a href="/admin" { "Admin" }
                            }
                            form.inline method="post" action="/sign-out" {
                                input type="hidden" name="csrf" value=(nav.csrf);
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page for `visitor`, with the navigation when they are signed in.
pub fn page(app: &App, visitor: &Visitor, title: &str, body: Markup) -> PageResult {
    let nav = match &visitor.person {
        Some(person) => Some(Nav {
            person,
            csrf: visitor.csrf(app),
            teams: nav_teams(app, person)?,
        }),
        None => None,
    };
    let mut b = with_headers(HttpResponse::Ok());
    if let Some(cookie) = visitor.cookies_to_set() {
        b.append_header((header::SET_COOKIE, cookie));
    }
    Ok(b.body(document(title, nav.as_ref(), body).into_string()))
}

/// The teams in the navigation: the person's own, and every team for a server admin.
fn nav_teams(app: &App, person: &Person) -> Result<Vec<Team>, AppError> {
    if person.server_admin {
        return Ok(app.store.teams()?);
    }
    Ok(person.teams(app)?.into_iter().map(|(t, _)| t).collect())
}

/// The signed-in person, or a redirect to the sign-in page.
pub fn signed_in(visitor: &Visitor) -> Result<&Person, PageError> {
    visitor
        .person
        .as_ref()
        .ok_or_else(|| PageError::Redirect("/".into()))
}

/// The team and what the signed-in visitor may do there; a team they do not belong to is
/// refused (`403`), the same whether or not it exists, so nobody learns other teams' ids.
pub fn team_access(app: &App, visitor: &Visitor, team: u64) -> Result<(Team, Access), PageError> {
    let person = signed_in(visitor)?;
    let refused = || {
        PageError::from(AppError::Forbidden(
            "you are not a member of this team".into(),
        ))
    };
    let team = match app.store.team(team) {
        Ok(t) => t,
        Err(storage::StorageError::NotFound(_)) => return Err(refused()),
        Err(e) => return Err(e.into()),
    };
    match person.access(app, team.id)? {
        Some(access) => Ok((team, access)),
        None => Err(refused()),
    }
}

/// A team's page that only its admins may use.
pub fn team_admin(app: &App, visitor: &Visitor, team: u64) -> Result<(Team, Access), PageError> {
    let (team, access) = team_access(app, visitor, team)?;
    if !access.admin {
        return Err(AppError::Forbidden(format!(
            "only admins of {} change its settings; yours are under My settings",
            team.name
        ))
        .into());
    }
    Ok((team, access))
}

/// The hidden CSRF field of a form.
pub fn csrf_field(app: &App, visitor: &Visitor) -> Markup {
    html! { input type="hidden" name="csrf" value=(visitor.csrf(app)); }
}

/// A short notice shown at the top of a page after a form (`?done=…`), from a fixed list so that
/// a link cannot put words on the page.
pub fn notice(code: Option<&str>) -> Markup {
    let text = match code.unwrap_or("") {
        "added" => "Added.",
        "edited" => "Saved.",
        "deleted" => "Deleted.",
        "saved" => "Settings saved.",
        "member-added" => "Member added; they get a welcome email.",
        "member-removed" => "Member removed; their dones stay.",
        "paused" => "Paused: no daily question and no digest until you resume.",
        "resumed" => "Resumed: the daily question and the digest come again.",
        "unsubscribed" => "Unsubscribed: no more donebot email.",
        "team-added" => "Team created.",
        "retried" => "The message will be sent again.",
        _ => return html! {},
    };
    html! { p.notice role="status" { (text) } }
}

async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLE)
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(SCRIPT)
}

/// Markup already escaped (the search's snippets: escaped text with `<b>` around matches).
pub fn trusted(html: &str) -> PreEscaped<&str> {
    PreEscaped(html)
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --fg: #1b1b1b; --muted: #666; --bg: #fff; --line: #ddd; --accent: #0b5cad; }
@media (prefers-color-scheme: dark) { :root { --fg: #eee; --muted: #aaa; --bg: #161616; --line: #333; --accent: #6fb0ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1em; top: 1em; background: var(--bg); padding: .5em; z-index: 1; }
header nav { display: flex; flex-wrap: wrap; gap: .25em 1em; align-items: center; padding: .75em 1em; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; text-decoration: none; margin-right: auto; }
main { max-width: 46em; margin: 0 auto; padding: 1em; }
h1 { font-size: 1.6em; margin: .5em 0; }
h2 { font-size: 1.25em; margin: 1.5em 0 .5em; }
h3 { font-size: 1.05em; margin: 1em 0 .25em; }
form.inline { display: inline; margin: 0; }
label { display: block; margin: .5em 0 .2em; font-weight: 600; }
label.check { display: inline-block; font-weight: normal; margin-right: .75em; }
input, textarea, select, button { font: inherit; }
input[type=text], input[type=email], input[type=search], input[type=date], input[type=time], textarea, select { width: 100%; padding: .45em; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
textarea { min-height: 5em; }
button { padding: .45em 1em; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; margin-top: .5em; }
button.link { background: none; border: none; color: var(--accent); padding: 0; margin: 0; text-decoration: underline; }
button.secondary { background: none; color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
ul.dones { list-style: none; padding: 0; margin: .25em 0 1em; }
ul.dones li { padding: .3em 0; border-bottom: 1px solid var(--line); display: flex; gap: .5em; align-items: baseline; flex-wrap: wrap; }
ul.dones li .text { flex: 1 1 20em; }
.muted, .meta { color: var(--muted); font-size: .9em; }
.kind { font-size: .8em; padding: 0 .4em; border-radius: 3px; border: 1px solid var(--line); }
.notice { padding: .5em .75em; border-left: 4px solid var(--accent); background: rgba(11,92,173,.08); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em; border-bottom: 1px solid var(--line); vertical-align: top; }
table.calendar td { height: 3.2em; width: 14.28%; }
table.calendar td.out { color: var(--muted); }
.pager { display: flex; justify-content: space-between; margin: 1em 0; }
b, mark { background: rgba(255, 200, 0, .35); font-weight: 600; color: inherit; }
.scroll { overflow-x: auto; }
"#;

/// Progressive enhancement: the search page's results follow the query as it is typed (the form
/// works the same without it).
const SCRIPT: &str = r#"
document.addEventListener('DOMContentLoaded', () => {
  const input = document.querySelector('input[data-live-search]');
  if (!input || !document.getElementById('results')) return;
  let timer, seq = 0;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++seq;
      const url = new URL(input.form.action, location.href);
      url.searchParams.set('q', input.value);
      const res = await fetch(url, { headers: { 'Accept': 'text/html' } });
      if (!res.ok || mine !== seq) return;
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      const fresh = doc.getElementById('results');
      const shown = document.getElementById('results');
      if (fresh && shown) { shown.replaceWith(fresh); history.replaceState(null, '', url); }
    }, 150);
  });
});
"#;
