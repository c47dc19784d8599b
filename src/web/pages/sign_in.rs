//! `GET /` (the sign-in form, or the signed-in person's teams), signing in by a link sent by
//! email, signing out. See [`crate::web::session`] for the rules.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use chrono::Duration;
use maud::html;
use serde::Deserialize;
use storage::{OutboxKind, SignInLink, WebSession};

use super::{Nothing, PageResult, Posted, csrf_field, error_page, page, see_other};
use crate::app::App;
use crate::domain::render;
use crate::error::AppError;
use crate::ops::token_hash;
use crate::web::client::{ASK_WINDOW_MINUTES, AskLimiter, client_ip};
use crate::web::session::{self, SIGN_IN_MINUTES, Visitor};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/sign-in", web::post().to(ask_for_link))
        .route("/sign-in/{secret}", web::get().to(confirm_page))
        .route("/sign-in/{secret}", web::post().to(sign_in))
        .route("/sign-out", web::post().to(sign_out));
}

async fn home(app: web::Data<App>, visitor: Visitor) -> PageResult {
    let fresh = app.store.teams()?.is_empty();
    let Some(person) = &visitor.person else {
        let body = html! {
            p { "donebot asks your team every evening what they got done, and sends everyone a digest the next morning." }
            form method="post" action="/sign-in" {
                (csrf_field(&app, &visitor))
                label for="email" { "Your email address" }
                input #email type="email" name="email" required autocomplete="email" maxlength="254";
                button type="submit" { "Email me a sign-in link" }
            }
            p.muted { "No password: donebot emails you a link that signs you in. It works once, for " (SIGN_IN_MINUTES) " minutes." }
            @if fresh { (first_steps(&app)) }
        };
        return page(&app, &visitor, "Sign in", body);
    };
    let teams = person.teams(&app)?;
    let body = html! {
        @if teams.is_empty() && !person.server_admin {
            p { "You are not a member of any team any more." }
        }
        @if !teams.is_empty() {
            ul {
                @for (team, member) in &teams {
                    li {
                        a href={ "/teams/" (team.id) } { (team.name) }
                        @if member.role == storage::Role::Admin { span.meta { " · admin" } }
                    }
                }
            }
        }
        @if person.server_admin {
            p { a href="/admin" { "Manage teams, the outbox and the inbound log" } }
            @if fresh { (first_steps(&app)) }
        }
    };
    page(&app, &visitor, "Your teams", body)
}

/// What to do on a fresh install, where nobody can sign in yet.
fn first_steps(app: &App) -> maud::Markup {
    html! {
        h2 { "First steps" }
        p { "This donebot has no team yet. On the server, create one and add yourself as its admin:" }
        pre { "donebot team add \"Core\" --tz Europe/Berlin\ndonebot member add Core you@example.com --name \"Your Name\" --admin" }
        p {
            "Then sign in here with that address. Set " code { "[email] smtp_url" }
            " in config.toml to send real email; until then every email (sign-in links too) is written to "
            code { (app.settings.data_dir.join("outbox-eml").display()) } "."
        }
    }
}

#[derive(Deserialize)]
struct AskForm {
    email: String,
}

/// Sends a sign-in link if the address is a member's or a server admin's; answers the same in
/// every case, so the form tells nobody who uses donebot. A client that asks too often (see
/// [`crate::web::client`]) gets `429` and nothing is sent.
async fn ask_for_link(
    app: web::Data<App>,
    limiter: web::Data<AskLimiter>,
    req: HttpRequest,
    Posted { visitor, form }: Posted<AskForm>,
) -> PageResult {
    let email = form.email.trim().to_ascii_lowercase();
    if email.len() > 254 || email.split('@').count() != 2 {
        return Err(AppError::Invalid(format!("{:?} is not an email address", form.email)).into());
    }
    let now = app.now();
    if let Some(ip) = client_ip(&req, &app.settings.trusted_proxies)
        && !limiter.allow(ip, now)
    {
        tracing::warn!(client = %ip, "sign-in link not sent: too many requests from this client");
        let mut answer = error_page(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many sign-in requests from your address. Try again in {ASK_WINDOW_MINUTES} minutes."
            ),
        );
        answer.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(ASK_WINDOW_MINUTES * 60),
        );
        return Ok(answer);
    }
    let known = app.settings.web_admins.contains(&email)
        || app
            .store
            .members_by_email(&email)?
            .iter()
            .any(|m| !matches!(m.state, storage::MemberState::Removed { .. }));
    let recent = now - Duration::minutes(session::SIGN_IN_WINDOW_MINUTES);
    if known && app.store.pending_sign_ins(&email, recent)? < session::SIGN_IN_MAX_PENDING {
        let secret = session::new_secret();
        let hash = token_hash(&secret);
        app.store.create_sign_in(
            &hash,
            &SignInLink {
                email: email.clone(),
                created_at: now,
                expires_at: now + Duration::minutes(SIGN_IN_MINUTES),
            },
        )?;
        let ctx = render::Ctx {
            settings: &app.settings,
            signer: &app.signer,
            now,
        };
        let link = format!("{}/sign-in/{secret}", app.settings.base_url);
        let mail = render::sign_in(&ctx, &email, &link, SIGN_IN_MINUTES);
        crate::ops::enqueue_email(
            &app.store,
            app.settings.dkim(),
            &mail,
            format!("signin:{}", data_encoding::HEXLOWER.encode(&hash)),
            OutboxKind::SignIn,
            None,
            None,
            now,
        )?;
        app.store.flush_async().await?;
        app.actors.wake_outbox();
        tracing::info!("sign-in link sent");
    } else if known {
        tracing::warn!("sign-in link not sent: too many unused ones for this address");
    }
    let body = html! {
        p { "If " strong { (email) } " belongs to a donebot member, a sign-in link is on its way to it. It works once, for " (SIGN_IN_MINUTES) " minutes." }
        p { a href="/" { "Use another address" } }
    };
    page(&app, &visitor, "Check your email", body)
}

/// The link from the email. Opening it changes nothing (mail scanners open links); its button
/// signs in.
async fn confirm_page(
    app: web::Data<App>,
    visitor: Visitor,
    secret: web::Path<String>,
) -> PageResult {
    let body = html! {
        form method="post" action={ "/sign-in/" (secret) } {
            (csrf_field(&app, &visitor))
            button type="submit" autofocus { "Sign in to donebot" }
        }
    };
    page(&app, &visitor, "Sign in", body)
}

async fn sign_in(
    app: web::Data<App>,
    secret: web::Path<String>,
    Posted { visitor, .. }: Posted<Nothing>,
) -> PageResult {
    let now = app.now();
    let Some(link) = app.store.take_sign_in(&token_hash(&secret), now)? else {
        return Err(AppError::NotFound(
            "this sign-in link has expired or was used already; ask for a new one on the sign-in page"
                .into(),
        )
        .into());
    };
    let secret = session::new_secret();
    let ttl = app.settings.session_ttl;
    app.store.create_session(
        &token_hash(&secret),
        &WebSession {
            email: link.email,
            created_at: now,
            expires_at: now + ttl,
        },
    )?;
    let mut answer = see_other("/");
    answer.headers_mut().append(
        header::SET_COOKIE,
        session::session_cookie(&app, &secret, ttl.num_seconds(), visitor.secure())
            .parse()
            .map_err(|_| AppError::Unavailable("cookie".into()))?,
    );
    Ok(answer)
}

async fn sign_out(app: web::Data<App>, Posted { visitor, .. }: Posted<Nothing>) -> PageResult {
    if let Some(person) = &visitor.person {
        app.store.end_session(&person.session)?;
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .insert_header((
            header::SET_COOKIE,
            session::clear_session_cookie(visitor.secure()),
        ))
        .finish())
}
