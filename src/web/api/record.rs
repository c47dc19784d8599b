//! `POST /api/v1/teams/{team}/dones`: dones recorded through the API, as a member's reply would
//! be. The text goes to the member's team actor (`RecordReply`), like a chat `/done`, so the
//! search index, the digest and the event stream see it exactly as any other done: one line is
//! one done; a text of several lines is several, read like a reply (bullets stripped, `goal:` /
//! `blocker:` kinds, a closing sign-off dropped).
//!
//! The day is the member's: `date` when given, else their today in their zone; a day that has
//! not started yet for them is refused, as for prompts and digests. An `Idempotency-Key` header
//! makes a retry safe: the same key for the same member records once and answers the dones of
//! the first request again (`200` instead of `201`).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use storage::{Channel, RecordOutcome, Source};

use super::DoneView;
use crate::actors::team::RecordReply;
use crate::app::App;
use crate::domain::import::EARLIEST;
use crate::error::AppError;
use crate::web::ApiResult;
use crate::web::auth::Admin;

/// The longest text one request records (a reply's lines are bounded again by the parser).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The longest `Idempotency-Key`.
pub const MAX_KEY_LEN: usize = 200;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDones {
    /// The member the dones are theirs.
    pub member_id: u64,
    /// One done per non-empty line, read like a reply (at most 64 KiB, 200 lines).
    pub text: String,
    /// The member's day they belong to (default: the member's today); not a day that has not
    /// started yet for them, not before 1970.
    pub date: Option<NaiveDate>,
}

/// The dones a request recorded (or, repeated with the same `Idempotency-Key`, had recorded).
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecordedDones {
    pub dones: Vec<DoneView>,
}

#[utoipa::path(
    post,
    path = "/teams/{team}/dones",
    tag = "dones",
    summary = "Record dones for a member",
    description = "The text is read like a reply: each non-empty line is one done (bullets \
                   stripped, `goal:`/`blocker:` prefixes give the kind, a closing sign-off is \
                   dropped). The day is the member's (default: their today; a future day is \
                   refused). With an `Idempotency-Key` header a repeated request records nothing \
                   and answers 200 with the dones of the first.",
    params(
        ("team" = String, Path, description = "The team's id or name"),
        ("Idempotency-Key" = Option<String>, Header,
         description = "Up to 200 visible ASCII characters; the same key for the same member records once"),
    ),
    request_body = NewDones,
    responses(
        (status = 201, description = "Recorded", body = RecordedDones),
        (status = 200, description = "Already recorded with this Idempotency-Key", body = RecordedDones),
        super::openapi::Errors,
    ),
)]
pub async fn record_done(
    _: Admin,
    req: HttpRequest,
    app: web::Data<App>,
    team: web::Path<String>,
    body: web::Json<NewDones>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let team = app.store.find_team(&team)?;
    let member = super::team_member(&app, &team, body.member_id)?;
    if body.text.len() > MAX_TEXT_BYTES {
        return Err(AppError::Invalid(format!("text: at most {MAX_TEXT_BYTES} bytes")).into());
    }
    let key = idempotency_key(&req)?;
    let today = super::member_today(&team, &member, app.now())?;
    let day = body.date.unwrap_or(today);
    check_day(day, today, &member.name)?;
    let source = Source {
        channel: Channel::Api,
        // Scoped to the member: two clients' keys for two members never collide.
        message_id: key.map(|k| format!("{}:{}:{k}", team.id, member.id)),
        prompt_id: app.store.prompt_for_day(member.id, day)?.map(|p| p.id),
        inbound_id: None,
    };
    let outcome = app
        .actors
        .team(team.id)?
        .send(RecordReply {
            member: member.id,
            day,
            text: body.text,
            source,
            replace: false,
            received: None,
        })
        .await??;
    app.store.flush_async().await?;
    let (status, ids) = match outcome {
        RecordOutcome::Recorded(ids) => (actix_web::http::StatusCode::CREATED, ids),
        RecordOutcome::Duplicate(ids) => (actix_web::http::StatusCode::OK, ids),
    };
    // A repeat after some were deleted answers those that are left.
    let mut dones = Vec::with_capacity(ids.len());
    for id in ids {
        let done = app.store.done(id)?;
        if !done.deleted {
            dones.push(DoneView::from(done));
        }
    }
    Ok(HttpResponse::build(status).json(RecordedDones { dones }))
}

/// `day` as a day a member's done may belong to, given their `today`.
pub fn check_day(day: NaiveDate, today: NaiveDate, who: &str) -> Result<(), AppError> {
    if day > today {
        return Err(AppError::Invalid(format!(
            "date: {day} has not started yet for {who} (their today is {today})"
        )));
    }
    if day < EARLIEST {
        return Err(AppError::Invalid(format!(
            "date: {day} is before {EARLIEST}"
        )));
    }
    Ok(())
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, AppError> {
    let Some(v) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        AppError::Invalid(format!(
            "Idempotency-Key: 1 to {MAX_KEY_LEN} visible ASCII characters"
        ))
    };
    let k = v.to_str().map_err(|_| bad())?.trim();
    if k.is_empty() || k.len() > MAX_KEY_LEN || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(k.to_owned()))
}
