//! The mail queues for operators, under `/api/v1` (admin only): the outbox (`GET /outbox`:
//! counts per state; `GET /outbox/messages?state=&limit=`; `POST /outbox/messages/{id}/retry`)
//! and the inbound log (`GET /inbound?failed=&limit=`). `donebot outbox …` and `donebot inbound
//! list` go through these while a server runs, and print the same views from the data directory
//! when none does.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use storage::{InboundRecord, InboundState, OutboxMessage, OutboxState, Store};

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::web::ApiResult;
use crate::web::auth::Admin;

/// The most rows one list answers.
pub const MAX_LIMIT: usize = 1000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/outbox", web::get().to(outbox_status))
        .route("/outbox/messages", web::get().to(outbox_messages))
        .route("/outbox/messages/{id}/retry", web::post().to(retry))
        .route("/inbound", web::get().to(inbound));
}

/// Messages per state, and when the oldest waiting one is due.
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
pub struct OutboxView {
    pub id: u64,
    pub state: String,
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
#[derive(Debug, Serialize, Deserialize)]
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

fn checked_limit(limit: Option<usize>) -> AppResult<usize> {
    match limit.unwrap_or(50) {
        n @ 1..=MAX_LIMIT => Ok(n),
        _ => Err(AppError::Invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

async fn outbox_status(_: Admin, app: web::Data<App>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(OutboxStatus::of(&app.store)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagesQuery {
    state: Option<String>,
    limit: Option<usize>,
}

async fn outbox_messages(
    _: Admin,
    app: web::Data<App>,
    q: web::Query<MessagesQuery>,
) -> ApiResult<HttpResponse> {
    if let Some(s) = q.state.as_deref().filter(|s| !OUTBOX_STATES.contains(s)) {
        return Err(AppError::Invalid(format!(
            "unknown state {s:?} (expected one of: {})",
            OUTBOX_STATES.join(", ")
        ))
        .into());
    }
    let limit = checked_limit(q.limit)?;
    let list: Vec<OutboxView> = app
        .store
        .outbox_list(q.state.as_deref(), limit)?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

async fn retry(_: Admin, app: web::Data<App>, id: web::Path<u64>) -> ApiResult<HttpResponse> {
    let m = app.store.retry_outbox(*id, app.now())?;
    app.store.flush()?;
    app.actors.wake_outbox();
    Ok(HttpResponse::Ok().json(OutboxView::from(m)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InboundQuery {
    #[serde(default)]
    failed: bool,
    limit: Option<usize>,
}

async fn inbound(
    _: Admin,
    app: web::Data<App>,
    q: web::Query<InboundQuery>,
) -> ApiResult<HttpResponse> {
    let limit = checked_limit(q.limit)?;
    let list: Vec<InboundView> = app
        .store
        .inbound_list(q.failed, limit)?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(list))
}
