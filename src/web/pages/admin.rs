//! The server admin's page (`[web] admins`): every team, creating one, and the state of the
//! queues: the outbox's messages by state with the failures and their reasons (and a retry), the
//! inbound log's failures.

use actix_web::web;
use maud::html;
use serde::Deserialize;
use storage::{InboundState, OutboxState};

use super::{
    Nothing, PageError, PageResult, Posted, csrf_field, notice, page, see_other, signed_in,
};
use crate::app::App;
use crate::error::AppError;
use crate::web::queues::OutboxStatus;
use crate::web::session::Visitor;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(admin))
        .route("/admin/teams", web::post().to(add_team))
        .route("/admin/outbox/{id}/retry", web::post().to(retry));
}

/// Failures listed at most.
const LIST: usize = 100;

fn server_admin(visitor: &Visitor) -> Result<(), PageError> {
    if signed_in(visitor)?.server_admin {
        Ok(())
    } else {
        Err(
            AppError::Forbidden("only the server's admins ([web] admins) see this page".into())
                .into(),
        )
    }
}

#[derive(Deserialize)]
struct Notice {
    done: Option<String>,
}

async fn admin(app: web::Data<App>, visitor: Visitor, q: web::Query<Notice>) -> PageResult {
    server_admin(&visitor)?;
    let teams = app.store.teams()?;
    let status = OutboxStatus::of(&app.store)?;
    let failed = app.store.outbox_list(Some("failed"), LIST)?;
    let deferred = app.store.outbox_list(Some("deferred"), LIST)?;
    let inbound = app.store.inbound_list(true, LIST)?;
    let body = html! {
        (notice(q.done.as_deref()))
        h2 { "Teams" }
        ul {
            @for t in &teams {
                li {
                    a href={ "/teams/" (t.id) } { (t.name) }
                    span.meta { " · " (app.store.members_of(t.id)?.len()) " members · " (t.timezone) " · " }
                    a href={ "/teams/" (t.id) "/settings" } { "settings" }
                }
            }
        }
        form method="post" action="/admin/teams" {
            (csrf_field(&app, &visitor))
            label for="team_name" { "New team's name" }
            input #team_name type="text" name="name" required maxlength="100";
            label for="team_tz" { "Its time zone (IANA name)" }
            input #team_tz type="text" name="timezone" value="UTC" required maxlength="64";
            button type="submit" { "Create team" }
        }
        h2 { "Outbox" }
        p {
            (status.queued) " queued · " (status.sending) " sending · " (status.deferred) " deferred · "
            (status.sent) " sent · " strong { (status.failed) " failed" }
            @if let Some(due) = status.oldest_due { " · next due " (due.format("%Y-%m-%d %H:%M UTC")) }
        }
        @for (title, list) in [("Failed", &failed), ("Deferred (will be retried)", &deferred)] {
            @if !list.is_empty() {
                h3 { (title) }
                div.scroll {
                    table {
                        thead { tr { th scope="col" { "Id" } th scope="col" { "Kind" } th scope="col" { "To" } th scope="col" { "Attempts" } th scope="col" { "Reason" } th scope="col" {} } }
                        tbody {
                            @for m in list.iter() {
                                tr {
                                    td { (m.id) }
                                    td { (format!("{:?}", m.kind).to_lowercase()) " · " (m.channel.as_str()) }
                                    td { (m.envelope_to.join(", ")) }
                                    td { (m.attempts) }
                                    td {
                                        @match &m.state {
                                            OutboxState::Failed { reply, .. } | OutboxState::Deferred { reply } => (reply),
                                            _ => "",
                                        }
                                    }
                                    td {
                                        form.inline method="post" action={ "/admin/outbox/" (m.id) "/retry" } {
                                            (csrf_field(&app, &visitor))
                                            button.link type="submit" { "Retry now" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Inbound mail that failed" }
        @if inbound.is_empty() { p.muted { "None." } }
        @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Id" } th scope="col" { "Received" } th scope="col" { "From" } th scope="col" { "Via" } th scope="col" { "Error" } } }
                    tbody {
                        @for r in &inbound {
                            tr {
                                td { (r.id) }
                                td { (r.received_at.format("%Y-%m-%d %H:%M")) }
                                td { (r.mail_from) }
                                td { (r.via) }
                                td { @if let InboundState::Failed { error, .. } = &r.state { (error) } }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&app, &visitor, "Admin", body)
}

#[derive(Deserialize)]
struct TeamForm {
    name: String,
    timezone: String,
}

async fn add_team(app: web::Data<App>, Posted { visitor, form }: Posted<TeamForm>) -> PageResult {
    server_admin(&visitor)?;
    let team = app.create_team(&form.name, form.timezone.trim())?;
    Ok(see_other(&format!(
        "/teams/{}/settings?done=team-added",
        team.id
    )))
}

async fn retry(
    app: web::Data<App>,
    id: web::Path<u64>,
    Posted { visitor, .. }: Posted<Nothing>,
) -> PageResult {
    server_admin(&visitor)?;
    app.store.retry_outbox(*id, app.now())?;
    app.store.flush()?;
    app.actors.wake_outbox();
    Ok(see_other("/admin?done=retried"))
}
