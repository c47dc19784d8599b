//! Operations on the data that need no running server: the CLI runs them on a stopped server's
//! data directory, and the running server calls the same functions before telling its actors.

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use storage::{
    ApiToken, Channel, Delivery, DigestDestinations, Identities, Member, MemberState,
    NewOutboxMessage, NewPrompt, OutboxKind, Prompt, PromptId, Role, Store, Team,
};

use bots::email::message::DkimConfig;

use crate::config::{Settings, bare_address};
use crate::domain::render;
use crate::domain::token::Signer;
use crate::error::{AppError, AppResult};

/// The HMAC key of reply tokens and links, created on first use and kept in the database.
pub fn signer(store: &Store) -> AppResult<Signer> {
    let key = store.secret("hmac", || {
        use rand::RngCore;
        let mut k = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        k
    })?;
    Ok(Signer::new(key))
}

pub fn parse_tz(name: &str) -> AppResult<scheduler::Tz> {
    scheduler::parse_tz(name).map_err(|e| AppError::Invalid(e.to_string()))
}

pub fn create_team(
    store: &Store,
    settings: &Settings,
    name: &str,
    timezone: &str,
    now: DateTime<Utc>,
) -> AppResult<Team> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::Invalid(
            "team name must be 1 to 100 printable characters".into(),
        ));
    }
    if name.parse::<u64>().is_ok() {
        return Err(AppError::Invalid(
            "a team name cannot be only digits (it would read as an id)".into(),
        ));
    }
    let tz = parse_tz(timezone)?;
    let calendar = scheduler::Calendar::default();
    let team = store.create_team(Team {
        id: 0,
        name: name.to_string(),
        timezone: tz.name().to_string(),
        prompt_cron: settings.prompt_cron.clone(),
        digest_cron: settings.digest_cron.clone(),
        working_days: calendar.working_days.iter(chrono::Weekday::Mon).collect(),
        holidays: vec![],
        digest_to: DigestDestinations {
            email_members: true,
            ..Default::default()
        },
        nudge_after_minutes: None,
        quiet_hours: Default::default(),
        created_at: now,
    })?;
    store.flush()?;
    Ok(team)
}

/// Adds a member and queues their welcome email (sent as soon as a server runs).
#[allow(clippy::too_many_arguments)]
pub fn add_member(
    store: &Store,
    settings: &Settings,
    signer: &Signer,
    team: &Team,
    name: &str,
    email: &str,
    timezone: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<Member> {
    let email = email.trim();
    let address = bare_address(email)
        .filter(|a| {
            a == email && a.split('@').all(|p| !p.is_empty()) && a.matches('@').count() == 1
        })
        .ok_or_else(|| AppError::Invalid(format!("{email:?} is not an email address")))?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::Invalid(
            "member name must be 1 to 100 printable characters".into(),
        ));
    }
    let timezone = timezone
        .map(|tz| parse_tz(tz).map(|tz| tz.name().to_string()))
        .transpose()?;
    let member = store.create_member(Member {
        id: 0,
        team_id: team.id,
        name: name.to_string(),
        email: address,
        timezone,
        identities: Identities::default(),
        prompt_channels: vec![],
        digest_channels: vec![],
        state: MemberState::Active,
        role: Role::Member,
        prompt_days: None,
        prompt_time: None,
        created_at: now,
    })?;
    let ctx = render::Ctx {
        settings,
        signer,
        now,
    };
    let prompt_time = describe_cron(&team.prompt_cron);
    // A one-time link code for every chat channel that is on.
    let mut link_hints = Vec::new();
    for config in &settings.channels {
        let Some(channel) = storage::Channel::try_new(config.name()) else {
            continue;
        };
        let code = create_link_code(
            store,
            storage::LinkPurpose::Member {
                member_id: member.id,
            },
            channel,
            now,
        )?;
        link_hints.push(config.link_hint(&code));
    }
    let email = render::welcome(&ctx, team, &member, &prompt_time, &link_hints);
    enqueue_email(
        store,
        settings.dkim(),
        &email,
        format!("welcome:{}", member.id),
        OutboxKind::Welcome,
        Some(team.id),
        Some(member.id),
        now,
    )?;
    store.flush()?;
    Ok(member)
}

/// Builds an email and puts it in the outbox under an idempotency key.
#[allow(clippy::too_many_arguments)] // the outbox record's fields, named at each call site
pub fn enqueue_email(
    store: &Store,
    dkim: Option<&DkimConfig>,
    email: &bots::email::message::OutgoingEmail,
    key: String,
    kind: OutboxKind,
    team_id: Option<u64>,
    member_id: Option<u64>,
    now: DateTime<Utc>,
) -> AppResult<(u64, bool)> {
    let message = outbox_message(email, dkim, key, kind, team_id, member_id, now)?;
    Ok(store.enqueue(&message, now)?)
}

/// A member's prompt of `day`, due at `due_at`, as prompt `prompt_id` (reserved with
/// [`Store::new_prompt_ids`], a team's at once): its signed reply token, the email rendered and
/// built (DKIM-signed if configured), ready for [`Store::create_prompts`] (which writes it unless
/// the member already has a prompt for that day).
pub fn new_prompt(
    ctx: &render::Ctx,
    prompt_id: PromptId,
    team: &Team,
    member: &Member,
    day: NaiveDate,
    due_at: DateTime<Utc>,
) -> AppResult<NewPrompt> {
    let token = ctx.signer.reply_token(prompt_id, member.id, day);
    let reply_to = format!("reply+{token}@{}", ctx.settings.domain);
    let email = render::prompt(ctx, team, member, prompt_id, day, &reply_to);
    let message = outbox_message(
        &email,
        ctx.settings.dkim(),
        storage::prompt_email_key(member.id, day),
        OutboxKind::Prompt,
        Some(team.id),
        Some(member.id),
        ctx.now,
    )?;
    let prompt = Prompt {
        id: prompt_id,
        team_id: team.id,
        member_id: member.id,
        day,
        due_at,
        created_at: ctx.now,
        deliveries: vec![Delivery {
            channel: Channel::Email,
            outbox_id: None,
            message_id: Some(email.message_id),
        }],
    };
    Ok(NewPrompt {
        prompt,
        messages: vec![message],
    })
}

pub fn outbox_message(
    email: &bots::email::message::OutgoingEmail,
    dkim: Option<&DkimConfig>,
    key: String,
    kind: OutboxKind,
    team_id: Option<u64>,
    member_id: Option<u64>,
    now: DateTime<Utc>,
) -> AppResult<NewOutboxMessage> {
    let built = bots::email::message::build_signed(email, dkim)
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    Ok(NewOutboxMessage {
        key,
        channel: Channel::Email,
        kind,
        team_id,
        member_id,
        envelope_from: built.envelope_from,
        envelope_to: built.envelope_to,
        message_id: email.message_id.clone(),
        body: built.raw,
        due_at: now,
    })
}

/// "0 18 * * 1-5" → "18:00"; anything fancier is shown as the expression.
pub fn describe_cron(expr: &str) -> String {
    let f: Vec<&str> = expr.split_whitespace().collect();
    match f.as_slice() {
        [m, h, ..] if m.parse::<u32>().is_ok() && h.parse::<u32>().is_ok() => {
            format!(
                "{:02}:{:02}",
                h.parse::<u32>().unwrap_or(0),
                m.parse::<u32>().unwrap_or(0)
            )
        }
        _ => format!("the schedule \"{expr}\""),
    }
}

/// Creates an admin token (`team: None`) and returns it; only its hash is stored.
pub fn create_token(
    store: &Store,
    admin: bool,
    label: &str,
    now: DateTime<Utc>,
) -> AppResult<String> {
    create_scoped_token(
        store,
        TokenScope {
            admin,
            team: None,
            expires_at: None,
        },
        label,
        now,
    )
    .map(|(token, _)| token)
}

/// What a new API token may do.
#[derive(Debug, Clone, Copy)]
pub struct TokenScope {
    /// Everything (teams, tokens, backups). Exclusive with `team`.
    pub admin: bool,
    /// Only this team's routes.
    pub team: Option<u64>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a token with `scope`; returns the token (shown once) and its record.
pub fn create_scoped_token(
    store: &Store,
    scope: TokenScope,
    label: &str,
    now: DateTime<Utc>,
) -> AppResult<(String, ApiToken)> {
    use rand::RngCore;
    if scope.admin == scope.team.is_some() {
        return Err(AppError::Invalid(
            "a token is either an admin token or scoped to one team".into(),
        ));
    }
    if scope.expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::Invalid("the expiry is in the past".into()));
    }
    let mut raw = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = format!(
        "dbt_{}",
        data_encoding::BASE32_NOPAD
            .encode(&raw)
            .to_ascii_lowercase()
    );
    let record = store.create_token(
        &token_hash(&token),
        ApiToken {
            id: 0,
            admin: scope.admin,
            team_id: scope.team,
            label: label.to_string(),
            created_at: now,
            expires_at: scope.expires_at,
        },
    )?;
    Ok((token, record))
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// How long a link code works.
pub const LINK_CODE_DAYS: i64 = 7;

/// A one-time code for `/start CODE` (link a member's account) or `/connect CODE` (a team's group
/// chat). Deep-link payloads allow `A-Za-z0-9_-`, up to 64 characters.
pub fn create_link_code(
    store: &Store,
    purpose: storage::LinkPurpose,
    channel: storage::Channel,
    now: DateTime<Utc>,
) -> AppResult<String> {
    use rand::RngCore;
    let mut raw = [0u8; 15];
    rand::thread_rng().fill_bytes(&mut raw);
    let code = data_encoding::BASE32_NOPAD
        .encode(&raw)
        .to_ascii_lowercase();
    store.create_link_code(
        &code,
        &storage::LinkCode {
            purpose,
            channel,
            expires_at: now + chrono::Duration::days(LINK_CODE_DAYS),
        },
    )?;
    Ok(code)
}

/// `"telegram"` → the channel, for link codes: any channel of the registry.
pub fn chat_channel(name: &str) -> AppResult<storage::Channel> {
    crate::channels::parse(name).ok_or_else(|| {
        let known: Vec<&str> = crate::channels::REGISTRY.iter().map(|s| s.name).collect();
        AppError::Invalid(format!(
            "unknown channel {name:?} (expected one of: {})",
            known.join(", ")
        ))
    })
}

/// A change of a team's schedule settings; `None` keeps a setting.
#[derive(Debug, Clone, Default)]
pub struct TeamSchedule {
    pub timezone: Option<String>,
    pub prompt_cron: Option<String>,
    pub digest_cron: Option<String>,
    /// `"mon-fri"`, `"mon,wed,fri"`.
    pub working_days: Option<String>,
    /// Replaces the list.
    pub holidays: Option<Vec<NaiveDate>>,
    pub digest_to_email: Option<bool>,
}

/// The most holidays a team keeps (years of them).
pub const MAX_HOLIDAYS: usize = 1_000;

/// Applies `change` to `team`, each setting checked first (the key names the mistake); on an
/// error `team` may be half changed, so callers store it only on `Ok`.
pub fn set_team_schedule(team: &mut Team, change: &TeamSchedule) -> AppResult<()> {
    let invalid = |key: &str, e: &dyn std::fmt::Display| AppError::Invalid(format!("{key}: {e}"));
    if let Some(zone) = &change.timezone {
        team.timezone = parse_tz(zone)?.name().to_owned();
    }
    let tz = parse_tz(&team.timezone)?;
    if let Some(expr) = &change.prompt_cron {
        scheduler::Schedule::new(expr, tz).map_err(|e| invalid("prompt_cron", &e))?;
        team.prompt_cron = expr.trim().to_owned();
    }
    if let Some(expr) = &change.digest_cron {
        scheduler::Schedule::new(expr, tz).map_err(|e| invalid("digest_cron", &e))?;
        team.digest_cron = expr.trim().to_owned();
    }
    if let Some(days) = &change.working_days {
        let set = scheduler::parse_weekdays(days).map_err(|e| invalid("working_days", &e))?;
        if set.is_empty() {
            return Err(invalid("working_days", &"at least one day"));
        }
        team.working_days = set.iter(chrono::Weekday::Mon).collect();
    }
    if let Some(holidays) = &change.holidays {
        if holidays.len() > MAX_HOLIDAYS {
            return Err(invalid("holidays", &format!("at most {MAX_HOLIDAYS}")));
        }
        let mut holidays = holidays.clone();
        holidays.sort_unstable();
        holidays.dedup();
        team.holidays = holidays;
    }
    if let Some(email) = change.digest_to_email {
        team.digest_to.email_members = email;
    }
    Ok(())
}

/// Replaces a done's text (kind, tags and mentions are derived from it again), flushed.
pub fn edit_done(
    store: &Store,
    id: u64,
    text: &str,
    now: DateTime<Utc>,
) -> AppResult<storage::Done> {
    let parsed = crate::domain::lines::parse_line(text)
        .ok_or_else(|| AppError::Invalid("the text is empty".into()))?;
    let done = store.update_done(id, now, |d| {
        d.text = parsed.text.clone();
        d.kind = parsed.kind;
        d.tags = parsed.tags.clone();
        d.mentions = parsed.mentions.clone();
    })?;
    store.flush()?;
    Ok(done)
}

/// Deletes a done (a flag: a redelivered message does not bring it back), flushed.
pub fn delete_done(store: &Store, id: u64, now: DateTime<Utc>) -> AppResult<()> {
    store.update_done(id, now, |d| d.deleted = true)?;
    store.flush()?;
    Ok(())
}

/// Makes a member a team admin (manages the team's members and schedules on the web) or a plain
/// member, flushed.
pub fn set_role(store: &Store, member: u64, role: storage::Role) -> AppResult<Member> {
    let m = store.update_member(member, |m| m.role = role)?;
    store.flush()?;
    Ok(m)
}
