//! The JSON API under `/api/v1`: teams, members, dones, prompts and digests on demand, exports
//! and backups here; recording dones ([`record`]), participation ([`participation`]), CSV
//! imports ([`import`]), tokens and the mail queues in their own files. docs/api.md states the
//! contract (tokens, errors, lists, imports).
//!
//! Invariants: every route is declared once, in [`declare`], and described by its handler's
//! `#[utoipa::path]` ([`openapi`] checks both match); every list answers a [`page::Page`]
//! (`{"items", "next"}`) and takes `limit` and `cursor`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use storage::{Done, Member, Team};
use utoipa::{IntoParams, ToSchema};

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::web::ApiResult;
use crate::web::auth::Admin;

mod import;
pub mod openapi;
pub mod page;
mod participation;
mod record;
pub mod router;

use page::{Key, List, ListResult, Window};
pub use router::Router;

/// Registers every route of `/api/v1` on `cfg` (mounted there by the server).
pub fn routes(cfg: &mut web::ServiceConfig) {
    declare(&mut Router::serving(cfg));
}

/// Every route of `/api/v1`, in one place (see [`router`]).
pub fn declare(r: &mut Router) {
    r.get("/openapi.json", openapi::serve)
        .post("/teams", create_team)
        .get("/teams", list_teams)
        .get("/teams/{team}", get_team)
        .patch("/teams/{team}", patch_team)
        .post("/teams/{team}/connect-codes", connect_code)
        .post("/teams/{team}/members/{member}/link-codes", link_code)
        .post("/teams/{team}/members", add_member)
        .get("/teams/{team}/members", list_members)
        .patch("/teams/{team}/members/{member}", patch_member)
        .delete("/teams/{team}/members/{member}", remove_member)
        .post("/teams/{team}/prompts", send_prompts)
        .post("/teams/{team}/digests", send_digest)
        .post("/teams/{team}/dones", record::record_done)
        .get("/teams/{team}/dones", list_dones)
        .patch("/teams/{team}/dones/{done}", edit_done)
        .delete("/teams/{team}/dones/{done}", delete_done)
        .get("/teams/{team}/participation", participation::participation)
        .post("/teams/{team}/import", import::import)
        .get("/teams/{team}/export", export)
        .get("/teams/{team}/search", search)
        .post("/backups", backup);
    super::tokens::declare(r);
    super::queues::declare(r);
}

#[derive(Serialize, ToSchema)]
#[schema(as = Team)]
pub struct TeamView {
    id: u64,
    name: String,
    timezone: String,
    prompt_cron: String,
    digest_cron: String,
    /// `["Mon", "Tue", ...]`.
    working_days: Vec<String>,
    holidays: Vec<NaiveDate>,
    nudge_after_minutes: Option<u32>,
    /// `["21:00", "08:00"]`.
    #[schema(value_type = Vec<String>)]
    quiet_hours: [String; 2],
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Team> for TeamView {
    fn from(t: Team) -> Self {
        TeamView {
            id: t.id,
            name: t.name,
            timezone: t.timezone,
            prompt_cron: t.prompt_cron,
            digest_cron: t.digest_cron,
            working_days: t.working_days.iter().map(|d| d.to_string()).collect(),
            holidays: t.holidays,
            nudge_after_minutes: t.nudge_after_minutes,
            quiet_hours: [
                t.quiet_hours.from.format("%H:%M").to_string(),
                t.quiet_hours.to.format("%H:%M").to_string(),
            ],
            created_at: t.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Member)]
pub struct MemberView {
    id: u64,
    team_id: u64,
    name: String,
    email: String,
    timezone: Option<String>,
    /// `active`, `paused`, `unsubscribed`, `bouncing` or `removed`.
    state: &'static str,
    paused_until: Option<NaiveDate>,
    /// `admin` or `member`.
    #[schema(value_type = String)]
    role: storage::Role,
    /// Their chat accounts: where prompts go besides email.
    accounts: Vec<AccountView>,
    /// Their own prompt days (ISO weekdays, 1 = Monday) and time ("HH:MM", their zone); `null`:
    /// the team's.
    prompt_days: Option<Vec<u8>>,
    prompt_time: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Account)]
pub struct AccountView {
    channel: String,
    user_id: String,
    /// The platform said it cannot be reached (the bot was blocked, the account deactivated):
    /// nothing is sent there until the member links again.
    broken: bool,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        let paused_until = match &m.state {
            storage::MemberState::Paused { until } => *until,
            _ => None,
        };
        MemberView {
            id: m.id,
            team_id: m.team_id,
            name: m.name,
            email: m.email,
            timezone: m.timezone,
            state: m.state.as_str(),
            paused_until,
            role: m.role,
            prompt_days: m.prompt_days.clone(),
            prompt_time: m.prompt_time.map(|t| t.format("%H:%M").to_string()),
            accounts: m
                .identities
                .accounts
                .iter()
                .map(|a| AccountView {
                    channel: a.channel.as_str().to_owned(),
                    user_id: a.user_id.clone(),
                    broken: a.broken,
                })
                .collect(),
            created_at: m.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Done)]
pub struct DoneView {
    id: u64,
    member_id: u64,
    date: NaiveDate,
    text: String,
    /// `done`, `goal` or `blocker`.
    kind: &'static str,
    tags: Vec<String>,
    mentions: Vec<String>,
    /// Where it came from: `email`, `api`, `import`, `web` or a chat channel's name.
    source: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Done> for DoneView {
    fn from(d: Done) -> Self {
        DoneView {
            id: d.id,
            member_id: d.member_id,
            date: d.day,
            text: d.text,
            kind: d.kind.as_str(),
            tags: d.tags,
            mentions: d.mentions,
            source: d.source.channel.as_str().to_owned(),
            created_at: d.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTeam {
    name: String,
    timezone: String,
}

#[utoipa::path(
    post, path = "/teams", tag = "teams", summary = "Create a team",
    request_body = NewTeam,
    responses((status = 201, description = "Created", body = TeamView), openapi::Errors),
)]
async fn create_team(
    _: Admin,
    app: web::Data<App>,
    body: web::Json<NewTeam>,
) -> ApiResult<HttpResponse> {
    let team = app.create_team(&body.name, &body.timezone)?;
    Ok(HttpResponse::Created().json(TeamView::from(team)))
}

/// Teams by id, a page at a time.
#[utoipa::path(
    get, path = "/teams", tag = "teams", summary = "List teams",
    params(ListQuery),
    responses((status = 200, description = "A page of teams", body = openapi::TeamPage), openapi::Errors),
)]
async fn list_teams(_: Admin, app: web::Data<App>, q: web::Query<ListQuery>) -> ListResult {
    let w = Window::new(List::Teams, q.limit, q.cursor.as_deref())?;
    let teams = after_id(app.store.teams()?, w, |t| t.id);
    Ok(w.page(List::Teams, teams, |t| Key::Id(t.id))
        .map(TeamView::from)
        .respond())
}

/// `limit` and `cursor` alone: the lists without filters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Items per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub(super) limit: Option<usize>,
    /// The `next` of the previous page.
    pub(super) cursor: Option<String>,
}

/// The items of a list in id order (`items` is), after the window's cursor, one more than a page
/// so that [`Window::page`] knows whether another follows. For the short lists (teams, a team's
/// members, tokens) read whole.
pub(super) fn after_id<T>(items: Vec<T>, w: Window, id: impl Fn(&T) -> u64) -> Vec<T> {
    let after = match w.after {
        Some(Key::Id(after)) => Some(after),
        _ => None,
    };
    items
        .into_iter()
        .filter(|t| after.is_none_or(|a| id(t) > a))
        .take(w.limit + 1)
        .collect()
}

#[utoipa::path(
    get, path = "/teams/{team}", tag = "teams", summary = "A team",
    params(("team" = String, Path, description = "The team's id or name")),
    responses((status = 200, description = "The team", body = TeamDetail), openapi::Errors),
)]
async fn get_team(
    _: Admin,
    app: web::Data<App>,
    team: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(team_view(app.store.find_team(&team)?)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TeamPatch {
    /// The Telegram group that receives the team's digest; `null` to stop.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>, nullable)]
    telegram_chat_id: Option<Option<i64>>,
    /// The Slack channel (`C…`) that receives the team's digest (and, in the thread style, its
    /// prompt); `null` to stop.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>, nullable)]
    slack_channel_id: Option<Option<String>>,
    /// `"thread"`: one prompt in the team's Slack channel, replies in its thread are dones;
    /// `"dm"` (the default): a prompt to each member's DM.
    #[serde(default)]
    slack_prompt_style: Option<PromptStyle>,
    /// The Discord channel that receives the team's digest; `null` to stop.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>, nullable)]
    discord_channel_id: Option<Option<String>>,
    /// Remind who has not answered this many minutes after their prompt; `null` (or 0): off.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<u32>, nullable)]
    nudge_after_minutes: Option<Option<u32>>,
    /// `["21:00", "08:00"]`: no reminders from the first time to the second, local.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, min_items = 2, max_items = 2)]
    quiet_hours: Option<[String; 2]>,
    /// The team's zone (IANA), for members without their own and for its chats' schedules.
    timezone: Option<String>,
    /// Cron (5 fields, each member's local time) of the prompt and of the digest.
    prompt_cron: Option<String>,
    digest_cron: Option<String>,
    /// `"mon-fri"`, `"mon,tue,thu"`, or a list of day names.
    working_days: Option<WorkingDays>,
    /// Days without prompts (ISO dates), replacing the list.
    holidays: Option<Vec<NaiveDate>>,
    /// Email each active member the digest (the default), or only the team's chats.
    digest_to_email: Option<bool>,
}

/// Working days as a string (`"mon-fri"`) or a list (`["Mon", "Wed"]`).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum WorkingDays {
    Text(String),
    List(Vec<String>),
}

/// The longest wait before a reminder: a day (the next prompt comes then).
const MAX_NUDGE_AFTER_MINUTES: u32 = 24 * 60;

fn hh_mm(field: &str, value: &str) -> AppResult<chrono::NaiveTime> {
    chrono::NaiveTime::parse_from_str(value.trim(), "%H:%M").map_err(|_| {
        AppError::Invalid(format!(
            "{field}: {value:?} is not a time of day as \"HH:MM\""
        ))
    })
}

/// Applies the schedule settings of `body` to `team`, each checked first.
fn patch_schedule(team: &mut Team, body: &TeamPatch) -> AppResult<()> {
    crate::ops::set_team_schedule(
        team,
        &crate::ops::TeamSchedule {
            timezone: body.timezone.clone(),
            prompt_cron: body.prompt_cron.clone(),
            digest_cron: body.digest_cron.clone(),
            working_days: body.working_days.as_ref().map(|days| match days {
                WorkingDays::Text(t) => t.clone(),
                WorkingDays::List(l) => l.join(","),
            }),
            holidays: body.holidays.clone(),
            digest_to_email: body.digest_to_email,
        },
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum PromptStyle {
    Dm,
    Thread,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A Slack or Discord id as given: letters and digits only, bounded.
fn platform_id(field: &str, id: Option<String>) -> AppResult<Option<String>> {
    match id {
        Some(id)
            if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Err(AppError::Invalid(format!(
                "{field}: {id:?} is not a channel id (letters and digits, at most 32)"
            )))
        }
        id => Ok(id),
    }
}

#[utoipa::path(
    patch, path = "/teams/{team}", tag = "teams",
    summary = "Change a team's schedules, zone, working days, holidays and chats",
    params(("team" = String, Path, description = "The team's id or name")),
    request_body = TeamPatch,
    responses((status = 200, description = "The team, changed", body = TeamDetail), openapi::Errors),
)]
async fn patch_team(
    _: Admin,
    app: web::Data<App>,
    team: web::Path<String>,
    body: web::Json<TeamPatch>,
) -> ApiResult<HttpResponse> {
    let mut team = app.store.find_team(&team)?;
    let body = body.into_inner();
    patch_schedule(&mut team, &body)?;
    // The shorthands for the team's chat on each channel.
    if let Some(chat) = body.telegram_chat_id {
        team.digest_to
            .set_chat(storage::Channel::Telegram, chat.map(|c| c.to_string()));
    }
    if let Some(chat) = body.slack_channel_id {
        let chat = platform_id("slack_channel_id", chat)?;
        team.digest_to.set_chat(storage::Channel::Slack, chat);
    }
    if let Some(chat) = body.discord_channel_id {
        let chat = platform_id("discord_channel_id", chat)?;
        team.digest_to.set_chat(storage::Channel::Discord, chat);
    }
    if let Some(style) = body.slack_prompt_style {
        if style == PromptStyle::Thread && team.digest_to.chat(storage::Channel::Slack).is_none() {
            return Err(AppError::Invalid(
                "slack_prompt_style \"thread\" needs the team's Slack channel: set slack_channel_id".into(),
            )
            .into());
        }
        team.digest_to
            .set_prompts_in_thread(storage::Channel::Slack, style == PromptStyle::Thread);
    }
    if let Some(after) = body.nudge_after_minutes {
        let after = after.filter(|m| *m > 0);
        if after.is_some_and(|m| m > MAX_NUDGE_AFTER_MINUTES) {
            return Err(AppError::Invalid(format!(
                "nudge_after_minutes: at most {MAX_NUDGE_AFTER_MINUTES} (a day)"
            ))
            .into());
        }
        team.nudge_after_minutes = after;
    }
    if let Some([from, to]) = &body.quiet_hours {
        team.quiet_hours = storage::QuietHours {
            from: hh_mm("quiet_hours", from)?,
            to: hh_mm("quiet_hours", to)?,
        };
    }
    app.store.update_team(&team)?;
    app.store.flush()?;
    app.actors
        .team(team.id)?
        .do_send(crate::actors::team::Reload);
    Ok(HttpResponse::Ok().json(team_view(team)?))
}

/// A team with its chats by their shorthands (`GET` and `PATCH /teams/{team}`).
#[derive(Serialize, ToSchema)]
#[schema(as = TeamWithChats)]
pub struct TeamDetail {
    #[serde(flatten)]
    team: TeamView,
    /// The Telegram group that gets the digest.
    telegram_chat_id: Option<i64>,
    /// The Slack channel that gets the digest.
    slack_channel_id: Option<String>,
    /// `dm` or `thread`.
    slack_prompt_style: &'static str,
    /// The Discord channel that gets the digest.
    discord_channel_id: Option<String>,
}

/// A team as the API shows it, with its chats by their shorthands.
fn team_view(team: Team) -> AppResult<TeamDetail> {
    let chats = team.digest_to.clone();
    let telegram = chats.chat(storage::Channel::Telegram);
    Ok(TeamDetail {
        telegram_chat_id: telegram.and_then(|c| c.parse::<i64>().ok()),
        slack_channel_id: chats.chat(storage::Channel::Slack).map(str::to_owned),
        slack_prompt_style: if chats.prompts_in_thread(storage::Channel::Slack) {
            "thread"
        } else {
            "dm"
        },
        discord_channel_id: chats.chat(storage::Channel::Discord).map(str::to_owned),
        team: TeamView::from(team),
    })
}

/// `POST /teams/{team}/members/{member}/link-codes`.
#[derive(Serialize, ToSchema)]
struct LinkCode {
    code: String,
    /// The channel's deep link that uses the code, when it has them (Telegram).
    link: Option<String>,
}

/// `POST /teams/{team}/connect-codes`.
#[derive(Serialize, ToSchema)]
struct ConnectCode {
    code: String,
    /// What to send in the group chat: `/connect CODE`.
    command: String,
}

/// How many prompts or digests were sent.
#[derive(Serialize, ToSchema)]
struct Sent {
    sent: usize,
}

/// Where a backup was written.
#[derive(Serialize, ToSchema)]
struct BackupMade {
    backup: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChannelBody {
    channel: String,
}

/// A one-time code a member opens as `https://t.me/<bot>?start=<code>` to link their account.
#[utoipa::path(
    post, path = "/teams/{team}/members/{member}/link-codes", tag = "members",
    summary = "A one-time code that links a member's chat account",
    params(("team" = String, Path, description = "The team's id or name"), ("member" = u64, Path, description = "The member's id")),
    request_body = ChannelBody,
    responses((status = 201, description = "The code", body = LinkCode), openapi::Errors),
)]
async fn link_code(
    _: Admin,
    app: web::Data<App>,
    path: web::Path<(String, u64)>,
    body: web::Json<ChannelBody>,
) -> ApiResult<HttpResponse> {
    let (team, member) = path.into_inner();
    let team = app.store.find_team(&team)?;
    let member = member_of_team(&app, &team, member)?;
    let channel = crate::ops::chat_channel(&body.channel)?;
    let code = crate::ops::create_link_code(
        &app.store,
        storage::LinkPurpose::Member {
            member_id: member.id,
        },
        channel,
        app.now(),
    )?;
    let link = deep_link(&app, channel, &code).await;
    Ok(HttpResponse::Created().json(LinkCode { code, link }))
}

/// A one-time code an admin sends as `/connect CODE` in a group to make it get the team's digest.
#[utoipa::path(
    post, path = "/teams/{team}/connect-codes", tag = "teams",
    summary = "A one-time code that connects a group chat to the team's digest",
    params(("team" = String, Path, description = "The team's id or name")),
    request_body = ChannelBody,
    responses((status = 201, description = "The code", body = ConnectCode), openapi::Errors),
)]
async fn connect_code(
    _: Admin,
    app: web::Data<App>,
    team: web::Path<String>,
    body: web::Json<ChannelBody>,
) -> ApiResult<HttpResponse> {
    let team = app.store.find_team(&team)?;
    let channel = crate::ops::chat_channel(&body.channel)?;
    let code = crate::ops::create_link_code(
        &app.store,
        storage::LinkPurpose::TeamChat { team_id: team.id },
        channel,
        app.now(),
    )?;
    Ok(HttpResponse::Created().json(ConnectCode {
        command: format!("/connect {code}"),
        code,
    }))
}

/// The channel's deep link for `code`, when it runs and has deep links.
async fn deep_link(app: &App, channel: storage::Channel, code: &str) -> Option<String> {
    let channels = app.actors.channels();
    channels.get(channel)?.deep_link(code).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMember {
    name: String,
    email: String,
    timezone: Option<String>,
    /// `admin` (manages the team on the web) or `member` (the default).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    role: Option<storage::Role>,
}

#[utoipa::path(
    post, path = "/teams/{team}/members", tag = "members",
    summary = "Add a member (they get the welcome email)",
    params(("team" = String, Path, description = "The team's id or name")),
    request_body = NewMember,
    responses((status = 201, description = "Added", body = MemberView), openapi::Errors),
)]
async fn add_member(
    _: Admin,
    app: web::Data<App>,
    team: web::Path<String>,
    body: web::Json<NewMember>,
) -> ApiResult<HttpResponse> {
    let mut member = app.add_member(&team, &body.name, &body.email, body.timezone.as_deref())?;
    if let Some(role) = body.role.filter(|r| *r != member.role) {
        member = crate::ops::set_role(&app.store, member.id, role)?;
    }
    Ok(HttpResponse::Created().json(MemberView::from(member)))
}

/// A team's members by id (former members included, with their state), a page at a time.
#[utoipa::path(
    get, path = "/teams/{team}/members", tag = "members", summary = "List a team's members",
    params(("team" = String, Path, description = "The team's id or name"), ListQuery),
    responses((status = 200, description = "A page of members", body = openapi::MemberPage), openapi::Errors),
)]
async fn list_members(
    _: Admin,
    app: web::Data<App>,
    team: web::Path<String>,
    q: web::Query<ListQuery>,
) -> ListResult {
    let w = Window::new(List::Members, q.limit, q.cursor.as_deref())?;
    let team = app.store.find_team(&team)?;
    let members = after_id(app.store.members_of(team.id)?, w, |m| m.id);
    Ok(w.page(List::Members, members, |m| Key::Id(m.id))
        .map(MemberView::from)
        .respond())
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct DayBody {
    /// The day (default: today; for a digest, the previous workday span); not a future day.
    date: Option<NaiveDate>,
}

/// The body is optional: an empty body means "today" / "the previous workday".
fn day_body(bytes: &web::Bytes) -> Result<DayBody, AppError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(DayBody::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        AppError::Invalid(format!(
            "invalid JSON body: {e} (expected {{\"date\": \"YYYY-MM-DD\"}})"
        ))
    })
}

#[utoipa::path(
    post, path = "/teams/{team}/prompts", tag = "operations",
    summary = "Send today's (or a day's) prompt to every active member now",
    params(("team" = String, Path, description = "The team's id or name")),
    request_body(content = DayBody, description = "Optional: an empty body means today"),
    responses((status = 200, description = "How many were sent", body = Sent), openapi::Errors),
)]
async fn send_prompts(
    _: Admin,
    app: web::Data<App>,
    team: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let day = day_body(&body)?.date;
    let team = app.store.find_team(&team)?;
    let sent = app.send_prompts_now(team.id, day).await?;
    Ok(HttpResponse::Ok().json(Sent { sent }))
}

#[utoipa::path(
    post, path = "/teams/{team}/digests", tag = "operations",
    summary = "Send the digest of a day now",
    params(("team" = String, Path, description = "The team's id or name")),
    request_body(content = DayBody, description = "Optional: an empty body means the previous workday span"),
    responses((status = 200, description = "How many were sent", body = Sent), openapi::Errors),
)]
async fn send_digest(
    _: Admin,
    app: web::Data<App>,
    team: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let day = day_body(&body)?.date;
    let team = app.store.find_team(&team)?;
    let sent = app.send_digest_now(team.id, day).await?;
    Ok(HttpResponse::Ok().json(Sent { sent }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DonesQuery {
    /// One day; or give `from` and `to`.
    date: Option<NaiveDate>,
    /// The first day (inclusive), with `to`.
    from: Option<NaiveDate>,
    /// The last day (inclusive), with `from`.
    to: Option<NaiveDate>,
    /// Items per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// A team's dones on a day or a range of days, by day then id, a page at a time.
#[utoipa::path(
    get, path = "/teams/{team}/dones", tag = "dones",
    summary = "List a team's dones of a day or a range of days",
    params(("team" = String, Path, description = "The team's id or name"), DonesQuery),
    responses((status = 200, description = "A page of dones, by day then id", body = openapi::DonePage), openapi::Errors),
)]
async fn list_dones(
    _: Admin,
    app: web::Data<App>,
    team: web::Path<String>,
    q: web::Query<DonesQuery>,
) -> ListResult {
    let w = Window::new(List::Dones, q.limit, q.cursor.as_deref())?;
    let team = app.store.find_team(&team)?;
    let (from, to) = match (q.date, q.from, q.to) {
        (Some(d), None, None) => (d, d),
        (None, Some(f), Some(t)) if f <= t => (f, t),
        _ => {
            return Err(AppError::Invalid(
                "give ?date=YYYY-MM-DD, or ?from=YYYY-MM-DD&to=YYYY-MM-DD with from <= to".into(),
            )
            .into());
        }
    };
    let after = match w.after {
        Some(Key::Done(day, id)) => Some((day, id)),
        _ => None,
    };
    let dones = app
        .store
        .team_dones_page(team.id, from, to, after, w.limit + 1)?;
    Ok(w.page(List::Dones, dones, |d| Key::Done(d.day, d.id))
        .map(DoneView::from)
        .respond())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DoneEdit {
    text: String,
}

/// The member `id` of `team`, unless they were removed from it.
fn team_member(app: &App, team: &Team, id: u64) -> Result<Member, AppError> {
    let member = member_of_team(app, team, id)?;
    if matches!(member.state, storage::MemberState::Removed { .. }) {
        return Err(AppError::Invalid(format!(
            "member {id} was removed from the team; nothing of theirs is recorded"
        )));
    }
    Ok(member)
}

/// The member `id`, if they are (or were) of `team`: any other is `404`, whether or not it exists.
fn member_of_team(app: &App, team: &Team, id: u64) -> Result<Member, AppError> {
    match app.store.member(id) {
        Ok(m) if m.team_id == team.id => Ok(m),
        Ok(_) => Err(AppError::NotFound(format!(
            "member {id} in team {}",
            team.name
        ))),
        Err(e) if e.is_not_found() => Err(AppError::NotFound(format!(
            "member {id} in team {}",
            team.name
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The member's today, in their zone (or the team's).
fn member_today(
    team: &Team,
    member: &Member,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<NaiveDate> {
    member_today_in(member.timezone.as_deref().unwrap_or(&team.timezone), now)
}

fn member_today_in(zone: &str, now: chrono::DateTime<chrono::Utc>) -> AppResult<NaiveDate> {
    Ok(now.with_timezone(&crate::ops::parse_tz(zone)?).date_naive())
}

/// The done, if it belongs to the team.
fn team_done(app: &App, team: &str, done: u64) -> Result<(Team, Done), AppError> {
    let team = app.store.find_team(team)?;
    let d = app.store.done(done)?;
    if d.team_id != team.id || d.deleted {
        return Err(AppError::NotFound(format!(
            "done {done} in team {}",
            team.name
        )));
    }
    Ok((team, d))
}

/// Replaces a done's text; kind, tags and mentions are derived from it again.
#[utoipa::path(
    patch, path = "/teams/{team}/dones/{done}", tag = "dones",
    summary = "Replace a done's text (kind, tags and mentions follow it)",
    params(("team" = String, Path, description = "The team's id or name"), ("done" = u64, Path, description = "The done's id")),
    request_body = DoneEdit,
    responses((status = 200, description = "The done, edited", body = DoneView), openapi::Errors),
)]
async fn edit_done(
    _: Admin,
    app: web::Data<App>,
    path: web::Path<(String, u64)>,
    body: web::Json<DoneEdit>,
) -> ApiResult<HttpResponse> {
    let (team, id) = path.into_inner();
    team_done(&app, &team, id)?;
    let done = crate::ops::edit_done(&app.store, id, &body.text, app.now())?;
    Ok(HttpResponse::Ok().json(DoneView::from(done)))
}

#[utoipa::path(
    delete, path = "/teams/{team}/dones/{done}", tag = "dones", summary = "Delete a done",
    params(("team" = String, Path, description = "The team's id or name"), ("done" = u64, Path, description = "The done's id")),
    responses((status = 204, description = "Deleted"), openapi::Errors),
)]
async fn delete_done(
    _: Admin,
    app: web::Data<App>,
    path: web::Path<(String, u64)>,
) -> ApiResult<HttpResponse> {
    let (team, id) = path.into_inner();
    team_done(&app, &team, id)?;
    crate::ops::delete_done(&app.store, id, app.now())?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    #[serde(default)]
    q: String,
    /// A member's id or email address.
    member: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    tag: Option<String>,
    kind: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    offset: usize,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// A matched range of a done's text: UTF-8 byte offsets, `start` included, `end` excluded.
#[derive(Serialize, ToSchema)]
#[schema(as = Highlight)]
struct HighlightView {
    start: usize,
    end: usize,
}

/// A found done, with where the words matched.
#[derive(Serialize, ToSchema)]
#[schema(as = SearchHit)]
struct SearchHitView {
    #[serde(flatten)]
    done: DoneView,
    /// The matched words and phrases in `text` (empty without `q`).
    highlights: Vec<HighlightView>,
    /// The text (cut around the matches when long), HTML-escaped, the matches in `<b>…</b>`
    /// (absent without `q`).
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<String>,
    /// BM25 relevance, higher is better (absent without `q`).
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f32>,
}

/// `GET /api/v1/teams/{team}/search`.
#[derive(Serialize, ToSchema)]
#[schema(as = SearchResults)]
struct SearchResultsView {
    results: Vec<SearchHitView>,
    /// Give it as `cursor` for the next page; `null` on the last one.
    next: Option<String>,
    /// How many dones match in all.
    total: usize,
}

/// Full-text search of a team's dones: best first when there are words, newest first without;
/// a done is findable within a second of being recorded.
#[utoipa::path(
    get,
    path = "/teams/{team}/search",
    tag = "dones",
    summary = "Full-text search of a team's dones",
    params(
        ("team" = String, Path, description = "The team's id or name"),
        ("q" = Option<String>, Query, description = "Words (all must match); `\"a phrase\"`, `prefix*`, `-word`, `a OR b`, `tag:x`, `kind:goal`"),
        ("member" = Option<String>, Query, description = "A member's id or email address"),
        ("from" = Option<chrono::NaiveDate>, Query, description = "First day (inclusive)"),
        ("to" = Option<chrono::NaiveDate>, Query, description = "Last day (inclusive)"),
        ("tag" = Option<String>, Query, description = "Only dones with this #tag"),
        ("kind" = Option<String>, Query, description = "done, goal or blocker"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "At most this many results"),
        ("offset" = Option<u32>, Query, maximum = 10000, description = "Skip this many results (or give `cursor`)"),
        ("cursor" = Option<String>, Query, description = "The `next` of the previous page"),
    ),
    responses(
        (status = 200, description = "Matching dones, best first", body = SearchResultsView),
        openapi::Errors,
    ),
)]
async fn search(
    _: Admin,
    app: web::Data<App>,
    team: web::Path<String>,
    p: web::Query<SearchParams>,
) -> ApiResult<HttpResponse> {
    let p = p.into_inner();
    let team = app.store.find_team(&team)?;
    let member = match p.member.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(m) => Some(match m.parse::<u64>() {
            Ok(id) => id,
            Err(_) => app
                .store
                .members_by_email(m)?
                .into_iter()
                .find(|x| x.team_id == team.id)
                .map(|x| x.id)
                .ok_or_else(|| AppError::NotFound(format!("member {m} in team {}", team.name)))?,
        }),
    };
    let kind = match p.kind.as_deref() {
        None | Some("") => None,
        Some("done") => Some(storage::DoneKind::Done),
        Some("goal") => Some(storage::DoneKind::Goal),
        Some("blocker") => Some(storage::DoneKind::Blocker),
        Some(other) => {
            return Err(AppError::Invalid(format!(
                "unknown kind {other:?} (expected done, goal or blocker)"
            ))
            .into());
        }
    };
    let limit = p.limit.unwrap_or(20);
    if !(1..=storage::search::MAX_LIMIT).contains(&limit) {
        return Err(AppError::Invalid(format!(
            "limit must be between 1 and {}",
            storage::search::MAX_LIMIT
        ))
        .into());
    }
    if p.offset > storage::search::MAX_OFFSET {
        return Err(AppError::Invalid(format!(
            "offset must be at most {} (narrow the search with q, member, from, to, tag or kind)",
            storage::search::MAX_OFFSET
        ))
        .into());
    }
    let query = storage::SearchQuery {
        team: team.id,
        words: p.q,
        member,
        from: p.from,
        to: p.to,
        tag: p.tag.filter(|t| !t.trim().is_empty()),
        kind,
        limit,
        offset: p.offset,
        cursor: p.cursor.filter(|c| !c.is_empty()),
    };
    let engine = app.search.clone();
    let found = web::block(move || engine.query(&query))
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?
        .map_err(|e| match e {
            storage::SearchError::InvalidQuery(msg) => AppError::Invalid(msg),
            storage::SearchError::Storage(e) => AppError::from(e),
            other => AppError::Unavailable(other.to_string()),
        })?;
    let results = found
        .hits
        .into_iter()
        .map(|h| SearchHitView {
            highlights: h
                .highlights
                .into_iter()
                .map(|r| HighlightView {
                    start: r.start,
                    end: r.end,
                })
                .collect(),
            snippet: h.snippet,
            score: h.score,
            done: h.done.into(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(SearchResultsView {
        results,
        next: found.next,
        total: found.total,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// `json` (the default) or `csv`.
    format: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

/// All of a team's dones (or a range of days) as JSON or CSV, with member names: the same
/// columns in both (`crate::domain::export`).
#[utoipa::path(
    get, path = "/teams/{team}/export", tag = "dones",
    summary = "All of a team's dones (or a range of days) as JSON or CSV",
    params(("team" = String, Path, description = "The team's id or name"), ExportQuery),
    responses(
        (status = 200, description = "The dones, with member names; the same columns in both formats",
         content((Vec<Object> = "application/json"), (String = "text/csv"))),
        openapi::Errors,
    ),
)]
async fn export(
    _: Admin,
    app: web::Data<App>,
    team: web::Path<String>,
    q: web::Query<ExportQuery>,
) -> ApiResult<HttpResponse> {
    use crate::domain::export;
    let format = export::Format::parse(q.format.as_deref().unwrap_or("json"))?;
    let team = app.store.find_team(&team)?;
    let rows = export::rows(&app.store, team.id, q.from, q.to)?;
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .body(export::render(&rows, format)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BackupBody {
    dir: String,
}

/// Writes a consistent snapshot into `dir` while serving: a new directory inside `[web]
/// backup_dir` (given by name, or as a path whose parent is that directory), nowhere else.
#[utoipa::path(
    post, path = "/backups", tag = "operations",
    summary = "Write a consistent snapshot into a new directory inside [web] backup_dir",
    request_body = BackupBody,
    responses((status = 201, description = "Written", body = BackupMade), openapi::Errors),
)]
async fn backup(
    _: Admin,
    app: web::Data<App>,
    body: web::Json<BackupBody>,
) -> ApiResult<HttpResponse> {
    let dir = backup_target(app.settings.backup_dir.as_deref(), &body.dir)?;
    let store = app.store.clone();
    let now = app.now();
    let target = dir.clone();
    web::block(move || storage::backup_to(&store, &target, now))
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))??;
    Ok(HttpResponse::Created().json(BackupMade {
        backup: dir.display().to_string(),
    }))
}

/// The longest backup directory name.
const MAX_BACKUP_NAME: usize = 100;

/// Where `POST /backups` may write `given`: inside `root`, as one new directory.
fn backup_target(
    root: Option<&std::path::Path>,
    given: &str,
) -> Result<std::path::PathBuf, AppError> {
    let root = root.ok_or_else(|| {
        AppError::Forbidden(
            "backups through the API are off: set [web] backup_dir (or run `donebot backup DIR` with the server stopped)".into(),
        )
    })?;
    storage::make_private(root)?;
    let root = root
        .canonicalize()
        .map_err(|e| AppError::Invalid(format!("[web] backup_dir: {e}")))?;
    let given = std::path::Path::new(given);
    let name = match given.parent() {
        Some(parent) if given.is_absolute() => {
            let parent = parent
                .canonicalize()
                .map_err(|e| AppError::Invalid(format!("{}: {e}", given.display())))?;
            if parent != root {
                return Err(AppError::Forbidden(format!(
                    "backups go into [web] backup_dir ({}), not {}",
                    root.display(),
                    given.display()
                )));
            }
            given.file_name()
        }
        _ => Some(std::ffi::OsStr::new(given)),
    };
    // A plain name: the file system would refuse a NUL or an overlong name only when the
    // backup is written, as an internal error.
    let name = name
        .and_then(|n| n.to_str())
        .filter(|n| {
            (1..=MAX_BACKUP_NAME).contains(&n.len())
                && *n != "."
                && *n != ".."
                && n.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
        .ok_or_else(|| {
            AppError::Invalid(format!(
                "dir: a new directory name inside [web] backup_dir (letters, digits, '-', '_', \
                 '.'; at most {MAX_BACKUP_NAME} bytes)"
            ))
        })?;
    Ok(root.join(name))
}

pub async fn metrics(req: HttpRequest, app: web::Data<App>) -> ApiResult<HttpResponse> {
    crate::web::auth::check_metrics(&req)?;
    let c = app.store.outbox_counts()?;
    let inbound = app.store.inbound_usage()?;
    let oldest = app
        .store
        .next_outbox_due()?
        .map(|d| (app.now() - d).num_seconds().max(0) as f64)
        .unwrap_or(0.0);
    let text = app.metrics.render(&[
        (
            "donebot_outbox_queued",
            "Outbox messages waiting to be sent",
            c.queued as f64,
        ),
        (
            "donebot_outbox_sending",
            "Outbox messages being sent",
            c.sending as f64,
        ),
        (
            "donebot_outbox_deferred",
            "Outbox messages waiting for a retry",
            c.deferred as f64,
        ),
        (
            "donebot_outbox_sent",
            "Outbox messages sent (all time)",
            c.sent as f64,
        ),
        (
            "donebot_outbox_failed",
            "Outbox messages given up (all time)",
            c.failed as f64,
        ),
        (
            "donebot_outbox_oldest_due_seconds",
            "Age of the oldest due outbox message",
            oldest,
        ),
        (
            "donebot_dones_total",
            "Dones recorded (all time)",
            app.store.counter("dones.recorded")? as f64,
        ),
        (
            "donebot_search_lag_seconds",
            "Age of the oldest done change not yet searchable (0: the index is up to date)",
            app.store
                .search_backlog_since()?
                .map(|t| (app.now() - t).num_milliseconds().max(0) as f64 / 1000.0)
                .unwrap_or(0.0),
        ),
        (
            "donebot_inbound_pending",
            "Received messages registered and not yet processed",
            inbound.pending as f64,
        ),
        (
            "donebot_inbound_spool_segments",
            "Segment files in the inbound spool (the active one included)",
            inbound.spool_segments as f64,
        ),
        (
            "donebot_inbound_spool_bytes",
            "Bytes of the inbound spool's segment files",
            inbound.spool_bytes as f64,
        ),
    ]);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_go_only_into_the_backup_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("backups");
        let inside = backup_target(Some(&root), "nightly").unwrap();
        assert_eq!(inside, root.canonicalize().unwrap().join("nightly"));
        let by_path = root.join("weekly").display().to_string();
        assert_eq!(
            backup_target(Some(&root), &by_path).unwrap(),
            root.canonicalize().unwrap().join("weekly")
        );
        for bad in [
            "../escape",
            "a/b",
            "..",
            "",
            "nul\0byte",
            "new\nline",
            "x".repeat(101).as_str(),
        ] {
            assert!(backup_target(Some(&root), bad).is_err(), "{bad}");
        }
        let outside = dir.path().join("elsewhere").display().to_string();
        assert!(matches!(
            backup_target(Some(&root), &outside),
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            backup_target(None, "nightly"),
            Err(AppError::Forbidden(_))
        ));
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MemberPatch {
    name: Option<String>,
    /// An IANA zone; `null`: the team's.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>, nullable)]
    timezone: Option<Option<String>>,
    /// `active`, `paused` (with `paused_until`, or until resumed) or `unsubscribed`.
    state: Option<String>,
    /// The last day of a pause (inclusive; today or later).
    paused_until: Option<NaiveDate>,
    /// ISO weekdays (1 = Monday … 7 = Sunday); `null`: the team's working days.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<Vec<u8>>, nullable)]
    prompt_days: Option<Option<Vec<u8>>>,
    /// "HH:MM" in the member's zone; `null`: the team's time.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>, nullable)]
    prompt_time: Option<Option<String>>,
}

/// A member's name, zone, state (pause, resume, unsubscribe) and own prompt days and time.
#[utoipa::path(
    patch, path = "/teams/{team}/members/{member}", tag = "members",
    summary = "Change a member's name, zone, state (pause, resume, unsubscribe), prompt days and time",
    params(("team" = String, Path, description = "The team's id or name"), ("member" = u64, Path, description = "The member's id")),
    request_body = MemberPatch,
    responses((status = 200, description = "The member, changed", body = MemberView), openapi::Errors),
)]
async fn patch_member(
    _: Admin,
    app: web::Data<App>,
    path: web::Path<(String, u64)>,
    body: web::Json<MemberPatch>,
) -> ApiResult<HttpResponse> {
    let (team, member) = path.into_inner();
    let team = app.store.find_team(&team)?;
    let current = member_of_team(&app, &team, member)?;
    if matches!(current.state, storage::MemberState::Removed { .. }) {
        return Err(AppError::Invalid(format!(
            "member {member} was removed; add them again as a new member"
        ))
        .into());
    }
    let body = body.into_inner();
    let days = match body.prompt_days {
        Some(Some(days)) => {
            scheduler::parse_iso_days(&days)
                .map_err(|e| AppError::Invalid(format!("prompt_days: {e}")))?;
            let mut days = days;
            days.sort_unstable();
            Some(Some(days))
        }
        other => other,
    };
    let time = match body.prompt_time {
        Some(Some(t)) => Some(Some(hh_mm("prompt_time", &t)?)),
        Some(None) => Some(None),
        None => None,
    };
    // The choice must fit the team's schedule (checked here, not at the next load).
    let choice = scheduler::MemberChoice {
        days: match &days {
            Some(d) => d.as_deref(),
            None => current.prompt_days.as_deref(),
        },
        time: time.unwrap_or(current.prompt_time),
    };
    scheduler::prompt_expr(&team.prompt_cron, &choice)
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let name = match body.name.as_deref().map(str::trim) {
        Some("") => return Err(AppError::Invalid("name: empty".into()).into()),
        Some(n) if n.chars().count() > 200 => {
            return Err(AppError::Invalid("name: at most 200 characters".into()).into());
        }
        other => other.map(str::to_owned),
    };
    if let Some(Some(zone)) = &body.timezone {
        crate::ops::parse_tz(zone)?;
    }
    let local_today = {
        let zone = current.timezone.as_deref().unwrap_or(&team.timezone);
        app.now()
            .with_timezone(&crate::ops::parse_tz(zone)?)
            .date_naive()
    };
    if body.paused_until.is_some() && body.state.as_deref() != Some("paused") {
        return Err(
            AppError::Invalid("paused_until: only with \"state\": \"paused\"".into()).into(),
        );
    }
    let state = match body.state.as_deref() {
        None => None,
        Some("active") => Some(storage::MemberState::Active),
        Some("paused") => match body.paused_until {
            Some(until) if until < local_today => {
                return Err(AppError::Invalid(format!(
                    "paused_until: {until} has already passed (today is {local_today})"
                ))
                .into());
            }
            until => Some(storage::MemberState::Paused { until }),
        },
        Some("unsubscribed") => Some(storage::MemberState::Unsubscribed { at: app.now() }),
        Some(other) => {
            return Err(AppError::Invalid(format!(
                "state: {other:?} (expected \"active\", \"paused\" or \"unsubscribed\")"
            ))
            .into());
        }
    };
    let updated = app.store.update_member(member, |m| {
        if let Some(name) = &name {
            m.name = name.clone();
        }
        if let Some(zone) = &body.timezone {
            m.timezone = zone.clone();
        }
        if let Some(state) = &state {
            m.state = state.clone();
        }
        if let Some(days) = &days {
            m.prompt_days = days.clone();
        }
        if let Some(time) = time {
            m.prompt_time = time;
        }
    })?;
    app.store.flush()?;
    app.actors
        .team(team.id)?
        .do_send(crate::actors::team::Reload);
    Ok(HttpResponse::Ok().json(MemberView::from(updated)))
}

/// Removes a member from the team: a former member whose dones stay; their chat accounts are
/// unlinked and their address may be added again.
#[utoipa::path(
    delete, path = "/teams/{team}/members/{member}", tag = "members",
    summary = "Remove a member (their dones stay)",
    params(("team" = String, Path, description = "The team's id or name"), ("member" = u64, Path, description = "The member's id")),
    responses((status = 200, description = "The former member", body = MemberView), openapi::Errors),
)]
async fn remove_member(
    _: Admin,
    app: web::Data<App>,
    path: web::Path<(String, u64)>,
) -> ApiResult<HttpResponse> {
    let (team, member) = path.into_inner();
    let team = app.store.find_team(&team)?;
    member_of_team(&app, &team, member)?;
    let removed = app.store.remove_member(member, app.now())?;
    app.actors
        .team(team.id)?
        .do_send(crate::actors::team::Reload);
    Ok(HttpResponse::Ok().json(MemberView::from(removed)))
}
