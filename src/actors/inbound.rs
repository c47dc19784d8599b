//! The inbound actor: every received email becomes durable first, then dones or a command.
//!
//! `InboundMail` (from the SMTP listener or an HTTP endpoint) is appended to the inbound spool and
//! synced before the answer goes back, so the sender's `250`/`200` always means "on disk". One
//! writer thread appends and syncs for everyone (`storage::InboundWriter`): sessions accepting at
//! the same time share one `fdatasync`. The message is then processed by [`InboundProcessor`] on
//! a thread of its own: parsed and trimmed, matched to a member and day, and recorded by that
//! team's actor in the same transaction that writes its log record, processed. Start-up
//! processes whatever a crash left unsettled in the spool. Nothing is ever dropped: a message that
//! cannot be used is kept as `failed` with the reason (`donebot inbound list --failed`).
//!
//! Matching, strongest first: the signed token in `reply+TOKEN@domain`, which is the credential;
//! without one, the sender must be authenticated (`bots::email::auth`: a DKIM signature aligned
//! with the From domain, or the operator's MTA's `Authentication-Results`), and then
//! `In-Reply-To` / `References` against the Message-IDs of sent prompts, else the sender's
//! address to that member's latest prompt, picks the day. Unauthenticated mail claiming to be a
//! member is refused (kept as failed) and the member is told, at most once a day. Auto-replies
//! and bounces never become dones and are never answered; a bounce marks a member only when it
//! came back to that member's VERP address (`bounce+TOKEN@domain`) or names the Message-ID of a
//! prompt donebot sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, ResponseFuture,
    WrapFuture,
};
use bots::bus::{InboundAccepted, InboundMail, InboundRefused};
use bots::email::auth::Checker;
use bots::email::dsn;
use bots::email::parse::{AutoKind, ParsedMail};
use chrono::{Duration, NaiveDate};
use storage::{
    Channel, InboundId, InboundState, Member, MemberState, OutboxKind, Prompt, Registered, Source,
};
use tracing::{info, warn};

use crate::actors::Actors;
use crate::actors::team::{RecordReply, Reload};
use crate::commands::Command;
use crate::commands::words::{self, Said};
use crate::context::AppContext;
use crate::domain::render;
use crate::domain::token::Signer;
use crate::error::AppError;
use crate::events::Event;
use crate::logging;
use crate::metrics::Metrics;
use crate::ops;

/// How often the bodies of failed mail are pruned (`[inbound] failed_retention_days`, `failed_max_mb`).
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes the bodies of failed mail past their retention or beyond the size cap.
fn prune_failed(app: &AppContext) {
    let cutoff = app.now() - app.settings.failed_retention;
    match app
        .store
        .prune_failed_bodies(cutoff, app.settings.failed_max_bytes)
    {
        Ok(0) => {}
        Ok(n) => info!(bodies = n, "deleted the bodies of old failed inbound mail"),
        Err(e) => warn!(error = %e, "cannot prune failed inbound mail"),
    }
}

/// A reply token is honoured this long after its prompt went out.
const TOKEN_LIFETIME_DAYS: i64 = 30;

/// Process one message of the inbound log.
#[derive(Message)]
#[rtype(result = "()")]
pub enum Process {
    /// Just made durable in the spool: register it in sled (a second delivery of the same
    /// Message-ID stops here), then process it. The raw message comes along while few are
    /// waiting (so it is not read back from the spool); in a burst, beyond [`MAX_BUFFERED`]
    /// waiting messages, it is read back instead of being held in memory.
    Received {
        entry: Box<storage::SpoolEntry>,
        raw: Option<(Vec<u8>, Buffered)>,
    },
    /// A record left pending (by a crash, or a restored backup): its body is read from the log.
    Pending(InboundId),
}

/// At most this many received messages wait for processing with their raw bytes in memory.
pub const MAX_BUFFERED: usize = 1024;

/// A raw message held in memory between receipt and processing; dropping it frees its slot.
pub struct Buffered(Arc<AtomicUsize>);

impl Buffered {
    fn take(count: &Arc<AtomicUsize>) -> Option<Buffered> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_BUFFERED).then_some(n + 1)
            })
            .ok()
            .map(|_| Buffered(Arc::clone(count)))
    }
}

impl Drop for Buffered {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Receipt: makes received mail durable and answers the sender. It touches no database, so a
/// busy database never holds up a `250`; it runs on the thread of the SMTP sessions.
pub struct InboundActor {
    app: AppContext,
    /// Appends received mail to the spool; the answer comes once it is durable.
    writer: storage::InboundWriter,
    processor: Addr<InboundProcessor>,
    /// Raw messages on their way to the processor.
    buffered: Arc<AtomicUsize>,
}

impl InboundActor {
    /// `writer` is the spool's writer, started (and the spool recovered) before the processor,
    /// so that the pending records it lists on start include whatever a crash left in the spool.
    pub fn new(
        app: AppContext,
        writer: storage::InboundWriter,
        processor: Addr<InboundProcessor>,
    ) -> InboundActor {
        InboundActor {
            app,
            writer,
            processor,
            buffered: Arc::default(),
        }
    }
}

impl Actor for InboundActor {
    type Context = Context<Self>;
}

/// Processing: turns each received message into dones, a command, a bounce mark, or a kept
/// failure, and settles its record. Runs on a thread of its own.
///
/// A message fresh from the spool is not registered first: its record is written once, in its
/// final state, by the transaction that settles it (recording its dones, or
/// `Store::settle_received`). Until then the spool keeps it, and a restart registers and
/// processes whatever was not settled. Only a second delivery of a Message-ID (a duplicate) and
/// a message postponed by a transient error are registered on their own.
pub struct InboundProcessor {
    app: AppContext,
    /// The team actors that record replies, and the outbox that sends answers.
    actors: Actors,
    /// Authenticates senders of mail without a reply token.
    checker: Arc<Checker>,
    /// Message-IDs of the fresh messages being processed now, with their ids: sled learns them
    /// only when they are settled, and a second delivery meanwhile is a duplicate all the same.
    processing: HashMap<String, InboundId>,
    /// Messages being processed now (at most [`MAX_IN_FLIGHT`]); the others wait in `queue`,
    /// small, while a message in flight holds its parsed text.
    in_flight: usize,
    queue: std::collections::VecDeque<Process>,
}

/// At most this many messages are processed at once. Enough for the team actors to record
/// replies in large batches; bounded, so that a burst costs memory only for its queue entries.
const MAX_IN_FLIGHT: usize = 256;

/// Where a message's outcome is written.
enum Record {
    /// Its pending record (left by a crash, a restored backup, or a postponement).
    Registered(InboundId),
    /// Fresh from the spool and not registered: settling it writes its record.
    Received(Box<storage::SpoolEntry>),
}

impl Record {
    fn id(&self) -> InboundId {
        match self {
            Record::Registered(id) => *id,
            Record::Received(entry) => entry.id(),
        }
    }

    fn received(&self) -> Option<&storage::SpoolEntry> {
        match self {
            Record::Registered(_) => None,
            Record::Received(entry) => Some(entry),
        }
    }
}

impl InboundProcessor {
    pub fn new(app: AppContext, actors: Actors) -> InboundProcessor {
        let checker = Checker::new(
            app.settings.authserv_id.clone(),
            app.settings.dkim_keys.resolver(),
        );
        InboundProcessor {
            app,
            actors,
            checker: Arc::new(checker),
            processing: HashMap::new(),
            in_flight: 0,
            queue: std::collections::VecDeque::new(),
        }
    }

    /// A received message's record: to be written when it is settled, if its Message-ID is new
    /// (claimed in `processing` meanwhile); `None` when it is a second delivery, registered as
    /// such now, or cannot be checked (it waits for the next start, safe in the spool).
    fn receive(&mut self, entry: Box<storage::SpoolEntry>) -> Option<(Record, Option<String>)> {
        let id = entry.id();
        let Some(mid) = entry.message_id().map(str::to_owned) else {
            return Some((Record::Received(entry), None));
        };
        let duplicate = |outcome: &str| {
            info!(
                inbound_id = id,
                registered = outcome,
                "inbound message not processed again"
            );
            self.app.emit(Event::InboundProcessed {
                inbound: id,
                outcome: "duplicate".into(),
            });
        };
        if let Some(&first) = self.processing.get(&mid) {
            match self.app.store.register_duplicate(&entry, first) {
                Ok(()) => duplicate(&format!("duplicate of inbound {first}")),
                Err(e) => {
                    warn!(inbound_id = id, error = %e, "cannot register an inbound message; it waits for the next start");
                }
            }
            return None;
        }
        match self.app.store.inbound_by_message_id(&mid) {
            Ok(None) => {
                self.processing.insert(mid.clone(), id);
                Some((Record::Received(entry), Some(mid)))
            }
            // Accepted before: registration records it as that one's duplicate.
            Ok(Some(_)) => match self
                .app
                .store
                .register_inbound(std::slice::from_ref(&entry))
            {
                Ok(r) if r.first() == Some(&Registered::Fresh) => {
                    Some((Record::Registered(id), None))
                }
                Ok(r) => {
                    let r = r.first().copied().unwrap_or(Registered::Known);
                    duplicate(&logging::registered(&r));
                    None
                }
                Err(e) => {
                    warn!(inbound_id = id, error = %e, "cannot register an inbound message; it waits for the next start");
                    None
                }
            },
            Err(e) => {
                warn!(inbound_id = id, error = %e, "cannot check an inbound message's Message-ID; it waits for the next start");
                None
            }
        }
    }
}

impl Actor for InboundProcessor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Retention of failed mail, now and every ten minutes of real time (a flood of failures
        // can overshoot the size cap by at most ten minutes' worth).
        prune_failed(&self.app);
        ctx.run_interval(PRUNE_EVERY, |act, _| prune_failed(&act.app));
        match self.app.store.pending_inbound() {
            Ok(ids) => {
                if !ids.is_empty() {
                    info!(
                        messages = ids.len(),
                        "processing inbound mail received before the last stop"
                    );
                }
                for id in ids {
                    ctx.notify(Process::Pending(id));
                }
            }
            Err(e) => warn!(error = %e, "cannot list pending inbound mail"),
        }
    }
}

impl Handler<InboundMail> for InboundActor {
    type Result = ResponseFuture<Result<InboundAccepted, InboundRefused>>;

    fn handle(&mut self, mail: InboundMail, _ctx: &mut Context<Self>) -> Self::Result {
        let app = self.app.clone();
        let processor = self.processor.clone();
        let buffered = Arc::clone(&self.buffered);
        // Appended to the spool and synced (with every message arriving at the same time): only
        // then may the sender hear `250`/`200`. The raw message comes back out, so processing
        // need not read it from the spool again.
        let receipt = self.writer.accept(storage::NewInbound {
            via: mail.via.to_owned(),
            message_id: bots::email::parse::header_message_id(&mail.raw),
            mail_from: mail.mail_from,
            rcpt_to: mail.rcpt_to,
            raw: mail.raw,
            received_at: app.now(),
        });
        Box::pin(async move {
            let accepted = receipt
                .await
                .map_err(|e| InboundRefused::Transient(e.to_string()))?;
            Metrics::inc(&app.metrics.inbound_accepted);
            let id = accepted.id();
            let storage::Accepted { raw, entry } = accepted;
            let raw = Buffered::take(&buffered).map(|slot| (raw, slot));
            processor.do_send(Process::Received {
                entry: Box::new(entry),
                raw,
            });
            Ok(InboundAccepted { id })
        })
    }
}

impl Handler<Process> for InboundProcessor {
    type Result = ();

    fn handle(&mut self, msg: Process, ctx: &mut Context<Self>) {
        if self.in_flight < MAX_IN_FLIGHT {
            self.start(msg, ctx);
        } else {
            self.queue.push_back(msg);
        }
    }
}

impl InboundProcessor {
    /// Starts processing a message; when it is done, the next queued one starts.
    fn start(&mut self, msg: Process, ctx: &mut Context<Self>) {
        // A received message comes with its recipients, so processing need not read its record.
        let (record, raw, rcpt_to, claimed) = match msg {
            Process::Received { entry, raw } => {
                let rcpt_to = entry.rcpt_to().to_vec();
                match self.receive(entry) {
                    Some((record, claimed)) => (record, raw, Some(rcpt_to), claimed),
                    None => return,
                }
            }
            Process::Pending(id) => (Record::Registered(id), None, None, None),
        };
        self.in_flight += 1;
        let work = self.processing(record, raw, rcpt_to);
        ctx.spawn(work.into_actor(self).map(|(), act, ctx| {
            act.in_flight -= 1;
            if let Some(mid) = claimed {
                act.processing.remove(&mid);
            }
            if let Some(next) = act.queue.pop_front() {
                act.start(next, ctx);
            }
        }));
    }

    fn processing(
        &mut self,
        record: Record,
        raw: Option<(Vec<u8>, Buffered)>,
        rcpt_to: Option<Vec<String>>,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let app = self.app.clone();
        let actors = self.actors.clone();
        let checker = Arc::clone(&self.checker);
        async move {
            let id = record.id();
            // Holds the raw message's slot until processing is over.
            let mut _slot = None;
            let raw = raw.map(|(raw, slot)| {
                _slot = Some(slot);
                raw
            });
            let result = process(&app, &actors, &checker, &record, rcpt_to, raw).await;
            let state = match &result {
                // Recorded dones mark the record themselves, in their own transaction.
                Ok(Outcome::Recorded) => None,
                Ok(Outcome::Done(outcome)) => Some(InboundState::Processed {
                    at: app.now(),
                    outcome: outcome.clone(),
                }),
                Err(Failure::Refused(error)) | Err(Failure::Broken(error)) => {
                    Some(InboundState::Failed {
                        at: app.now(),
                        error: error.clone(),
                    })
                }
                // Leave it pending (registered now if it was not): the next start (or retry)
                // processes it.
                Err(Failure::Retry(error)) => {
                    warn!(inbound_id = id, %error, "inbound processing postponed");
                    if let Some(entry) = record.received()
                        && let Err(e) = app.store.register_inbound(std::slice::from_ref(entry))
                    {
                        warn!(inbound_id = id, error = %e, "cannot register a postponed inbound message; it waits for the next start");
                    }
                    None
                }
            };
            // The outcome is stored before it is announced: whoever hears it can read it.
            if let Some(state) = state {
                let written = match &record {
                    Record::Registered(id) => app.store.set_inbound_state(*id, state),
                    Record::Received(entry) => app.store.settle_received(entry, state),
                };
                if let Err(e) = written {
                    warn!(inbound_id = id, error = %e, "cannot record the inbound outcome; it stays pending");
                }
            }
            match &result {
                Ok(Outcome::Recorded) => app.emit(Event::InboundProcessed {
                    inbound: id,
                    outcome: "recorded".into(),
                }),
                Ok(Outcome::Done(o)) => {
                    info!(inbound_id = id, outcome = %o, "inbound processed");
                    app.emit(Event::InboundProcessed {
                        inbound: id,
                        outcome: o.clone(),
                    });
                }
                Err(Failure::Refused(e)) | Err(Failure::Broken(e)) => {
                    warn!(inbound_id = id, error = %e, "inbound message not used");
                    Metrics::inc(&app.metrics.replies_refused);
                    app.emit(Event::InboundFailed {
                        inbound: id,
                        error: e.clone(),
                    });
                }
                Err(Failure::Retry(_)) => {}
            }
        }
    }
}

enum Outcome {
    /// Dones were recorded (and the log record marked in the same transaction).
    Recorded,
    /// Something else was done; the text says what.
    Done(String),
}

enum Failure {
    /// Not from a member, forged or expired token: kept as failed.
    Refused(String),
    /// Unparseable: kept as failed.
    Broken(String),
    /// A transient problem: stays pending.
    Retry(String),
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Storage(_) | AppError::Unavailable(_) => Failure::Retry(e.to_string()),
            other => Failure::Broken(other.to_string()),
        }
    }
}

async fn process(
    app: &AppContext,
    actors: &Actors,
    checker: &Checker,
    record: &Record,
    rcpt_to: Option<Vec<String>>,
    raw: Option<Vec<u8>>,
) -> Result<Outcome, Failure> {
    let id = record.id();
    let rcpt_to = match rcpt_to {
        Some(rcpt_to) => rcpt_to,
        None => app.store.inbound(id).map_err(AppError::from)?.rcpt_to,
    };
    let raw = match (raw, record) {
        (Some(raw), _) => raw,
        (None, Record::Received(entry)) => {
            app.store.received_body(entry).map_err(AppError::from)?
        }
        (None, Record::Registered(id)) => app.store.inbound_body(*id).map_err(AppError::from)?,
    };
    // Parsed and trimmed right here: this actor has a thread of its own (see `server`), and a
    // message takes tens of microseconds (10 MB of adversarial input stays under a second).
    let parsed = bots::email::parse::parse(&raw)
        .map_err(|e| Failure::Broken(format!("unreadable message: {e}")))?;
    let text = bots::email::trim::trim_reply(&parsed.text);
    if let Some(kind) = parsed.auto {
        return handle_auto(app, actors, kind, &rcpt_to, &parsed, &raw);
    }
    let (member, prompt) = resolve(app, actors, checker, id, &rcpt_to, &parsed, &raw).await?;
    if let Some(outcome) = command(app, actors, &member, &text, id)? {
        return Ok(Outcome::Done(outcome));
    }
    let day = match &prompt {
        Some(p) => p.day,
        None => member_today(app, &member)?,
    };
    let source = Source {
        channel: Channel::Email,
        message_id: parsed
            .message_id
            .clone()
            .or_else(|| Some(format!("inbound.{id}"))),
        prompt_id: prompt.as_ref().map(|p| p.id),
        inbound_id: Some(id),
    };
    let actor = actors.team(member.team_id)?;
    match actor
        .send(RecordReply {
            member: member.id,
            day,
            text,
            source,
            replace: false,
            received: record.received().cloned(),
        })
        .await
        .map_err(AppError::from)?
    {
        Ok(_) => Ok(Outcome::Recorded),
        Err(AppError::Invalid(msg)) => Ok(Outcome::Done(format!("nothing recorded: {msg}"))),
        Err(e) => Err(e.into()),
    }
}

/// Who wrote, and which prompt they answer (none for a done sent without a prompt). The reply
/// token is the credential; without one the sender must be authenticated, and threading
/// (`In-Reply-To`) only picks the day.
async fn resolve(
    app: &AppContext,
    actors: &Actors,
    checker: &Checker,
    inbound: InboundId,
    rcpt_to: &[String],
    parsed: &ParsedMail,
    raw: &[u8],
) -> Result<(Member, Option<Prompt>), Failure> {
    let store = &app.store;
    let domain = &app.settings.domain;
    let token = rcpt_to
        .iter()
        .chain(&parsed.to)
        .find_map(|addr| dsn::tagged_token(addr, dsn::REPLY_TAG, domain));
    if let Some(token) = token {
        let refused = || Failure::Refused(format!("invalid reply token in reply+{token}@{domain}"));
        let prompt_id = Signer::reply_token_prompt(&token).ok_or_else(refused)?;
        let prompt = store.prompt(prompt_id).map_err(|_| refused())?;
        if !app
            .signer
            .verify_reply(&token, prompt.member_id, prompt.day)
        {
            return Err(refused());
        }
        if app.now() - prompt.due_at > Duration::days(TOKEN_LIFETIME_DAYS) {
            return Err(Failure::Refused(format!(
                "reply token of {} has expired",
                prompt.day
            )));
        }
        let member = store.member(prompt.member_id).map_err(AppError::from)?;
        if parsed
            .from
            .as_deref()
            .is_some_and(|f| !f.eq_ignore_ascii_case(&member.email))
        {
            info!(
                member_id = member.id,
                from = parsed.from.as_deref().unwrap_or("(none)"),
                "reply with a valid token from another address; accepted on the token"
            );
        }
        return Ok((member, Some(prompt)));
    }
    let from = parsed
        .from
        .clone()
        .ok_or_else(|| Failure::Refused("the message has no sender address".into()))?;
    let members = store.members_by_email(&from).map_err(AppError::from)?;
    let Some(first) = members.first() else {
        return Err(Failure::Refused(format!(
            "{from} is not a member of any team"
        )));
    };
    match checker.authenticate(raw).await {
        Ok(sender) if sender.address == from => {
            info!(inbound_id = inbound, from = %from, by = %logging::authenticated_by(&sender.by), "sender authenticated");
        }
        Ok(sender) => {
            return Err(Failure::Refused(format!(
                "the authenticated sender {} is not the From address {from}",
                sender.address
            )));
        }
        Err(e) => {
            tell_refused(app, actors, first, inbound);
            return Err(Failure::Refused(format!(
                "mail from {from} without a reply token is not authenticated: {e}"
            )));
        }
    }
    for id in parsed
        .in_reply_to
        .iter()
        .chain(parsed.references.iter().rev())
    {
        if let Some(prompt) = store.prompt_by_message_id(id).map_err(AppError::from)?
            && let Some(member) = members.iter().find(|m| m.id == prompt.member_id)
        {
            return Ok((member.clone(), Some(prompt)));
        }
    }
    // Of several memberships, the one prompted most recently.
    let mut best: Option<(Member, Option<Prompt>)> = None;
    for m in members {
        let p = store.latest_prompt(m.id).map_err(AppError::from)?;
        let newer = match (&best, &p) {
            (None, _) => true,
            (Some((_, Some(bp))), Some(p)) => p.created_at > bp.created_at,
            (Some((_, None)), Some(_)) => true,
            _ => false,
        };
        if newer {
            best = Some((m, p));
        }
    }
    best.ok_or_else(|| Failure::Refused(format!("{from} is not a member of any team")))
}

/// Tells `member` (at most once a day: the outbox key is per address and day) that mail
/// claiming to be from them was refused, and how to reply instead. Best effort: the refusal
/// stands either way.
fn tell_refused(app: &AppContext, actors: &Actors, member: &Member, inbound: InboundId) {
    if !matches!(
        member.state,
        MemberState::Active | MemberState::Paused { .. }
    ) {
        return;
    }
    let ctx = render::Ctx {
        settings: &app.settings,
        signer: &app.signer,
        now: app.now(),
    };
    let email = render::refused(&ctx, member, inbound);
    let key = format!(
        "refused:{}:{}",
        member.email.to_ascii_lowercase(),
        app.now().date_naive()
    );
    match ops::enqueue_email(
        &app.store,
        app.settings.dkim(),
        &email,
        key,
        OutboxKind::Confirmation,
        Some(member.team_id),
        Some(member.id),
        app.now(),
    ) {
        Ok(_) => actors.wake_outbox(),
        Err(e) => {
            warn!(member_id = member.id, error = %e, "cannot tell a member about refused mail")
        }
    }
}

fn member_today(app: &AppContext, member: &Member) -> Result<NaiveDate, Failure> {
    let team = app.store.team(member.team_id).map_err(AppError::from)?;
    let tz = ops::parse_tz(member.timezone.as_deref().unwrap_or(&team.timezone))?;
    Ok(app.now().with_timezone(&tz).date_naive())
}

/// A reply whose only line is a command in the member's words (`crate::commands::words`):
/// `pause`, `pause till friday`, `resume`, `unsubscribe please`, `help`, or their own prompt days
/// and time (`days mon wed fri`, `time 17:00`). Every command is answered
/// by email; a pause until a past or unreadable day changes nothing and says why; words that look
/// like a command but are not understood get the list of what is (at most once a day per member,
/// so a member who writes oddly is not flooded). `None`: not a command, record the reply.
fn command(
    app: &AppContext,
    actors: &Actors,
    member: &Member,
    text: &str,
    inbound: InboundId,
) -> Result<Option<String>, Failure> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let (Some(line), None) = (lines.next(), lines.next()) else {
        return Ok(None);
    };
    // Their own prompt days and time (`days mon wed fri`, `time 17:00`, the chat commands' words),
    // answered with what they now are, or why not.
    let lower = line.trim_end_matches(['.', '!']).to_ascii_lowercase();
    if let Some((name @ ("days" | "time"), rest)) = lower.split_once(' ')
        && let Some(Ok(command)) = crate::commands::parse(name, rest)
    {
        let (days, time) = match command {
            Command::Days(d) => (Some(d), None),
            Command::Time(t) => (None, Some(t)),
            _ => (None, None),
        };
        let what = match crate::commands::schedule::run(app, actors, member, days, time) {
            Ok(what) => what,
            Err(AppError::Invalid(why)) => format!("Nothing changed: {why}"),
            Err(e) => return Err(e.into()),
        };
        answer(
            app,
            actors,
            member,
            inbound,
            &what,
            format!("confirm:{inbound}"),
        )?;
        return Ok(Some(format!(
            "member {} set their prompt days or time",
            member.id
        )));
    }
    let today = member_today(app, member)?;
    let Some(said) = words::understand(line, today) else {
        return Ok(None);
    };
    let (state, what) = match said {
        Said::Command(Command::Pause(None)) => (
            MemberState::Paused { until: None },
            "You will get no email from donebot (no daily question, no digest) until you reply \"resume\". Reply \"unsubscribe\" to stop for good.".to_string(),
        ),
        Said::Command(Command::Pause(Some(until))) => (
            MemberState::Paused { until: Some(until) },
            format!(
                "You will get no email from donebot (no daily question, no digest) through {} ({until}). Reply \"resume\" to start again earlier.",
                until.format("%A %-d %B %Y")
            ),
        ),
        Said::Command(Command::Resume) => (
            MemberState::Active,
            "Your donebot emails are back on: the daily question comes again.".to_string(),
        ),
        Said::Command(Command::Unsubscribe) => (
            MemberState::Unsubscribed { at: app.now() },
            "You are unsubscribed: donebot sends you nothing more. Reply \"resume\" if you change your mind."
                .to_string(),
        ),
        Said::PastDay(day) => {
            let what = format!(
                "Nothing changed: {} ({day}) has already passed. To pause, reply \"pause until\" and a later day, e.g. \"pause until friday\" or \"pause until {}\".",
                day.format("%A %-d %B %Y"),
                today + chrono::Days::new(7)
            );
            answer(app, actors, member, inbound, &what, format!("confirm:{inbound}"))?;
            return Ok(Some(format!(
                "pause until {day} refused (the day has passed); answered"
            )));
        }
        Said::UnclearDay(words) => {
            let what = format!(
                "Until when? Nothing changed: donebot could not read \"{words}\" as a day. Reply e.g. \"pause until friday\", \"pause until next week\" or \"pause until {}\".",
                today + chrono::Days::new(7)
            );
            answer(app, actors, member, inbound, &what, format!("confirm:{inbound}"))?;
            return Ok(Some(format!(
                "pause not applied: cannot read {words:?} as a day; asked"
            )));
        }
        Said::Command(Command::Help) => {
            answer(app, actors, member, inbound, UNDERSTOOD, format!("confirm:{inbound}"))?;
            return Ok(Some("help answered".into()));
        }
        Said::NotUnderstood => {
            let what = format!("Nothing changed: donebot did not understand \"{line}\". {UNDERSTOOD}");
            let first_today = answer(
                app,
                actors,
                member,
                inbound,
                &what,
                format!("not-understood:{}:{today}", member.id),
            )?;
            return Ok(Some(if first_today {
                "command not understood; answered".into()
            } else {
                "command not understood; already answered today".into()
            }));
        }
        // Never produced by `words::understand` (dones, undo, today and digest are chat's).
        Said::Command(_) => return Ok(None),
    };
    let label = state.as_str();
    let member = crate::commands::set_state(app, actors, member.id, state)?;
    answer(
        app,
        actors,
        &member,
        inbound,
        &what,
        format!("confirm:{inbound}"),
    )?;
    Ok(Some(format!("member {} is now {label}", member.id)))
}

/// What an email reply may say besides dones.
const UNDERSTOOD: &str = "donebot understands these replies: \"pause\" (no email until you resume), \"pause until friday\" (or tomorrow, next week, next monday, 2026-12-31), \"resume\", \"unsubscribe\", \"days mon wed fri\" and \"time 17:00\" (your own days and time for the question). Anything else you reply is recorded as what you got done; start a line with \"- \" to make sure.";

/// Queues the answer `what` to `member` under outbox `key` (enqueued once, ever: a key per day
/// answers at most once a day). Whether it was queued now.
fn answer(
    app: &AppContext,
    actors: &Actors,
    member: &Member,
    inbound: InboundId,
    what: &str,
    key: String,
) -> Result<bool, Failure> {
    let ctx = render::Ctx {
        settings: &app.settings,
        signer: &app.signer,
        now: app.now(),
    };
    let email = render::confirmation(&ctx, member, inbound, what);
    let (_, queued) = ops::enqueue_email(
        &app.store,
        app.settings.dkim(),
        &email,
        key,
        OutboxKind::Confirmation,
        Some(member.team_id),
        Some(member.id),
        app.now(),
    )?;
    if queued {
        actors.wake_outbox();
    }
    Ok(queued)
}

/// Auto-replies are ignored. A bounce is believed only when it is ours: sent back to a valid VERP
/// address `bounce+TOKEN@domain` (naming the member the failed message was for), or about the
/// Message-ID of a prompt donebot sent (unguessable: random). Then a hard failure of that
/// member's address marks its memberships as bouncing; soft failures mark nobody.
fn handle_auto(
    app: &AppContext,
    actors: &Actors,
    kind: AutoKind,
    rcpt_to: &[String],
    parsed: &ParsedMail,
    raw: &[u8],
) -> Result<Outcome, Failure> {
    if kind != AutoKind::Bounce {
        return Ok(Outcome::Done(format!(
            "ignored: automatic reply ({kind:?})"
        )));
    }
    let store = &app.store;
    let domain = &app.settings.domain;
    let mut about: Vec<u64> = rcpt_to
        .iter()
        .chain(&parsed.to)
        .filter_map(|a| dsn::tagged_token(a, dsn::BOUNCE_TAG, domain))
        .filter_map(|t| app.signer.verify_link(render::BOUNCE_ACTION, &t))
        .collect();
    if about.is_empty() {
        for id in dsn::returned_message_ids(raw, 8) {
            if let Some(p) = store.prompt_by_message_id(&id).map_err(AppError::from)? {
                about.push(p.member_id);
            }
        }
    }
    about.sort_unstable();
    about.dedup();
    if about.is_empty() {
        return Ok(Outcome::Done(
            "ignored: a bounce neither sent to a valid bounce address nor about a message donebot sent".into(),
        ));
    }
    let hard = dsn::hard_bounced_recipients(&String::from_utf8_lossy(raw));
    let mut marked = Vec::new();
    for id in about {
        let Ok(member) = store.member(id) else {
            continue;
        };
        let address = member.email.to_ascii_lowercase();
        if !hard.contains(&address) {
            continue;
        }
        for m in store.members_by_email(&address).map_err(AppError::from)? {
            let reason = format!("hard bounce: {}", parsed.subject);
            let m = store
                .update_member(m.id, |m| {
                    m.state = MemberState::Bouncing {
                        since: app.now(),
                        reason: reason.clone(),
                    }
                })
                .map_err(AppError::from)?;
            actors.team(m.team_id)?.do_send(Reload);
            marked.push(m.id);
        }
    }
    Ok(Outcome::Done(format!(
        "bounce: {} hard-failed recipient(s), members marked bouncing: {marked:?}",
        hard.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_buffered_raw_messages_wait_in_memory() {
        let count = Arc::new(AtomicUsize::new(0));
        let mut held: Vec<Buffered> = (0..MAX_BUFFERED)
            .map(|_| Buffered::take(&count).expect("a free slot"))
            .collect();
        assert!(Buffered::take(&count).is_none());
        held.pop();
        assert!(Buffered::take(&count).is_some());
        drop(held);
        assert_eq!(count.load(Ordering::Acquire), 0);
    }
}
