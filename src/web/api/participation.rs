//! `GET /api/v1/teams/{team}/participation?from=&to=`: for each member and day, whether they
//! were prompted, whether they answered (recorded at least one done for that day, on any
//! channel, prompted or not) and how many dones; with totals per member. A day on which a
//! member was neither prompted nor recorded anything is left out of their `days`.
//!
//! Bounded: at most [`MAX_DAYS`] days per request, so the answer is at most members × a year.

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::error::AppError;
use crate::web::ApiResult;
use crate::web::auth::Admin;

/// The longest range one request covers (a leap year).
pub const MAX_DAYS: i64 = 366;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ParticipationQuery {
    /// The first day (inclusive).
    from: NaiveDate,
    /// The last day (inclusive); at most 366 days after `from`, counted inclusively.
    to: NaiveDate,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Participation {
    from: NaiveDate,
    to: NaiveDate,
    /// Every member of the team (former members too: their past stays theirs), by id.
    members: Vec<MemberParticipation>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberParticipation {
    member_id: u64,
    name: String,
    /// `active`, `paused`, `unsubscribed`, `bouncing` or `removed`, today.
    state: &'static str,
    /// Days prompted in the range.
    prompted: u32,
    /// Days with at least one done in the range.
    answered: u32,
    /// Dones in the range.
    dones: u32,
    /// The days on which they were prompted or recorded something, in order.
    days: Vec<DayParticipation>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DayParticipation {
    date: NaiveDate,
    prompted: bool,
    answered: bool,
    dones: u32,
}

#[utoipa::path(
    get,
    path = "/teams/{team}/participation",
    tag = "dones",
    summary = "Who was prompted and who answered, per member and day",
    params(
        ("team" = String, Path, description = "The team's id or name"),
        ParticipationQuery,
    ),
    responses(
        (status = 200, description = "Participation per member and day", body = Participation),
        super::openapi::Errors,
    ),
)]
pub async fn participation(
    _: Admin,
    app: web::Data<App>,
    team: web::Path<String>,
    q: web::Query<ParticipationQuery>,
) -> ApiResult<HttpResponse> {
    let (from, to) = (q.from, q.to);
    if from > to || (to - from).num_days() >= MAX_DAYS {
        return Err(AppError::Invalid(format!(
            "give ?from=YYYY-MM-DD&to=YYYY-MM-DD with from <= to, at most {MAX_DAYS} days"
        ))
        .into());
    }
    let team = app.store.find_team(&team)?;
    let store = app.store.clone();
    let answer = web::block(move || -> Result<Participation, AppError> {
        let mut counts: std::collections::HashMap<u64, Vec<(NaiveDate, u32)>> = Default::default();
        for (member, date, n) in store.done_counts(team.id, from, to)? {
            counts.entry(member).or_default().push((date, n));
        }
        let mut members = Vec::new();
        for m in store.members_of(team.id)? {
            let prompted = store.prompted_days(m.id, from, to)?;
            let mut by_day: std::collections::BTreeMap<NaiveDate, DayParticipation> = prompted
                .iter()
                .map(|&date| {
                    let day = DayParticipation {
                        date,
                        prompted: true,
                        answered: false,
                        dones: 0,
                    };
                    (date, day)
                })
                .collect();
            for (date, n) in counts.remove(&m.id).unwrap_or_default() {
                let day = by_day.entry(date).or_insert(DayParticipation {
                    date,
                    prompted: false,
                    answered: false,
                    dones: 0,
                });
                day.answered = true;
                day.dones = n;
            }
            let days: Vec<DayParticipation> = by_day.into_values().collect();
            members.push(MemberParticipation {
                member_id: m.id,
                name: m.name,
                state: m.state.as_str(),
                prompted: prompted.len() as u32,
                answered: days.iter().filter(|d| d.answered).count() as u32,
                dones: days.iter().map(|d| d.dones).sum(),
                days,
            });
        }
        Ok(Participation { from, to, members })
    })
    .await
    .map_err(|e| AppError::Unavailable(e.to_string()))??;
    Ok(HttpResponse::Ok().json(answer))
}
