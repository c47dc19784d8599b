//! `POST /api/v1/teams/{team}/import`: a CSV export of iDoneThis, Geekbot or donebot itself
//! (`Content-Type: text/csv`), read and written by [`crate::domain::import`] (its module doc
//! lists the columns and the guarantees). The dones are written in batches straight to storage,
//! not through the team actor: it keeps no state about dones (it reads them back when it needs
//! them), the search index follows storage's change log, and the event stream is told here.
//!
//! Answers: `200` with what was recorded; `400 invalid_import` with every bad row (line and
//! reason) and nothing written; `415` for a body that is not CSV; `413` past
//! [`import::MAX_BYTES`].

use actix_web::{HttpRequest, HttpResponse, ResponseError, http::StatusCode, web};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::domain::import::{self, ImportError, Options, RowError, Summary};
use crate::events::Event;
use crate::web::auth::Admin;
use crate::web::{ApiError, ApiResult, HttpError};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Add the members the file names by an address the team does not have (each gets the
    /// welcome email, as any added member); without it such rows are errors.
    #[serde(default)]
    create_members: bool,
    /// The column holding the text when it is none of the usual names (a Geekbot question).
    text_column: Option<String>,
}

/// The answer when rows are wrong: the error shape, with the rows.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportRejected {
    error: ImportRejection,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportRejection {
    /// `invalid_import`.
    code: &'static str,
    message: String,
    /// The bad rows, by the line each starts on (1 is the header), at most 100.
    rows: Vec<RowError>,
}

#[utoipa::path(
    post,
    path = "/teams/{team}/import",
    tag = "dones",
    summary = "Import dones from a CSV export (iDoneThis, Geekbot, donebot)",
    description = "Columns (first line, any order, case-insensitive): a day (`date`, `done_date`, \
                   `occurred_on`, `day`, `timestamp`), who (`email`, or a member's `name`), the \
                   text (`text`, `done`, `body`, `raw_text`, `entry`, `content`, `description`, or \
                   `text_column`), optionally `kind`/`status`. All rows are checked before \
                   anything is written; importing the same rows again records nothing new.",
    params(
        ("team" = String, Path, description = "The team's id or name"),
        ImportQuery,
    ),
    request_body(content = String, content_type = "text/csv", description = "The CSV file, at most 16 MiB and 100,000 rows"),
    responses(
        (status = 200, description = "Imported", body = Summary),
        (status = 400, description = "Bad rows (nothing written) or a bad file", body = ImportRejected),
        (status = 413, description = "Larger than 16 MiB", body = super::openapi::ErrorBody),
        (status = 415, description = "Not text/csv", body = super::openapi::ErrorBody),
        super::openapi::Errors,
    ),
)]
pub async fn import(
    _: Admin,
    req: HttpRequest,
    app: web::Data<App>,
    team: web::Path<String>,
    q: web::Query<ImportQuery>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !matches!(essence, "text/csv" | "application/csv" | "text/plain") {
        return Ok(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected a CSV body (Content-Type: text/csv)",
        )
        .error_response());
    }
    if body.len() > import::MAX_BYTES {
        return Ok(HttpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the file is larger than {} bytes; split it",
                import::MAX_BYTES
            ),
        )
        .error_response());
    }
    let team = app.store.find_team(&team)?;
    let members = app.store.members_of(team.id)?;
    let opts = Options {
        create_members: q.create_members,
        text_column: q.text_column.clone(),
    };
    let now = app.now();
    let today = |m: Option<&storage::Member>| match m {
        Some(m) => super::member_today(&team, m, now),
        None => super::member_today_in(&team.timezone, now),
    };
    // A zone that does not parse has been refused when it was set; the team's today is the
    // fallback all the same.
    let today = |m: Option<&storage::Member>| today(m).unwrap_or_else(|_| now.date_naive());
    let plan = match import::plan(&team, &members, &body, &opts, today) {
        Ok(plan) => plan,
        Err(ImportError::App(e)) => return Err(ApiError(e)),
        Err(ImportError::File(message)) => return Ok(rejected(message, Vec::new())),
        Err(ImportError::Rows { errors, total }) => {
            let message = format!(
                "{total} row{} cannot be imported; nothing was written",
                if total == 1 { "" } else { "s" }
            );
            return Ok(rejected(message, errors));
        }
    };
    let mut added = Vec::new();
    for (email, name) in plan.new_members() {
        added.push(app.add_member(&team.id.to_string(), &name, &email, None)?);
    }
    let store = app.store.clone();
    let (summary, recorded) = web::block(move || plan.apply(&store, now, &added))
        .await
        .map_err(|e| ApiError(crate::error::AppError::Unavailable(e.to_string())))??;
    for (member, dones) in recorded {
        app.emit(Event::DonesRecorded {
            team: team.id,
            member,
            dones,
        });
    }
    tracing::info!(
        team_id = team.id,
        rows = summary.rows,
        recorded = summary.recorded,
        duplicates = summary.duplicates,
        members_created = summary.members_created.len(),
        "import"
    );
    Ok(HttpResponse::Ok().json(summary))
}

fn rejected(message: String, rows: Vec<RowError>) -> HttpResponse {
    HttpResponse::BadRequest().json(ImportRejected {
        error: ImportRejection {
            code: "invalid_import",
            message,
            rows,
        },
    })
}
