//! Settings pages: a team's (schedules, zone, working days, holidays, digest destinations,
//! members and their channels), for its admins; and a member's own (zone, prompt days and time,
//! pause, unsubscribe, chat accounts), for themselves.
//!
//! Every change goes through the same functions as the API and the CLI
//! ([`crate::ops::set_team_schedule`], [`crate::commands`]), so the rules are checked once.

use actix_web::web;
use chrono::{NaiveDate, NaiveTime};
use maud::{Markup, html};
use serde::Deserialize;
use storage::{Channel, LinkPurpose, Member, MemberState, Role, Team};

use super::{
    Nothing, PageResult, Posted, csrf_field, notice, page, see_other, signed_in, team_admin,
};
use crate::app::App;
use crate::error::AppError;
use crate::ops::{self, TeamSchedule};
use crate::web::session::Visitor;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/teams/{team}/settings", web::get().to(team_settings))
        .route("/teams/{team}/settings", web::post().to(save_team))
        .route("/teams/{team}/connect-code", web::post().to(connect_code))
        .route("/teams/{team}/members", web::post().to(add_member))
        .route(
            "/teams/{team}/members/{member}/role",
            web::post().to(set_role),
        )
        .route(
            "/teams/{team}/members/{member}/remove",
            web::post().to(remove_member),
        )
        .route(
            "/teams/{team}/members/{member}/link-code",
            web::post().to(member_link_code),
        )
        .route("/me", web::get().to(my_settings))
        .route("/me/{member}", web::post().to(save_mine))
        .route("/me/{member}/state", web::post().to(my_state))
        .route("/me/{member}/link-code", web::post().to(my_link_code));
}

#[derive(Deserialize)]
struct Notice {
    done: Option<String>,
}

/// The chat channels this server runs (where accounts can be linked and digests posted).
fn chat_channels(app: &App) -> Vec<Channel> {
    app.settings
        .channels
        .iter()
        .filter_map(|c| Channel::try_new(c.name()))
        .filter(Channel::is_chat)
        .collect()
}

fn state_text(m: &Member) -> String {
    match &m.state {
        MemberState::Active => "active".into(),
        MemberState::Paused { until: Some(d) } => format!("paused through {d}"),
        MemberState::Paused { until: None } => "paused".into(),
        MemberState::Unsubscribed { .. } => "unsubscribed".into(),
        MemberState::Removed { .. } => "former member".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn accounts(m: &Member) -> Markup {
    html! {
        @if m.identities.accounts.is_empty() { span.muted { "email only" } }
        @for a in &m.identities.accounts {
            span { (a.channel.as_str()) @if a.broken { " (not reachable)" } } " "
        }
    }
}

async fn team_settings(
    app: web::Data<App>,
    visitor: Visitor,
    team: web::Path<u64>,
    q: web::Query<Notice>,
) -> PageResult {
    let (team, _) = team_admin(&app, &visitor, *team)?;
    let members = app.store.members_of(team.id)?;
    let channels = chat_channels(&app);
    let holidays: Vec<String> = team.holidays.iter().map(NaiveDate::to_string).collect();
    let working_days: Vec<String> = team
        .working_days
        .iter()
        .map(|d| d.to_string().to_lowercase())
        .collect();
    let t = team.id;
    let body = html! {
        (notice(q.done.as_deref()))
        h2 { "Schedule" }
        form method="post" action={ "/teams/" (t) "/settings" } {
            (csrf_field(&app, &visitor))
            label for="timezone" { "Time zone (IANA name, e.g. Europe/Berlin)" }
            input #timezone type="text" name="timezone" value=(team.timezone) required maxlength="64";
            label for="prompt_cron" { "When the question goes out (cron, in each member's time: minute hour day month weekday)" }
            input #prompt_cron type="text" name="prompt_cron" value=(team.prompt_cron) required maxlength="100";
            label for="digest_cron" { "When the digest goes out (cron)" }
            input #digest_cron type="text" name="digest_cron" value=(team.digest_cron) required maxlength="100";
            label for="working_days" { "Working days (e.g. mon-fri, or mon,tue,thu)" }
            input #working_days type="text" name="working_days" value=(working_days.join(",")) required maxlength="100";
            label for="holidays" { "Holidays (one YYYY-MM-DD a line): no question, no digest" }
            textarea #holidays name="holidays" maxlength="20000" { (holidays.join("\n")) }
            label.check { input type="checkbox" name="digest_to_email" value="on" checked[team.digest_to.email_members]; " Email the digest to every member" }
            br;
            button type="submit" { "Save schedule" }
        }
        h2 { "Digest in chats" }
        @if channels.is_empty() { p.muted { "No chat channel is configured on this server (config.toml: [slack], [discord], [telegram])." } }
        ul {
            @for c in &channels {
                li {
                    (c.as_str()) ": "
                    @match team.digest_to.chat(*c) {
                        Some(chat) => { "posted in " code { (chat) } }
                        None => { span.muted { "not connected" } }
                    }
                    " "
                    form.inline method="post" action={ "/teams/" (t) "/connect-code" } {
                        (csrf_field(&app, &visitor))
                        input type="hidden" name="channel" value=(c.as_str());
                        button.link type="submit" { "Get a code to connect a " (c.as_str()) " chat" }
                    }
                }
            }
        }
        h2 { "Members" }
        div.scroll {
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "State" } th scope="col" { "Channels" } th scope="col" { "Actions" } } }
                tbody {
                    @for m in members.iter().filter(|m| !matches!(m.state, MemberState::Removed { .. })) {
                        tr {
                            td { a href={ "/teams/" (t) "/members/" (m.id) } { (m.name) } }
                            td { (m.email) }
                            td { @if m.role == Role::Admin { "admin" } @else { "member" } }
                            td { (state_text(m)) }
                            td { (accounts(m)) }
                            td {
                                form.inline method="post" action={ "/teams/" (t) "/members/" (m.id) "/role" } {
                                    (csrf_field(&app, &visitor))
                                    @if m.role == Role::Admin {
                                        input type="hidden" name="role" value="member";
                                        button.link type="submit" { "Make member" }
                                    } @else {
                                        input type="hidden" name="role" value="admin";
                                        button.link type="submit" { "Make admin" }
                                    }
                                }
                                " · "
                                @for c in &channels {
                                    form.inline method="post" action={ "/teams/" (t) "/members/" (m.id) "/link-code" } {
                                        (csrf_field(&app, &visitor))
                                        input type="hidden" name="channel" value=(c.as_str());
                                        button.link type="submit" { (c.as_str()) " link code" }
                                    }
                                    " · "
                                }
                                form.inline method="post" action={ "/teams/" (t) "/members/" (m.id) "/remove" } {
                                    (csrf_field(&app, &visitor))
                                    button.link type="submit" aria-label={ "Remove " (m.name) } { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 { "Add a member" }
        form method="post" action={ "/teams/" (t) "/members" } {
            (csrf_field(&app, &visitor))
            label for="name" { "Name" }
            input #name type="text" name="name" required maxlength="100";
            label for="email" { "Email address" }
            input #email type="email" name="email" required maxlength="254";
            label for="member_tz" { "Time zone (empty: the team's)" }
            input #member_tz type="text" name="timezone" maxlength="64";
            label.check { input type="checkbox" name="admin" value="on"; " Team admin" }
            br;
            button type="submit" { "Add member" }
        }
    };
    page(&app, &visitor, &format!("{} settings", team.name), body)
}

#[derive(Deserialize)]
struct TeamForm {
    timezone: String,
    prompt_cron: String,
    digest_cron: String,
    working_days: String,
    #[serde(default)]
    holidays: String,
    digest_to_email: Option<String>,
}

async fn save_team(
    app: web::Data<App>,
    team: web::Path<u64>,
    Posted { visitor, form }: Posted<TeamForm>,
) -> PageResult {
    let (mut team, _) = team_admin(&app, &visitor, *team)?;
    let holidays = form
        .holidays
        .split([',', '\n', '\r', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                AppError::Invalid(format!("holidays: {s:?} is not a date (YYYY-MM-DD)"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    ops::set_team_schedule(
        &mut team,
        &TeamSchedule {
            timezone: Some(form.timezone.trim().to_owned()),
            prompt_cron: Some(form.prompt_cron.clone()),
            digest_cron: Some(form.digest_cron.clone()),
            working_days: Some(form.working_days.clone()),
            holidays: Some(holidays),
            digest_to_email: Some(form.digest_to_email.is_some()),
        },
    )?;
    app.store.update_team(&team)?;
    app.store.flush()?;
    app.actors
        .team(team.id)?
        .do_send(crate::actors::team::Reload);
    Ok(see_other(&format!(
        "/teams/{}/settings?done=saved",
        team.id
    )))
}

#[derive(Deserialize)]
struct ChannelForm {
    channel: String,
}

/// A code shown on a page of its own, with what to do with it.
fn code_page(app: &App, visitor: &Visitor, title: &str, back: &str, what: Markup) -> PageResult {
    page(
        app,
        visitor,
        title,
        html! {
            (what)
            p.muted { "The code works once and expires soon." }
            p { a href=(back) { "Back" } }
        },
    )
}

async fn connect_code(
    app: web::Data<App>,
    team: web::Path<u64>,
    Posted { visitor, form }: Posted<ChannelForm>,
) -> PageResult {
    let (team, _) = team_admin(&app, &visitor, *team)?;
    let channel = ops::chat_channel(&form.channel)?;
    let code = ops::create_link_code(
        &app.store,
        LinkPurpose::TeamChat { team_id: team.id },
        channel,
        app.now(),
    )?;
    code_page(
        &app,
        &visitor,
        "Connect a chat",
        &format!("/teams/{}/settings", team.id),
        html! {
            p { "Add the donebot bot to the " (channel.as_str()) " chat that should get " (team.name) "'s digest, then send this there:" }
            pre { "/connect " (code) }
        },
    )
}

#[derive(Deserialize)]
struct NewMemberForm {
    name: String,
    email: String,
    #[serde(default)]
    timezone: String,
    admin: Option<String>,
}

async fn add_member(
    app: web::Data<App>,
    team: web::Path<u64>,
    Posted { visitor, form }: Posted<NewMemberForm>,
) -> PageResult {
    let (team, _) = team_admin(&app, &visitor, *team)?;
    let zone = Some(form.timezone.trim()).filter(|z| !z.is_empty());
    let member = app.add_member(&team.id.to_string(), &form.name, &form.email, zone)?;
    if form.admin.is_some() {
        ops::set_role(&app.store, member.id, Role::Admin)?;
    }
    Ok(see_other(&format!(
        "/teams/{}/settings?done=member-added",
        team.id
    )))
}

/// A member of the team (not removed), by id.
fn team_member(app: &App, team: &Team, member: u64) -> Result<Member, AppError> {
    match app.store.member(member) {
        Ok(m) if m.team_id == team.id && !matches!(m.state, MemberState::Removed { .. }) => Ok(m),
        Ok(_) | Err(storage::StorageError::NotFound(_)) => Err(AppError::NotFound(format!(
            "member {member} of {}",
            team.name
        ))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct RoleForm {
    role: Role,
}

async fn set_role(
    app: web::Data<App>,
    path: web::Path<(u64, u64)>,
    Posted { visitor, form }: Posted<RoleForm>,
) -> PageResult {
    let (team, member) = path.into_inner();
    let (team, _) = team_admin(&app, &visitor, team)?;
    let m = team_member(&app, &team, member)?;
    ops::set_role(&app.store, m.id, form.role)?;
    Ok(see_other(&format!(
        "/teams/{}/settings?done=saved",
        team.id
    )))
}

async fn remove_member(
    app: web::Data<App>,
    path: web::Path<(u64, u64)>,
    Posted { visitor, .. }: Posted<Nothing>,
) -> PageResult {
    let (team, member) = path.into_inner();
    let (team, _) = team_admin(&app, &visitor, team)?;
    let m = team_member(&app, &team, member)?;
    app.store.remove_member(m.id, app.now())?;
    app.actors
        .team(team.id)?
        .do_send(crate::actors::team::Reload);
    Ok(see_other(&format!(
        "/teams/{}/settings?done=member-removed",
        team.id
    )))
}

/// A code that links `member`'s account on `channel`, shown with the channel's own instructions.
async fn link_code_page(
    app: &App,
    visitor: &Visitor,
    member: &Member,
    channel: &str,
    back: &str,
) -> PageResult {
    let channel = ops::chat_channel(channel)?;
    let code = ops::create_link_code(
        &app.store,
        LinkPurpose::Member {
            member_id: member.id,
        },
        channel,
        app.now(),
    )?;
    let hint = app
        .settings
        .channels
        .iter()
        .find(|c| c.name() == channel.as_str())
        .map(|c| c.link_hint(&code));
    let deep_link = match app.actors.channels().get(channel) {
        Some(c) => c.deep_link(&code).await,
        None => None,
    };
    code_page(
        app,
        visitor,
        &format!("Link {} on {}", member.name, channel.as_str()),
        back,
        html! {
            @if let Some(hint) = hint { p { (hint) } }
            @if let Some(link) = deep_link { p { a href=(link) { "Open " (channel.as_str()) } } }
            p { "Code: " code { (code) } }
        },
    )
}

async fn member_link_code(
    app: web::Data<App>,
    path: web::Path<(u64, u64)>,
    Posted { visitor, form }: Posted<ChannelForm>,
) -> PageResult {
    let (team, member) = path.into_inner();
    let (team, _) = team_admin(&app, &visitor, team)?;
    let m = team_member(&app, &team, member)?;
    link_code_page(
        &app,
        &visitor,
        &m,
        &form.channel,
        &format!("/teams/{}/settings", team.id),
    )
    .await
}

/// The signed-in person's own membership with this id.
fn my_member(app: &App, visitor: &Visitor, member: u64) -> Result<Member, super::PageError> {
    let person = signed_in(visitor)?;
    person
        .teams(app)?
        .into_iter()
        .map(|(_, m)| m)
        .find(|m| m.id == member)
        .ok_or_else(|| AppError::Forbidden("these are somebody else's settings".into()).into())
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

async fn my_settings(app: web::Data<App>, visitor: Visitor, q: web::Query<Notice>) -> PageResult {
    let person = signed_in(&visitor)?;
    let teams = person.teams(&app)?;
    let channels = chat_channels(&app);
    let body = html! {
        (notice(q.done.as_deref()))
        p.meta { "Signed in as " (person.email) }
        @if teams.is_empty() { p { "You are not a member of any team." } }
        @for (team, m) in &teams {
            section aria-labelledby={ "t" (team.id) } {
                h2 id={ "t" (team.id) } { (team.name) }
                p { "You are " strong { (state_text(m)) } ". " (crate::commands::schedule::describe(m, team)) }
                form method="post" action={ "/me/" (m.id) } {
                    (csrf_field(&app, &visitor))
                    label for={ "tz" (m.id) } { "Your time zone (empty: the team's, " (team.timezone) ")" }
                    input id={ "tz" (m.id) } type="text" name="timezone" value=(m.timezone.clone().unwrap_or_default()) maxlength="64";
                    fieldset {
                        legend { "Days you get the question (none ticked: the team's working days)" }
                        @for (i, d) in WEEKDAYS.iter().enumerate() {
                            @let n = u8::try_from(i + 1).unwrap_or(1);
                            label.check { input type="checkbox" name="days" value=(n) checked[m.prompt_days.as_ref().is_some_and(|ds| ds.contains(&n))]; " " (d) }
                        }
                    }
                    label for={ "time" (m.id) } { "Time of the question (empty: the team's)" }
                    input id={ "time" (m.id) } type="time" name="time" value=(m.prompt_time.map(|t| t.format("%H:%M").to_string()).unwrap_or_default());
                    button type="submit" { "Save" }
                }
                form method="post" action={ "/me/" (m.id) "/state" } {
                    (csrf_field(&app, &visitor))
                    @if matches!(m.state, MemberState::Active) {
                        label for={ "until" (m.id) } { "Pause the question and the digest through (empty: until you resume)" }
                        input id={ "until" (m.id) } type="date" name="until";
                        button type="submit" name="action" value="pause" { "Pause" }
                    } @else {
                        button type="submit" name="action" value="resume" { "Resume" }
                    }
                    " "
                    @if !matches!(m.state, MemberState::Unsubscribed { .. }) {
                        button.secondary type="submit" name="action" value="unsubscribe" { "Unsubscribe from all donebot email" }
                    }
                }
                h3 { "Chat accounts" }
                p { (accounts(m)) }
                @for c in &channels {
                    form.inline method="post" action={ "/me/" (m.id) "/link-code" } {
                        (csrf_field(&app, &visitor))
                        input type="hidden" name="channel" value=(c.as_str());
                        button.link type="submit" { "Link my " (c.as_str()) " account" }
                    }
                    " "
                }
            }
        }
    };
    page(&app, &visitor, "My settings", body)
}

async fn save_mine(
    app: web::Data<App>,
    member: web::Path<u64>,
    Posted { visitor, form }: Posted<Vec<(String, String)>>,
) -> PageResult {
    // Repeated `days` fields: read as pairs (serde's form structs take each key once).
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let m = my_member(&app, &visitor, *member)?;
    let mut days = Vec::new();
    for (_, v) in form.iter().filter(|(k, _)| k == "days").take(7) {
        days.push(
            v.parse::<u8>()
                .ok()
                .filter(|d| (1..=7).contains(d))
                .ok_or_else(|| AppError::Invalid(format!("{v:?} is not a weekday")))?,
        );
    }
    days.sort_unstable();
    days.dedup();
    let time = match field("time") {
        None | Some("") => None,
        Some(t) => Some(
            NaiveTime::parse_from_str(t, "%H:%M")
                .map_err(|_| AppError::Invalid(format!("{t:?} is not a time (HH:MM)")))?,
        ),
    };
    let zone = match field("timezone") {
        None | Some("") => None,
        Some(z) => Some(ops::parse_tz(z)?.name().to_owned()),
    };
    let days = (!days.is_empty()).then_some(days);
    crate::commands::schedule::run(&app.ctx, &app.actors, &m, Some(days), Some(time))?;
    if zone != m.timezone {
        app.store
            .update_member(m.id, |x| x.timezone = zone.clone())?;
        app.store.flush()?;
        app.actors
            .team(m.team_id)?
            .do_send(crate::actors::team::Reload);
    }
    Ok(see_other("/me?done=saved"))
}

#[derive(Deserialize)]
struct StateForm {
    action: String,
    until: Option<String>,
}

async fn my_state(
    app: web::Data<App>,
    member: web::Path<u64>,
    Posted { visitor, form }: Posted<StateForm>,
) -> PageResult {
    let m = my_member(&app, &visitor, *member)?;
    let (state, done) = match form.action.as_str() {
        "pause" => {
            let until = match form.until.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(s) => Some(
                    NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .map_err(|_| AppError::Invalid(format!("{s:?} is not a date")))?,
                ),
            };
            let today = crate::commands::member_today(&app.ctx, &m)?;
            if let Some(day) = until.filter(|d| *d < today) {
                return Err(AppError::Invalid(format!(
                    "{day} has already passed (today is {today}); nothing changed"
                ))
                .into());
            }
            (MemberState::Paused { until }, "paused")
        }
        "resume" => (MemberState::Active, "resumed"),
        "unsubscribe" => (MemberState::Unsubscribed { at: app.now() }, "unsubscribed"),
        other => return Err(AppError::Invalid(format!("unknown action {other:?}")).into()),
    };
    crate::commands::set_state(&app.ctx, &app.actors, m.id, state)?;
    Ok(see_other(&format!("/me?done={done}")))
}

async fn my_link_code(
    app: web::Data<App>,
    member: web::Path<u64>,
    Posted { visitor, form }: Posted<ChannelForm>,
) -> PageResult {
    let m = my_member(&app, &visitor, *member)?;
    link_code_page(&app, &visitor, &m, &form.channel, "/me").await
}
