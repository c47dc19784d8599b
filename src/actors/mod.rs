//! The actors of a running server. Each owns one concern and talks to the others only through
//! messages (see `docs/architecture.md`):
//! - [`team::TeamActor`]: one per team, supervised; owns the team's schedules, sends its prompts and
//!   digests, decides what of a reply is recorded.
//! - [`recorder::Recorder`]: writes the replies the team actors hand it, all teams' together in one
//!   transaction per burst.
//! - [`outbox::OutboxActor`]: walks each outgoing message (email or chat) through its durable state
//!   machine.
//! - [`inbound::InboundActor`]: makes received mail durable, then turns it into dones or commands.
//! - [`chat::ChatActor`]: what people write to the bot on a chat platform: links, commands, dones.
//! - [`ticker`]: turns the clock into `Tick`s for the team actors.
//!
//! An actor works with the [`AppContext`] (which names no actor) and reaches the others through
//! [`Actors`], the addresses of those running.

pub mod chat;
pub mod inbound;
pub mod outbox;
mod pace;
pub mod recorder;
pub mod team;
pub mod ticker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use actix::{Actor, Addr};
use chrono::{DateTime, Utc};
use storage::{Handoff, NewPrompt, Prompt, StorageResult, Store, TeamId};

use crate::channels::Running;
use crate::context::AppContext;
use crate::error::AppResult;
use outbox::{Handed, OutboxActor, Wake};
use recorder::Recorder;
use team::TeamActor;

/// The addresses of the running actors: the team actors and the recorder (started on first use),
/// the outbox, and the chat channels. Cheap to clone.
#[derive(Clone)]
pub struct Actors(Arc<Inner>);

struct Inner {
    /// What a team actor is started with.
    ctx: AppContext,
    teams: Mutex<HashMap<TeamId, Addr<TeamActor>>>,
    recorder: Mutex<Option<Addr<Recorder>>>,
    outbox: OnceLock<Addr<OutboxActor>>,
    /// How many more freshly enqueued messages the outbox takes from its enqueuers' hands (see
    /// [`Actors::create_prompts`]); 0 while it does not run.
    outbox_room: AtomicUsize,
    channels: Mutex<Running>,
}

impl Actors {
    pub fn new(ctx: AppContext) -> Actors {
        Actors(Arc::new(Inner {
            ctx,
            teams: Mutex::new(HashMap::new()),
            recorder: Mutex::new(None),
            outbox: OnceLock::new(),
            outbox_room: AtomicUsize::new(0),
            channels: Mutex::new(Running::default()),
        }))
    }

    pub(crate) fn set_outbox(&self, addr: Addr<OutboxActor>) {
        let _ = self.0.outbox.set(addr);
    }

    pub(crate) fn set_channels(&self, running: Running) {
        *self.0.channels.lock().unwrap_or_else(|p| p.into_inner()) = running;
    }

    /// The chat channels running (none before start-up and after shutdown).
    pub fn channels(&self) -> Running {
        self.0
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Tells the outbox there is something new to send.
    pub fn wake_outbox(&self) {
        if let Some(o) = self.0.outbox.get() {
            o.do_send(Wake);
        }
    }

    /// Creates prompts with their emails ([`Store::create_prompts`]) and hands those due now
    /// straight to the outbox, as many as it has room for: they are claimed for it as they are
    /// written, and it sends them without scanning or reading the database for them. The rest
    /// wait in the due index for its next claim. Wake the outbox afterwards as usual.
    pub fn create_prompts(
        &self,
        store: &Store,
        prompts: Vec<NewPrompt>,
        now: DateTime<Utc>,
    ) -> StorageResult<Vec<(Prompt, bool)>> {
        let wanted: usize = prompts.iter().map(|p| p.messages.len()).sum();
        let mut handoff = Handoff::with_room(self.take_outbox_room(wanted));
        let created = store.create_prompts_handing(prompts, now, &mut handoff);
        self.give_outbox_room(handoff.room);
        if !handoff.claimed.is_empty() {
            let handed = handoff.claimed;
            match self.0.outbox.get() {
                Some(o) => {
                    if let Err(e) = o.try_send(Handed(handed)) {
                        // Its mailbox is gone or full: they wait for a claim instead.
                        let Handed(handed) = e.into_inner();
                        self.give_back(store, handed);
                    }
                }
                None => self.give_back(store, handed),
            }
        }
        created
    }

    /// Messages claimed for an outbox that cannot take them: their claims end (they are due in
    /// the database) and its room is given back.
    fn give_back(&self, store: &Store, handed: Vec<(storage::OutboxMessage, Vec<u8>)>) {
        let ids: Vec<_> = handed.iter().map(|(m, _)| m.id).collect();
        self.give_outbox_room(ids.len());
        store.return_unsent(&ids);
    }

    /// Reserves room for up to `n` messages in the outbox's hands; returns how many it got.
    fn take_outbox_room(&self, n: usize) -> usize {
        let mut got = 0;
        let _ = self
            .0
            .outbox_room
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |room| {
                got = room.min(n);
                Some(room - got)
            });
        got
    }

    /// Gives back room for `n` messages (the outbox took them out of its hands, or they were not
    /// handed over after all).
    pub(crate) fn give_outbox_room(&self, n: usize) {
        if n > 0 {
            self.0.outbox_room.fetch_add(n, Ordering::AcqRel);
        }
    }

    /// The outbox takes up to `n` messages into its hands (0: none, it stops).
    pub(crate) fn set_outbox_room(&self, n: usize) {
        self.0.outbox_room.store(n, Ordering::Release);
    }

    fn lock_teams(&self) -> MutexGuard<'_, HashMap<TeamId, Addr<TeamActor>>> {
        self.0.teams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts (supervised) the actor of a team unless it runs already.
    pub fn ensure_team(&self, team: TeamId) -> Addr<TeamActor> {
        let mut teams = self.lock_teams();
        teams
            .entry(team)
            .or_insert_with(|| TeamActor::start(self.0.ctx.clone(), self.clone(), team))
            .clone()
    }

    /// The actor of an existing team (an error for an unknown one).
    pub fn team(&self, team: TeamId) -> AppResult<Addr<TeamActor>> {
        if let Some(a) = self.lock_teams().get(&team) {
            return Ok(a.clone());
        }
        self.0.ctx.store.team(team)?;
        Ok(self.ensure_team(team))
    }

    /// The recorder, which writes the team actors' replies; started on first use, on the arbiter
    /// of the team actor that records first (the system's, where the server starts them all).
    pub fn recorder(&self) -> Addr<Recorder> {
        self.0
            .recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| Recorder::new(self.0.ctx.clone()).start())
            .clone()
    }

    pub fn teams(&self) -> Vec<Addr<TeamActor>> {
        self.lock_teams().values().cloned().collect()
    }

    /// Forgets the team actors and stops the chat channels (at shutdown): once nobody holds their
    /// addresses the actors stop, and with them their clones of the context (the supervisor
    /// restarts only an actor that is still addressed).
    pub(crate) fn forget(&self) {
        self.lock_teams().clear();
        // The team actors hold it too; it stops, its mailbox written, once they have stopped.
        self.0
            .recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        // The chat channels lead back to the actors through their inbox (the chat actor).
        let running =
            std::mem::take(&mut *self.0.channels.lock().unwrap_or_else(|p| p.into_inner()));
        running.stop();
    }
}
