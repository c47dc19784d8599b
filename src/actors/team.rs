//! The team actor: one per team, supervised. It owns the team's schedules and is the only writer
//! of its prompts and digests, and decides which replies become which dones (written, in the
//! order it decided them, by the [`recorder`] with other teams' replies; `undo` deletes one done
//! directly: see `crate::commands`), so per-team work is serialised without locks. Everything it
//! sends, by email or on a chat channel, is an outbox message written in the transaction that
//! creates it.
//!
//! State lives in sled; the actor's fields are a cache rebuilt by `load` on start and on restart.
//! A panic inside a handler is caught, logged and turned into a stop, and the actix `Supervisor`
//! restarts the actor (reloading from sled): other teams never notice. The scheduling cursor
//! (`cursors/team.ID`) records up to when fires were handled; every send is idempotent on its key
//! (a prompt per member and day, a digest per member and day), so replaying a window is harmless.

use std::panic::AssertUnwindSafe;

use actix::{
    Actor, Addr, AsyncContext, Context, Handler, Message, ResponseFuture, Supervised, Supervisor,
};
use bots::bus::{Outgoing, OutgoingBody};
use chrono::{DateTime, NaiveDate, Utc};
use scheduler::{Calendar, Schedule, Tz};
use storage::{
    Channel, Member, MemberState, NewPrompt, NewReply, OutboxKind, PromptId, RecordOutcome, Source,
    Team, TeamId,
};
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};

use crate::actors::Actors;
use crate::actors::outbox::chat::{self as chat_out, Recipient};
use crate::actors::recorder;
use crate::context::AppContext;
use crate::domain::render::{self, PROMPT_QUESTION};
use crate::domain::{digest, lines};
use crate::error::{AppError, AppResult};
use crate::events::Event;
use crate::metrics::Metrics;
use crate::ops;

/// The clock moved: handle every fire up to `now`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Tick {
    pub now: DateTime<Utc>,
}

/// The team or its members changed in storage: reload.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload;

/// Send the prompt of `day` (default: each member's local today) to every active member now.
#[derive(Message)]
#[rtype(result = "AppResult<usize>")]
pub struct SendPromptsNow {
    pub day: Option<NaiveDate>,
}

/// Send the digest covering `day` (default: the previous workday span) to every active member now.
#[derive(Message)]
#[rtype(result = "AppResult<usize>")]
pub struct SendDigestNow {
    pub day: Option<NaiveDate>,
}

/// A member's reply, already matched to its day: record its lines as dones.
#[derive(Message, Debug, Clone)]
#[rtype(result = "AppResult<RecordOutcome>")]
pub struct RecordReply {
    pub member: u64,
    pub day: NaiveDate,
    pub text: String,
    pub source: Source,
    /// An edit of an earlier message: its dones are replaced.
    pub replace: bool,
    /// The received email it comes from, when that was never registered: recording the reply
    /// writes its record (see `storage::NewReply::received`).
    pub received: Option<storage::SpoolEntry>,
}

/// Fault injection for tests of supervision: the handler panics.
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectPanic;

struct MemberSchedule {
    member: Member,
    tz: Tz,
    /// The member's own days and time, or the team's (`scheduler::member`).
    prompt: Schedule,
    /// The days the member is prompted: theirs or the team's working days, and the team's holidays.
    prompt_calendar: Calendar,
    digest: Schedule,
}

struct Loaded {
    team: Team,
    /// The digest schedule in the team's zone, for the team's group chats.
    team_digest: Schedule,
    /// The prompt schedule in the team's zone, for the team's chats that take the prompt in a
    /// thread.
    team_prompt: Schedule,
    calendar: Calendar,
    members: Vec<MemberSchedule>,
}

pub struct TeamActor {
    app: AppContext,
    /// How it wakes the outbox and reaches the recorder.
    actors: Actors,
    team_id: TeamId,
    state: Option<Loaded>,
    /// Replies received since the last [`FlushRecords`], handed to the recorder together.
    pending_records: Vec<(RecordReply, oneshot::Sender<AppResult<RecordOutcome>>)>,
}

/// Hand the replies waiting in `pending_records` to the recorder. Sent to itself by the first
/// reply that arrives while none waits: every reply that reaches the mailbox before it is handled
/// goes in one batch (and the recorder writes the batches of all teams that arrive together in
/// one transaction: a sled transaction costs far more than the writes in it).
#[derive(Message)]
#[rtype(result = "()")]
struct FlushRecords;

impl TeamActor {
    pub fn start(app: AppContext, actors: Actors, team_id: TeamId) -> Addr<TeamActor> {
        Supervisor::start(move |_| TeamActor {
            app,
            actors,
            team_id,
            state: None,
            pending_records: Vec::new(),
        })
    }

    fn load(&mut self) {
        match self.try_load() {
            Ok(state) => self.state = Some(state),
            Err(e) => {
                error!(team_id = self.team_id, error = %e, "cannot load team; it will not be scheduled until reloaded");
                self.state = None;
            }
        }
    }

    fn try_load(&self) -> AppResult<Loaded> {
        let team = self.app.store.team(self.team_id)?;
        let team_tz = ops::parse_tz(&team.timezone)?;
        let calendar = Calendar {
            working_days: team.working_days.iter().copied().collect(),
            holidays: team.holidays.iter().copied().collect(),
        };
        let mut members = Vec::new();
        for member in self.app.store.members_of(team.id)? {
            let tz = match &member.timezone {
                Some(z) => ops::parse_tz(z)?,
                None => team_tz,
            };
            let schedule =
                |expr: &str| Schedule::new(expr, tz).map_err(|e| AppError::Invalid(e.to_string()));
            let choice = scheduler::MemberChoice {
                days: member.prompt_days.as_deref(),
                time: member.prompt_time,
            };
            // Checked when set; a choice that no longer fits the team's schedule (changed
            // since) falls back to the team's rather than stopping the whole team.
            let own = scheduler::prompt_expr(&team.prompt_cron, &choice)
                .and_then(|expr| Ok((expr, scheduler::prompt_calendar(&calendar, &choice)?)));
            let (prompt_expr, prompt_calendar) = match own {
                Ok(own) => own,
                Err(e) => {
                    warn!(member_id = member.id, error = %e, "the member's own prompt days or time do not fit; the team's apply");
                    (team.prompt_cron.clone(), calendar.clone())
                }
            };
            members.push(MemberSchedule {
                prompt: schedule(&prompt_expr)?,
                prompt_calendar,
                digest: schedule(&team.digest_cron)?,
                tz,
                member,
            });
        }
        let team_digest = Schedule::new(&team.digest_cron, team_tz)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let team_prompt = Schedule::new(&team.prompt_cron, team_tz)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        Ok(Loaded {
            team,
            team_digest,
            team_prompt,
            calendar,
            members,
        })
    }

    fn cursor_name(&self) -> String {
        format!("team.{}", self.team_id)
    }

    /// Handles every prompt and digest fire in (cursor, now], each at most once.
    fn run_schedules(&self, now: DateTime<Utc>) -> AppResult<()> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        let cursor = self
            .app
            .store
            .cursor(&self.cursor_name())?
            .unwrap_or(state.team.created_at);
        if cursor >= now {
            return Ok(());
        }
        let grace = self.app.settings.grace;
        let mut queued = false;
        let mut wanted = Vec::new();
        for ms in &state.members {
            for fire in scheduler::due_fires(&ms.prompt, cursor, now, grace) {
                if fire.at >= ms.member.created_at && self.wants_prompt(ms, fire.local_date)? {
                    wanted.push((ms, fire.local_date, fire.at));
                }
            }
            for fire in scheduler::due_fires(&ms.digest, cursor, now, grace) {
                if fire.at >= ms.member.created_at
                    && state.calendar.is_workday(fire.local_date)
                    && let Some((from, to)) = state.calendar.digest_span(fire.local_date)
                {
                    queued |= self.send_digest(state, ms, from, to)?;
                }
            }
        }
        let prompts = self.new_prompts(state, &wanted)?;
        queued |= self.create_prompts(state, prompts)? > 0;
        for fire in scheduler::due_fires(&state.team_prompt, cursor, now, grace) {
            if state.calendar.is_workday(fire.local_date) {
                queued |= self.send_team_prompt(state, fire.local_date)? > 0;
            }
        }
        for fire in scheduler::due_fires(&state.team_digest, cursor, now, grace) {
            if state.calendar.is_workday(fire.local_date)
                && let Some((from, to)) = state.calendar.digest_span(fire.local_date)
            {
                queued |= self.send_team_digest(state, from, to)? > 0;
            }
        }
        queued |= self.send_nudges(state, now)?;
        self.app.store.set_cursor(&self.cursor_name(), now)?;
        if queued {
            self.actors.wake_outbox();
        }
        Ok(())
    }

    /// Whether a member is to get the prompt of `day`: active (or paused until before it), a
    /// prompt day of theirs, and not prompted for it yet.
    fn wants_prompt(&self, ms: &MemberSchedule, day: NaiveDate) -> AppResult<bool> {
        let member = &ms.member;
        let paused_until = match &member.state {
            MemberState::Active => None,
            MemberState::Paused { until: Some(d) } => Some(*d),
            MemberState::Paused { until: None }
            | MemberState::Unsubscribed { .. }
            | MemberState::Bouncing { .. }
            | MemberState::Removed { .. } => return Ok(false),
        };
        Ok(
            scheduler::should_prompt(&ms.prompt_calendar, day, paused_until)
                && self.app.store.prompt_for_day(member.id, day)?.is_none(),
        )
    }

    /// The prompts of those members and days (each as [`Self::wants_prompt`] found it: `day`,
    /// due at `due_at`), rendered, their ids reserved at once. Written by [`Self::create_prompts`].
    fn new_prompts(
        &self,
        state: &Loaded,
        wanted: &[(&MemberSchedule, NaiveDate, DateTime<Utc>)],
    ) -> AppResult<Vec<NewPrompt>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.app.store.new_prompt_ids(wanted.len())?;
        wanted
            .iter()
            .zip(ids)
            .map(|(&(ms, day, due_at), id)| self.new_prompt(state, ms, day, due_at, id))
            .collect()
    }

    /// One member's prompt of `day`, rendered, with its chat messages.
    fn new_prompt(
        &self,
        state: &Loaded,
        ms: &MemberSchedule,
        day: NaiveDate,
        due_at: DateTime<Utc>,
        id: PromptId,
    ) -> AppResult<NewPrompt> {
        let member = &ms.member;
        let ctx = render::Ctx {
            settings: &self.app.settings,
            signer: &self.app.signer,
            now: self.app.now(),
        };
        let mut prompt = ops::new_prompt(&ctx, id, &state.team, member, day, due_at)?;
        // The same prompt on each of the member's chat accounts, in the prompt's transaction;
        // not where the team takes its prompt in a thread of its chat.
        for channel in self.chat_channels() {
            let Some(account) = member.identities.account(channel) else {
                continue;
            };
            if state.team.digest_to.prompts_in_thread(channel) {
                continue;
            }
            let message = Outgoing {
                key: format!("prompt:{}:{day}:{channel}", member.id),
                to: account.chat_id.clone(),
                body: OutgoingBody::Prompt {
                    day,
                    text: format!(
                        "{PROMPT_QUESTION} ({})\nReply to this message with one line per thing.",
                        day.format("%A, %B %-d")
                    ),
                },
                reply_to: None,
                answer_via: None,
            };
            prompt.messages.push(chat_out::new_message(
                channel,
                Recipient::Member(state.team.id, member.id),
                OutboxKind::Prompt,
                Some(prompt.prompt.id),
                message,
                ctx.now,
            )?);
        }
        Ok(prompt)
    }

    /// The chat channels that are configured (their messages would otherwise wait for nothing).
    fn chat_channels(&self) -> Vec<Channel> {
        self.app
            .settings
            .channels
            .iter()
            .filter_map(|c| Channel::try_new(c.name()))
            .collect()
    }

    /// Reminds each active member who has not answered their prompt (of their today or
    /// yesterday), `nudge_after_minutes` after it was due, on every channel it went out on. Each
    /// prompt is decided once (`nudge.PROMPT`, marked after the reminders are queued, which are
    /// idempotent per prompt and channel): a reminder that falls in the member's quiet hours, comes
    /// later than the catch-up grace, or finds an answer is skipped, not delayed.
    fn send_nudges(&self, state: &Loaded, now: DateTime<Utc>) -> AppResult<bool> {
        let Some(after) = state.team.nudge_after_minutes else {
            return Ok(false);
        };
        let after = chrono::Duration::minutes(i64::from(after));
        let mut queued = false;
        for ms in &state.members {
            let today = Self::local_today(ms, now);
            for day in [today - chrono::Duration::days(1), today] {
                let Some(prompt) = self.app.store.prompt_for_day(ms.member.id, day)? else {
                    continue;
                };
                let due = prompt.due_at + after;
                let decided = format!("nudge.{}", prompt.id);
                if now < due || self.app.store.is_marked(&decided)? {
                    continue;
                }
                let skip = if !matches!(ms.member.state, MemberState::Active) {
                    Some("not active")
                } else if now - due > self.app.settings.grace {
                    Some("too late")
                } else if state
                    .team
                    .quiet_hours
                    .contains(now.with_timezone(&ms.tz).time())
                {
                    Some("quiet hours")
                } else if self
                    .app
                    .store
                    .team_dones(state.team.id, prompt.day, prompt.day)?
                    .iter()
                    .any(|d| d.member_id == ms.member.id && !d.deleted)
                {
                    Some("answered")
                } else {
                    None
                };
                match skip {
                    Some(why) => debug!(
                        member_id = ms.member.id,
                        prompt_id = prompt.id,
                        why,
                        "no nudge"
                    ),
                    None => {
                        let messages = self.nudge_messages(state, &ms.member, &prompt)?;
                        let created = self.app.store.enqueue_many(&messages, now)?;
                        info!(
                            member_id = ms.member.id,
                            prompt_id = prompt.id,
                            channels = created.len(),
                            "nudge queued"
                        );
                        queued = true;
                    }
                }
                self.app.store.mark_once(&decided)?;
            }
        }
        Ok(queued)
    }

    /// The reminders of `prompt`: an email in its thread, and a reply to it on each chat it was
    /// delivered to.
    fn nudge_messages(
        &self,
        state: &Loaded,
        member: &Member,
        prompt: &storage::Prompt,
    ) -> AppResult<Vec<storage::NewOutboxMessage>> {
        let now = self.app.now();
        let ctx = render::Ctx {
            settings: &self.app.settings,
            signer: &self.app.signer,
            now,
        };
        let mut messages = Vec::new();
        let email_thread = prompt
            .deliveries
            .iter()
            .find(|d| d.channel == Channel::Email)
            .and_then(|d| d.message_id.as_deref());
        if !matches!(member.state, MemberState::Bouncing { .. }) {
            let token = self
                .app
                .signer
                .reply_token(prompt.id, member.id, prompt.day);
            let reply_to = format!("reply+{token}@{}", self.app.settings.domain);
            let email = render::nudge(
                &ctx,
                &state.team,
                member,
                prompt.id,
                prompt.day,
                &reply_to,
                email_thread,
            );
            messages.push(ops::outbox_message(
                &email,
                self.app.settings.dkim(),
                format!("nudge:{}:email", prompt.id),
                OutboxKind::Nudge,
                Some(state.team.id),
                Some(member.id),
                now,
            )?);
        }
        let configured = self.chat_channels();
        for delivery in prompt
            .deliveries
            .iter()
            .filter(|d| configured.contains(&d.channel))
        {
            // `CHANNEL:CHAT:MESSAGE`, as the outbox recorded it.
            let Some((chat, message)) = delivery
                .message_id
                .as_deref()
                .and_then(|k| k.strip_prefix(delivery.channel.as_str()))
                .and_then(|k| k.strip_prefix(':'))
                .and_then(|k| k.split_once(':'))
            else {
                continue;
            };
            if member.identities.account(delivery.channel).is_none() {
                continue;
            }
            let message = Outgoing {
                key: format!("nudge:{}:{}", prompt.id, delivery.channel),
                to: chat.to_owned(),
                body: OutgoingBody::Notice {
                    text: format!(
                        "A reminder: what did you get done on {}? Reply to this message, one line per thing.",
                        prompt.day.format("%A, %B %-d")
                    ),
                },
                reply_to: Some(message.to_owned()),
                answer_via: None,
            };
            messages.push(chat_out::new_message(
                delivery.channel,
                Recipient::Member(state.team.id, member.id),
                OutboxKind::Nudge,
                None,
                message,
                now,
            )?);
        }
        Ok(messages)
    }

    /// Queues the team's prompt of `day` into its chats that take it in a thread, once per chat
    /// and day. Returns how many were new.
    fn send_team_prompt(&self, state: &Loaded, day: NaiveDate) -> AppResult<usize> {
        let mut messages = Vec::new();
        for channel in self.chat_channels() {
            let Some(chat) = state
                .team
                .digest_to
                .chat(channel)
                .filter(|_| state.team.digest_to.prompts_in_thread(channel))
            else {
                continue;
            };
            let message = Outgoing {
                key: format!("prompt:team:{}:{day}:{channel}", state.team.id),
                to: chat.to_owned(),
                body: OutgoingBody::Prompt {
                    day,
                    text: format!(
                        "{PROMPT_QUESTION} ({})\nReply in this thread, one line per thing.",
                        day.format("%A, %B %-d")
                    ),
                },
                reply_to: None,
                answer_via: None,
            };
            messages.push(chat_out::new_message(
                channel,
                Recipient::TeamChat(state.team.id),
                OutboxKind::Prompt,
                None,
                message,
                self.app.now(),
            )?);
        }
        if messages.is_empty() {
            return Ok(0);
        }
        let created = self.app.store.enqueue_many(&messages, self.app.now())?;
        let new = created.iter().filter(|(_, new)| *new).count();
        if new > 0 {
            info!(team_id = state.team.id, %day, chats = new, "team prompt queued");
        }
        Ok(new)
    }

    /// Queues the digest of `from..=to` into the team's chats, once per chat and day. Returns how
    /// many were new.
    fn send_team_digest(&self, state: &Loaded, from: NaiveDate, to: NaiveDate) -> AppResult<usize> {
        let channels: Vec<Channel> = self
            .chat_channels()
            .into_iter()
            .filter(|c| state.team.digest_to.chat(*c).is_some())
            .collect();
        if channels.is_empty() {
            return Ok(0);
        }
        let value = self.digest_value(state, from, to)?;
        let mut messages = Vec::new();
        for channel in channels {
            let chat = state.team.digest_to.chat(channel).unwrap_or_default();
            let message = Outgoing {
                key: format!("digest:{}:{to}:{channel}", state.team.id),
                to: chat.to_owned(),
                body: OutgoingBody::Digest(value.clone()),
                reply_to: None,
                answer_via: None,
            };
            messages.push(chat_out::new_message(
                channel,
                Recipient::TeamChat(state.team.id),
                OutboxKind::Digest,
                None,
                message,
                self.app.now(),
            )?);
        }
        let created = self.app.store.enqueue_many(&messages, self.app.now())?;
        let new = created.iter().filter(|(_, new)| *new).count();
        if new > 0 {
            info!(team_id = state.team.id, %from, %to, chats = new, "team digest queued");
        }
        Ok(new)
    }

    /// The digest of `from..=to` as a domain value, for the chat channels to render.
    fn digest_value(
        &self,
        state: &Loaded,
        from: NaiveDate,
        to: NaiveDate,
    ) -> AppResult<bots::bus::Digest> {
        let dones = self.app.store.team_dones(state.team.id, from, to)?;
        let members: Vec<Member> = state.members.iter().map(|m| m.member.clone()).collect();
        Ok(digest::build(&state.team, &members, &dones, from, to))
    }

    /// Queues the digest into the member's private chats where they asked for it (`/digest here`).
    fn send_member_chat_digest(
        &self,
        state: &Loaded,
        member: &Member,
        value: &bots::bus::Digest,
    ) -> AppResult<bool> {
        let channels: Vec<Channel> = self
            .chat_channels()
            .into_iter()
            .filter(|c| {
                member.digest_channels.contains(c) && member.identities.account(*c).is_some()
            })
            .collect();
        if channels.is_empty() {
            return Ok(false);
        }
        let to = value.to;
        let mut messages = Vec::new();
        for channel in channels {
            let chat = member
                .identities
                .account(channel)
                .map(|a| a.chat_id.clone())
                .unwrap_or_default();
            let message = Outgoing {
                key: format!("digest:{}:{to}:{}:{channel}", state.team.id, member.id),
                to: chat,
                body: OutgoingBody::Digest(value.clone()),
                reply_to: None,
                answer_via: None,
            };
            messages.push(chat_out::new_message(
                channel,
                Recipient::Member(state.team.id, member.id),
                OutboxKind::Digest,
                None,
                message,
                self.app.now(),
            )?);
        }
        let created = self.app.store.enqueue_many(&messages, self.app.now())?;
        Ok(created.iter().any(|(_, new)| *new))
    }

    /// Writes the team's new prompts with their emails, a batch per transaction (each prompt at
    /// most once per member and day), then announces each one created. Returns how many were.
    fn create_prompts(&self, state: &Loaded, prompts: Vec<NewPrompt>) -> AppResult<usize> {
        if prompts.is_empty() {
            return Ok(0);
        }
        let created = self
            .actors
            .create_prompts(&self.app.store, prompts, self.app.now())?;
        let mut count = 0;
        for (prompt, _) in created.iter().filter(|(_, new)| *new) {
            count += 1;
            info!(team_id = state.team.id, member_id = prompt.member_id, prompt_id = prompt.id, day = %prompt.day, "prompt queued");
            Metrics::inc(&self.app.metrics.prompts_sent);
            self.app.emit(Event::PromptQueued {
                team: state.team.id,
                member: prompt.member_id,
                prompt: prompt.id,
            });
        }
        Ok(count)
    }

    /// Queues one member's digest of the days `from..=to`. Returns whether it was new.
    fn send_digest(
        &self,
        state: &Loaded,
        ms: &MemberSchedule,
        from: NaiveDate,
        to: NaiveDate,
    ) -> AppResult<bool> {
        let member = &ms.member;
        // A paused member gets no email at all from donebot until they resume (what "pause"
        // says); a pause until a day ends after it.
        let paused = match &member.state {
            MemberState::Active => false,
            MemberState::Paused { until: Some(until) } => to <= *until,
            _ => true,
        };
        if paused || !state.team.digest_to.email_members {
            return Ok(false);
        }
        let value = self.digest_value(state, from, to)?;
        let now = self.app.now();
        let ctx = render::Ctx {
            settings: &self.app.settings,
            signer: &self.app.signer,
            now,
        };
        let email = render::digest(&ctx, &state.team, member, &value);
        let key = format!("digest:{}:{to}:{}", state.team.id, member.id);
        let (_, created) = ops::enqueue_email(
            &self.app.store,
            self.app.settings.dkim(),
            &email,
            key,
            OutboxKind::Digest,
            Some(state.team.id),
            Some(member.id),
            now,
        )?;
        let chat = self.send_member_chat_digest(state, member, &value)?;
        let created = created || chat;
        if created {
            info!(team_id = state.team.id, member_id = member.id, %from, %to, "digest queued");
            Metrics::inc(&self.app.metrics.digests_sent);
            self.app.emit(Event::DigestQueued {
                team: state.team.id,
                member: member.id,
            });
        }
        Ok(created)
    }

    fn local_today(ms: &MemberSchedule, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&ms.tz).date_naive()
    }

    /// The loaded state, or why there is none.
    fn loaded(&self) -> AppResult<&Loaded> {
        self.state
            .as_ref()
            .ok_or_else(|| AppError::Unavailable(format!("team {} is not loaded", self.team_id)))
    }

    /// What a request gets when its handler panicked (the actor restarts; the caller may retry).
    fn failed<T>() -> AppResult<T> {
        Err(AppError::Unavailable("the team actor failed; retry".into()))
    }

    /// Checks a reply and turns its text into dones to record.
    fn prepare(&self, msg: RecordReply) -> AppResult<NewReply> {
        let state = self.loaded()?;
        let Some(ms) = state.members.iter().find(|m| m.member.id == msg.member) else {
            return Err(AppError::NotFound(format!(
                "member {} in team {}",
                msg.member, self.team_id
            )));
        };
        if matches!(ms.member.state, MemberState::Removed { .. }) {
            return Err(AppError::Invalid(format!(
                "member {} was removed from the team; nothing of theirs is recorded",
                msg.member
            )));
        }
        let lines = lines::parse_lines(&msg.text);
        // An edit may leave nothing to record (a message deleted, or edited down to "Thanks!"):
        // its earlier dones are removed all the same.
        if lines.is_empty() && !msg.replace {
            return Err(AppError::Invalid("the reply has no lines to record".into()));
        }
        Ok(NewReply {
            team: self.team_id,
            member: msg.member,
            day: msg.day,
            lines,
            source: msg.source,
            replace: msg.replace,
            received: msg.received,
        })
    }

    /// Hands every waiting reply that may be recorded to the recorder, which writes them (with
    /// other teams' replies) in one transaction and answers each; answers the others now.
    fn record_pending(&mut self) {
        let waiting = std::mem::take(&mut self.pending_records);
        let mut replies = Vec::with_capacity(waiting.len());
        for (msg, answer) in waiting {
            match self.prepare(msg) {
                Ok(reply) => replies.push(recorder::Pending { reply, answer }),
                Err(e) => {
                    let _ = answer.send(Err(e));
                }
            }
        }
        if !replies.is_empty() {
            self.actors.recorder().do_send(recorder::RecordBatch {
                team: self.team_id,
                replies,
            });
        }
    }

    /// Runs a handler body; a panic stops the actor so that its supervisor restarts it.
    fn guarded<R>(
        &mut self,
        ctx: &mut Context<Self>,
        fallback: R,
        body: impl FnOnce(&mut Self) -> R,
    ) -> R {
        match std::panic::catch_unwind(AssertUnwindSafe(|| body(self))) {
            Ok(r) => r,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                error!(team_id = self.team_id, panic = %what, "team actor panicked; restarting it");
                actix::ActorContext::stop(ctx);
                fallback
            }
        }
    }
}

impl Actor for TeamActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.load();
        // After a restart: replies that arrived before it still wait, but their flush was lost
        // with the old context.
        if !self.pending_records.is_empty() {
            ctx.notify(FlushRecords);
        }
    }
}

impl Supervised for TeamActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        Metrics::inc(&self.app.metrics.actor_restarts);
        self.app
            .emit(Event::TeamActorRestarted { team: self.team_id });
        warn!(
            team_id = self.team_id,
            "team actor restarted; state reloaded from storage"
        );
    }
}

impl Handler<Tick> for TeamActor {
    type Result = ();
    fn handle(&mut self, msg: Tick, ctx: &mut Context<Self>) {
        self.guarded(ctx, (), |this| {
            if let Err(e) = this.run_schedules(msg.now) {
                error!(team_id = this.team_id, error = %e, "scheduling failed; will retry on the next tick");
            }
        })
    }
}

impl Handler<Reload> for TeamActor {
    type Result = ();
    fn handle(&mut self, _: Reload, ctx: &mut Context<Self>) {
        self.guarded(ctx, (), |this| this.load())
    }
}

impl Handler<SendPromptsNow> for TeamActor {
    type Result = AppResult<usize>;
    fn handle(&mut self, msg: SendPromptsNow, ctx: &mut Context<Self>) -> AppResult<usize> {
        let result = self.guarded(ctx, Self::failed(), |this| {
            let state = this.loaded()?;
            let now = this.app.now();
            let mut wanted = Vec::new();
            for ms in &state.members {
                let day = msg.day.unwrap_or_else(|| Self::local_today(ms, now));
                if this.wants_prompt(ms, day)? {
                    wanted.push((ms, day, now));
                }
            }
            let prompts = this.new_prompts(state, &wanted)?;
            let team_day = msg
                .day
                .unwrap_or_else(|| now.with_timezone(&state.team_prompt.tz()).date_naive());
            Ok(this.create_prompts(state, prompts)? + this.send_team_prompt(state, team_day)?)
        });
        self.actors.wake_outbox();
        result
    }
}

impl Handler<SendDigestNow> for TeamActor {
    type Result = AppResult<usize>;
    fn handle(&mut self, msg: SendDigestNow, ctx: &mut Context<Self>) -> AppResult<usize> {
        let result = self.guarded(ctx, Self::failed(), |this| {
            let state = this.loaded()?;
            let now = this.app.now();
            let mut sent = 0;
            for ms in &state.members {
                let span = match msg.day {
                    Some(day) => Some((day, day)),
                    None => state.calendar.digest_span(Self::local_today(ms, now)),
                };
                if let Some((from, to)) = span
                    && this.send_digest(state, ms, from, to)?
                {
                    sent += 1;
                }
            }
            let today = now.with_timezone(&state.team_digest.tz()).date_naive();
            let span = match msg.day {
                Some(day) => Some((day, day)),
                None => state.calendar.digest_span(today),
            };
            if let Some((from, to)) = span {
                sent += this.send_team_digest(state, from, to)?;
            }
            Ok(sent)
        });
        self.actors.wake_outbox();
        result
    }
}

impl Handler<RecordReply> for TeamActor {
    type Result = ResponseFuture<AppResult<RecordOutcome>>;
    fn handle(&mut self, msg: RecordReply, ctx: &mut Context<Self>) -> Self::Result {
        let (answer, answered) = oneshot::channel();
        if self.pending_records.is_empty() {
            ctx.notify(FlushRecords);
        }
        self.pending_records.push((msg, answer));
        // A panic while recording drops the answer: the caller hears "failed; retry".
        Box::pin(async move { answered.await.unwrap_or_else(|_| Self::failed()) })
    }
}

impl Handler<FlushRecords> for TeamActor {
    type Result = ();
    fn handle(&mut self, _: FlushRecords, ctx: &mut Context<Self>) {
        self.guarded(ctx, (), |this| this.record_pending());
    }
}

impl Handler<InjectPanic> for TeamActor {
    type Result = ();
    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        self.guarded(ctx, (), |this| {
            panic!("injected panic in team {}", this.team_id)
        })
    }
}
