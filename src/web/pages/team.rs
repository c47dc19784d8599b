//! A team's pages: the feed by day, a member's history as a calendar, search; adding, editing and
//! deleting one's own dones.
//!
//! Invariant: a done is changed only by the member who wrote it (not even an admin edits another
//! person's words), and only through the same paths as the API and chat (the team actor, then
//! [`crate::ops::edit_done`] / [`crate::ops::delete_done`]), so search and digests see every change.

use std::collections::BTreeMap;

use actix_web::web;
use chrono::{Datelike, Duration, NaiveDate};
use maud::{Markup, html};
use serde::Deserialize;
use storage::{Channel, Done, DoneKind, Member, SearchQuery, Team};

use super::{
    Nothing, PageResult, Posted, csrf_field, notice, page, see_other, team_access, trusted,
};
use crate::app::App;
use crate::commands::done::Origin;
use crate::error::AppError;
use crate::web::session::{Access, Visitor, new_secret};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/teams/{team}", web::get().to(feed))
        .route("/teams/{team}/dones", web::post().to(add))
        .route("/teams/{team}/dones/{done}/edit", web::get().to(edit_page))
        .route("/teams/{team}/dones/{done}", web::post().to(edit))
        .route("/teams/{team}/dones/{done}/delete", web::post().to(delete))
        .route("/teams/{team}/members/{member}", web::get().to(history))
        .route("/teams/{team}/search", web::get().to(search));
}

/// The longest text the add form takes (a day's worth of lines).
const MAX_TEXT: usize = 10_000;
/// How far back a done may be added from the web.
const MAX_DAYS_BACK: i64 = 366;

/// The team's local today.
fn team_today(app: &App, team: &Team) -> Result<NaiveDate, AppError> {
    let tz = crate::ops::parse_tz(&team.timezone)?;
    Ok(app.now().with_timezone(&tz).date_naive())
}

#[derive(Deserialize)]
struct FeedQuery {
    day: Option<NaiveDate>,
    done: Option<String>,
}

async fn feed(
    app: web::Data<App>,
    visitor: Visitor,
    team: web::Path<u64>,
    q: web::Query<FeedQuery>,
) -> PageResult {
    let (team, access) = team_access(&app, &visitor, *team)?;
    let today = team_today(&app, &team)?;
    let day = q.day.unwrap_or(today).min(today);
    let before = day - Duration::days(1);
    let members = app.store.members_of(team.id)?;
    let dones = app.store.team_dones(team.id, before, day)?;
    let body = html! {
        (notice(q.done.as_deref()))
        @if let Some(me) = &access.member {
            (add_form(&app, &visitor, &team, me, day.min(today)))
        }
        form.inline role="search" method="get" action={ "/teams/" (team.id) "/search" } {
            label for="q" { "Search " (team.name) }
            input #q type="search" name="q" maxlength="500";
        }
        @for d in [day, before] {
            h2 { (day_name(d, today)) }
            (day_section(&team, &members, &dones, d, access.member.as_ref()))
        }
        nav.pager aria-label="Days" {
            a href={ "/teams/" (team.id) "?day=" (before - Duration::days(1)) } { "← Earlier" }
            @if day < today {
                a href={ "/teams/" (team.id) "?day=" ((day + Duration::days(2)).min(today)) } { "Later →" }
            }
        }
        @if access.admin {
            p { a href={ "/teams/" (team.id) "/settings" } { "Team settings" } }
        }
    };
    page(&app, &visitor, &team.name, body)
}

/// "Today", "Yesterday" or the date.
fn day_name(d: NaiveDate, today: NaiveDate) -> String {
    match (today - d).num_days() {
        0 => format!("Today, {}", d.format("%A %-d %B")),
        1 => format!("Yesterday, {}", d.format("%A %-d %B")),
        _ => d.format("%A %-d %B %Y").to_string(),
    }
}

/// One day of the feed, by member; who wrote nothing is listed as such.
fn day_section(
    team: &Team,
    members: &[Member],
    dones: &[Done],
    day: NaiveDate,
    me: Option<&Member>,
) -> Markup {
    let mut by_member: BTreeMap<u64, Vec<&Done>> = BTreeMap::new();
    for d in dones.iter().filter(|d| d.day == day) {
        by_member.entry(d.member_id).or_default().push(d);
    }
    let quiet: Vec<&Member> = members
        .iter()
        .filter(|m| !by_member.contains_key(&m.id) && is_current(m))
        .collect();
    html! {
        @if by_member.is_empty() { p.muted { "Nothing yet." } }
        @for m in members.iter().filter(|m| by_member.contains_key(&m.id)) {
            h3 { a href={ "/teams/" (team.id) "/members/" (m.id) } { (m.name) } }
            ul.dones {
                @for d in &by_member[&m.id] { (done_item(team, d, me)) }
            }
        }
        @if !quiet.is_empty() && !by_member.is_empty() {
            p.meta {
                "Nothing from: "
                @for (i, m) in quiet.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={ "/teams/" (team.id) "/members/" (m.id) } { (m.name) }
                }
            }
        }
    }
}

fn is_current(m: &Member) -> bool {
    !matches!(m.state, storage::MemberState::Removed { .. })
}

/// A done in a list, with edit and delete for its author.
fn done_item(team: &Team, d: &Done, me: Option<&Member>) -> Markup {
    html! {
        li {
            (kind_badge(d.kind))
            span.text { (d.text) }
            @if me.is_some_and(|m| m.id == d.member_id) {
                a href={ "/teams/" (team.id) "/dones/" (d.id) "/edit" } aria-label={ "Edit: " (d.text) } { "Edit" }
            }
        }
    }
}

fn kind_badge(kind: DoneKind) -> Markup {
    match kind {
        DoneKind::Done => html! {},
        DoneKind::Goal => html! { span.kind { "goal" } },
        DoneKind::Blocker => html! { span.kind { "blocker" } },
    }
}

fn add_form(app: &App, visitor: &Visitor, team: &Team, me: &Member, today: NaiveDate) -> Markup {
    html! {
        form method="post" action={ "/teams/" (team.id) "/dones" } {
            (csrf_field(app, visitor))
            // Makes a form sent twice (a double click, a reload) one set of dones.
            input type="hidden" name="nonce" value=(new_secret());
            label for="text" { "What did you get done? One line each" }
            textarea #text name="text" required maxlength=(MAX_TEXT) {}
            label for="day" { "For the day" }
            input #day type="date" name="day" value=(today) max=(today);
            button type="submit" { "Add" }
            span.meta { " as " (me.name) }
        }
    }
}

#[derive(Deserialize)]
struct AddForm {
    nonce: String,
    text: String,
    day: Option<NaiveDate>,
}

async fn add(
    app: web::Data<App>,
    team: web::Path<u64>,
    Posted { visitor, form }: Posted<AddForm>,
) -> PageResult {
    let (team, access) = team_access(&app, &visitor, *team)?;
    let me = own_member(&access)?;
    let today = crate::commands::member_today(&app.ctx, &me)?;
    let day = form.day.unwrap_or(today);
    if day > today {
        return Err(AppError::Invalid(format!(
            "{day} is in the future (today is {today}); dones are for days that have begun"
        ))
        .into());
    }
    if (today - day).num_days() > MAX_DAYS_BACK {
        return Err(
            AppError::Invalid(format!("{day} is more than a year ago; pick a later day")).into(),
        );
    }
    if form.text.len() > MAX_TEXT || form.nonce.is_empty() || form.nonce.len() > 64 {
        return Err(AppError::Invalid(format!("at most {MAX_TEXT} characters")).into());
    }
    crate::commands::done::run(
        &app.ctx,
        &app.actors,
        &me,
        &form.text,
        Origin {
            channel: Channel::Web,
            message_key: Some(format!("web:{}:{}", me.id, form.nonce)),
            answers: None,
            day: Some(day),
            edit: false,
        },
    )
    .await?;
    Ok(see_other(&format!(
        "/teams/{}?day={day}&done=added",
        team.id
    )))
}

/// The visitor's own membership of the team, which adding and editing need.
fn own_member(access: &Access) -> Result<Member, AppError> {
    access
        .member
        .clone()
        .ok_or_else(|| AppError::Forbidden("only the team's members add dones here".into()))
}

/// The visitor's own done in this team.
fn own_done(
    app: &App,
    visitor: &Visitor,
    team: u64,
    done: u64,
) -> Result<(Team, Done), super::PageError> {
    let (team, access) = team_access(app, visitor, team)?;
    let me = own_member(&access)?;
    let d = match app.store.done(done) {
        Ok(d) if d.team_id == team.id && !d.deleted => d,
        Ok(_) | Err(storage::StorageError::NotFound(_)) => {
            return Err(AppError::NotFound(format!("done {done} in {}", team.name)).into());
        }
        Err(e) => return Err(e.into()),
    };
    if d.member_id != me.id {
        return Err(AppError::Forbidden("you can change only your own dones".into()).into());
    }
    Ok((team, d))
}

async fn edit_page(
    app: web::Data<App>,
    visitor: Visitor,
    path: web::Path<(u64, u64)>,
) -> PageResult {
    let (team, done) = path.into_inner();
    let (team, d) = own_done(&app, &visitor, team, done)?;
    let body = html! {
        form method="post" action={ "/teams/" (team.id) "/dones/" (d.id) } {
            (csrf_field(&app, &visitor))
            label for="text" { "Done on " (d.day.format("%A %-d %B %Y")) }
            input #text type="text" name="text" value=(d.text) required maxlength=(MAX_TEXT) autofocus;
            button type="submit" { "Save" }
        }
        form method="post" action={ "/teams/" (team.id) "/dones/" (d.id) "/delete" } {
            (csrf_field(&app, &visitor))
            button.secondary type="submit" { "Delete this done" }
        }
        p { a href={ "/teams/" (team.id) "?day=" (d.day) } { "Back to " (team.name) } }
    };
    page(&app, &visitor, "Edit a done", body)
}

#[derive(Deserialize)]
struct EditForm {
    text: String,
}

async fn edit(
    app: web::Data<App>,
    path: web::Path<(u64, u64)>,
    Posted { visitor, form }: Posted<EditForm>,
) -> PageResult {
    let (team, done) = path.into_inner();
    let (team, d) = own_done(&app, &visitor, team, done)?;
    if form.text.len() > MAX_TEXT || form.text.contains(['\n', '\r']) {
        return Err(AppError::Invalid("one line of text, please".into()).into());
    }
    crate::ops::edit_done(&app.store, d.id, &form.text, app.now())?;
    Ok(see_other(&format!(
        "/teams/{}?day={}&done=edited",
        team.id, d.day
    )))
}

async fn delete(
    app: web::Data<App>,
    path: web::Path<(u64, u64)>,
    Posted { visitor, .. }: Posted<Nothing>,
) -> PageResult {
    let (team, done) = path.into_inner();
    let (team, d) = own_done(&app, &visitor, team, done)?;
    crate::ops::delete_done(&app.store, d.id, app.now())?;
    Ok(see_other(&format!(
        "/teams/{}?day={}&done=deleted",
        team.id, d.day
    )))
}

#[derive(Deserialize)]
struct MonthQuery {
    /// `YYYY-MM`.
    month: Option<String>,
}

/// A member's history: a month as a calendar (how many dones each day), then the month's dones.
async fn history(
    app: web::Data<App>,
    visitor: Visitor,
    path: web::Path<(u64, u64)>,
    q: web::Query<MonthQuery>,
) -> PageResult {
    let (team, member) = path.into_inner();
    let (team, _) = team_access(&app, &visitor, team)?;
    let member = match app.store.member(member) {
        Ok(m) if m.team_id == team.id => m,
        Ok(_) | Err(storage::StorageError::NotFound(_)) => {
            return Err(AppError::NotFound(format!("member {member} of {}", team.name)).into());
        }
        Err(e) => return Err(e.into()),
    };
    let today = team_today(&app, &team)?;
    let first = match q.month.as_deref() {
        Some(m) => NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
            .map_err(|_| AppError::Invalid(format!("{m:?} is not a month (YYYY-MM)")))?,
        None => today.with_day(1).unwrap_or(today),
    };
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| AppError::Invalid("that month is out of range".into()))?;
    let prev = first
        .checked_sub_months(chrono::Months::new(1))
        .ok_or_else(|| AppError::Invalid("that month is out of range".into()))?;
    let last = next - Duration::days(1);
    let dones: Vec<Done> = app
        .store
        .team_dones(team.id, first, last)?
        .into_iter()
        .filter(|d| d.member_id == member.id)
        .collect();
    let mut per_day: BTreeMap<NaiveDate, Vec<&Done>> = BTreeMap::new();
    for d in &dones {
        per_day.entry(d.day).or_default().push(d);
    }
    // The calendar's weeks, Monday first.
    let start = first - Duration::days(i64::from(first.weekday().num_days_from_monday()));
    let weeks: Vec<Vec<NaiveDate>> = (0..6)
        .map(|w| (0..7).map(|d| start + Duration::days(w * 7 + d)).collect())
        .take_while(|week: &Vec<NaiveDate>| week[0] <= last)
        .collect();
    let title = format!("{} — {}", member.name, first.format("%B %Y"));
    let body = html! {
        p.meta { a href={ "/teams/" (team.id) } { (team.name) } " · " (dones.len()) " dones this month" }
        div.scroll {
            table.calendar {
                caption.muted { "Dones per day in " (first.format("%B %Y")) }
                thead { tr { @for d in ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] { th scope="col" { (d) } } } }
                tbody {
                    @for week in &weeks {
                        tr {
                            @for d in week {
                                @if d.month() != first.month() {
                                    td.out { (d.day()) }
                                } @else {
                                    td {
                                        (d.day())
                                        @if let Some(list) = per_day.get(d) {
                                            br;
                                            a href={ "#d" (d) } { (list.len()) " done" @if list.len() != 1 { "s" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Months" {
            a href={ "?month=" (prev.format("%Y-%m")) } { "← " (prev.format("%B")) }
            @if next <= today {
                a href={ "?month=" (next.format("%Y-%m")) } { (next.format("%B")) " →" }
            }
        }
        @for (d, list) in per_day.iter().rev() {
            h2 id={ "d" (d) } { (d.format("%A %-d %B")) }
            ul.dones { @for x in list { li { (kind_badge(x.kind)) span.text { (x.text) } } } }
        }
    };
    page(&app, &visitor, &title, body)
}

#[derive(Deserialize)]
struct SearchParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    offset: usize,
}

/// Results per search page.
const PAGE: usize = 20;

async fn search(
    app: web::Data<App>,
    visitor: Visitor,
    team: web::Path<u64>,
    p: web::Query<SearchParams>,
) -> PageResult {
    let (team, _) = team_access(&app, &visitor, *team)?;
    let words = p.q.trim();
    if words.len() > 500 {
        return Err(AppError::Invalid("a search is at most 500 characters".into()).into());
    }
    let results = if words.is_empty() {
        None
    } else {
        let mut query = SearchQuery::team(team.id).words(words);
        query.limit = PAGE;
        query.offset = p.offset.min(storage::search::MAX_OFFSET);
        Some(
            app.search
                .query(&query)
                .map_err(|e| AppError::Invalid(e.to_string()))?,
        )
    };
    let names: BTreeMap<u64, String> = app
        .store
        .members_of(team.id)?
        .into_iter()
        .map(|m| (m.id, m.name))
        .collect();
    let body = html! {
        form role="search" method="get" action={ "/teams/" (team.id) "/search" } {
            label for="q" { "Search " (team.name) }
            input #q type="search" name="q" value=(words) maxlength="500" autofocus data-live-search;
            button type="submit" { "Search" }
        }
        p.muted { "Words must all match; \"a phrase\" in quotes, word* for a prefix, -word to leave out." }
        div #results aria-live="polite" {
            @if let Some(r) = &results {
                p.meta { (r.total) " found" }
                ul.dones {
                    @for hit in &r.hits {
                        li {
                            (kind_badge(hit.done.kind))
                            span.text {
                                @match &hit.snippet {
                                    Some(s) => (trusted(s)),
                                    None => (hit.done.text),
                                }
                            }
                            span.meta {
                                (names.get(&hit.done.member_id).map_or("a former member", String::as_str))
                                " · "
                                a href={ "/teams/" (team.id) "?day=" (hit.done.day) } { (hit.done.day) }
                            }
                        }
                    }
                }
                @if p.offset + PAGE < r.total {
                    p { a href={ "?q=" (urlencode(words)) "&offset=" (p.offset + PAGE) } { "More results" } }
                }
            }
        }
    };
    page(&app, &visitor, &format!("Search {}", team.name), body)
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}
