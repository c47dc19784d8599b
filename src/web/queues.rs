//! The mail queues for operators, under `/api/v1` (admin only): the outbox (`GET /outbox`:
//! counts per state; `GET /outbox/messages?state=&limit=&cursor=`; `POST
//! /outbox/messages/{id}/retry`) and the inbound log (`GET /inbound?failed=&limit=&cursor=`). `donebot outbox …` and `donebot inbound
//! list` go through these while a server runs, and print the same views from the data directory
//! when none does.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use storage::{InboundRecord, InboundState, OutboxMessage, OutboxState, Store};

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::web::ApiResult;
use crate::web::api::Router;
use crate::web::api::page::{Key, List, ListResult, Window};
use crate::web::auth::Admin;

pub fn declare(r: &mut Router) {
    r.get("/outbox", outbox_status)
        .get("/outbox/messages", outbox_messages)
        .post("/outbox/messages/{id}/retry", retry)
        .get("/inbound", inbound);
}

/// Messages per state, and when the oldest waiting one is due.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxStatus {
    pub queued: u64,
    pub sending: u64,
    pub deferred: u64,
    pub sent: u64,
    pub failed: u64,
    pub oldest_due: Option<chrono::DateTime<chrono::Utc>>,
}

impl OutboxStatus {
    pub fn of(store: &Store) -> AppResult<OutboxStatus> {
        let c = store.outbox_counts()?;
        Ok(OutboxStatus {
            queued: c.queued,
            sending: c.sending,
            deferred: c.deferred,
            sent: c.sent,
            failed: c.failed,
            oldest_due: store.next_outbox_due()?,
        })
    }
}

/// An outgoing message as listed (never its body).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = OutboxMessage)]
pub struct OutboxView {
    pub id: u64,
    /// `queued`, `sending`, `sent`, `deferred` or `failed`.
    pub state: String,
    /// `prompt`, `digest`, `welcome`, ...
    #[schema(value_type = String)]
    pub kind: storage::OutboxKind,
    /// `email`, or the chat channel's name.
    pub channel: String,
    pub to: Vec<String>,
    pub attempts: u32,
    /// The last answer of the mail server or chat service, if any.
    pub reply: String,
}

impl From<OutboxMessage> for OutboxView {
    fn from(m: OutboxMessage) -> Self {
        let reply = match &m.state {
            OutboxState::Sent { reply, .. }
            | OutboxState::Deferred { reply }
            | OutboxState::Failed { reply, .. } => reply.clone(),
            OutboxState::Queued | OutboxState::Sending { .. } => String::new(),
        };
        OutboxView {
            id: m.id,
            state: m.state.as_str().to_owned(),
            kind: m.kind,
            channel: m.channel.to_string(),
            to: m.envelope_to,
            attempts: m.attempts,
            reply,
        }
    }
}

/// A received message as listed (never its body).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = InboundRecord)]
pub struct InboundView {
    pub id: u64,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub via: String,
    pub mail_from: String,
    /// `pending`, `processed` or `failed`.
    pub state: String,
    /// What became of it, or why it failed.
    pub detail: String,
}

impl From<InboundRecord> for InboundView {
    fn from(r: InboundRecord) -> Self {
        let (state, detail) = match r.state {
            InboundState::Pending => ("pending", String::new()),
            InboundState::Processed { outcome, .. } => ("processed", outcome),
            InboundState::Failed { error, .. } => ("failed", error),
        };
        InboundView {
            id: r.id,
            received_at: r.received_at,
            via: r.via,
            mail_from: r.mail_from,
            state: state.to_owned(),
            detail,
        }
    }
}

/// The outbox states a list may be filtered by.
pub const OUTBOX_STATES: [&str; 5] = ["queued", "sending", "sent", "deferred", "failed"];

#[utoipa::path(
    get, path = "/outbox", tag = "operations", summary = "Outgoing messages per state",
    responses((status = 200, description = "Counts per state", body = OutboxStatus), super::api::openapi::Errors),
)]
pub(super) async fn outbox_status(_: Admin, app: web::Data<App>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(OutboxStatus::of(&app.store)?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct MessagesQuery {
    /// Only messages in this state: `queued`, `sending`, `sent`, `deferred` or `failed`.
    state: Option<String>,
    /// Items per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// Outgoing messages, oldest first, a page at a time.
#[utoipa::path(
    get, path = "/outbox/messages", tag = "operations", summary = "List outgoing messages, oldest first",
    params(MessagesQuery),
    responses((status = 200, description = "A page of messages", body = super::api::openapi::OutboxPage), super::api::openapi::Errors),
)]
pub(super) async fn outbox_messages(
    _: Admin,
    app: web::Data<App>,
    q: web::Query<MessagesQuery>,
) -> ListResult {
    if let Some(s) = q.state.as_deref().filter(|s| !OUTBOX_STATES.contains(s)) {
        return Err(AppError::Invalid(format!(
            "unknown state {s:?} (expected one of: {})",
            OUTBOX_STATES.join(", ")
        ))
        .into());
    }
    let w = Window::new(List::Outbox, q.limit, q.cursor.as_deref())?;
    let after = match w.after {
        Some(Key::Id(id)) => Some(id),
        _ => None,
    };
    let list = app
        .store
        .outbox_page(q.state.as_deref(), after, w.limit + 1)?;
    Ok(w.page(List::Outbox, list, |m| Key::Id(m.id))
        .map(OutboxView::from)
        .respond())
}

#[utoipa::path(
    post, path = "/outbox/messages/{id}/retry", tag = "operations",
    summary = "Send a failed or deferred message again now",
    params(("id" = u64, Path, description = "The message's id")),
    responses((status = 200, description = "The message, queued again", body = OutboxView), super::api::openapi::Errors),
)]
pub(super) async fn retry(
    _: Admin,
    app: web::Data<App>,
    id: web::Path<u64>,
) -> ApiResult<HttpResponse> {
    let m = app.store.retry_outbox(*id, app.now())?;
    app.store.flush()?;
    app.actors.wake_outbox();
    Ok(HttpResponse::Ok().json(OutboxView::from(m)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct InboundQuery {
    /// Only those that failed.
    #[serde(default)]
    failed: bool,
    /// Items per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// Received messages, newest first, a page at a time.
#[utoipa::path(
    get, path = "/inbound", tag = "operations", summary = "List received messages, newest first",
    params(InboundQuery),
    responses((status = 200, description = "A page of received messages", body = super::api::openapi::InboundPage), super::api::openapi::Errors),
)]
pub(super) async fn inbound(
    _: Admin,
    app: web::Data<App>,
    q: web::Query<InboundQuery>,
) -> ListResult {
    let w = Window::new(List::Inbound, q.limit, q.cursor.as_deref())?;
    let before = match w.after {
        Some(Key::Id(id)) => Some(id),
        _ => None,
    };
    let list = app.store.inbound_page(q.failed, before, w.limit + 1)?;
    Ok(w.page(List::Inbound, list, |r| Key::Id(r.id))
        .map(InboundView::from)
        .respond())
}
