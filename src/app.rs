//! The running application's shared context: storage and its search index, settings, clock,
//! signer, metrics, the event stream, and the addresses of the actors. Cheap to clone (an `Arc`).
//!
//! Operations that only touch storage (creating a team, adding a member) live in [`crate::ops`] so
//! the CLI can run them on a stopped server; the methods here add what a running server must do
//! besides (start the team's actor, tell it about a new member).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use actix::Addr;
use chrono::NaiveDate;
use storage::{Member, Search, Store, Team, TeamId};
use tokio::sync::broadcast;

use crate::actors::outbox::{OutboxActor, Wake};
use crate::actors::team::{Reload, SendDigestNow, SendPromptsNow, TeamActor};
use crate::channels::Running;
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::token::Signer;
use crate::error::{AppError, AppResult};
use crate::events::Event;
use crate::metrics::Metrics;
use crate::ops;

#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    /// Full-text search of dones; its indexer thread runs for as long as the app.
    pub search: Search,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    pub signer: Signer,
    pub metrics: Metrics,
    pub events: broadcast::Sender<Event>,
    teams: Mutex<HashMap<TeamId, Addr<TeamActor>>>,
    outbox: OnceLock<Addr<OutboxActor>>,
    channels: Mutex<Running>,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    pub fn new(store: Store, settings: Settings, clock: Arc<dyn Clock>) -> AppResult<App> {
        let signer = ops::signer(&store)?;
        let search = store
            .start_search()
            .map_err(|e| AppError::Unavailable(format!("cannot start the search index: {e}")))?;
        Ok(App(Arc::new(Inner {
            store,
            search,
            settings,
            clock,
            signer,
            metrics: Metrics::default(),
            events: broadcast::channel(1024).0,
            teams: Mutex::new(HashMap::new()),
            outbox: OnceLock::new(),
            channels: Mutex::new(Running::default()),
        })))
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Publishes an event to whoever listens (tests, the web UI's live feed). Nobody listening is fine.
    pub fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    pub(crate) fn set_outbox(&self, addr: Addr<OutboxActor>) {
        let _ = self.outbox.set(addr);
    }

    pub(crate) fn set_channels(&self, running: Running) {
        *self.channels.lock().unwrap_or_else(|p| p.into_inner()) = running;
    }

    /// The chat channels running (none before start-up and after shutdown).
    pub fn channels(&self) -> Running {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Tells the outbox there is something new to send.
    pub fn wake_outbox(&self) {
        if let Some(o) = self.outbox.get() {
            o.do_send(Wake);
        }
    }

    fn lock_teams(&self) -> std::sync::MutexGuard<'_, HashMap<TeamId, Addr<TeamActor>>> {
        self.teams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts (supervised) the actor of a team unless it runs already.
    pub fn ensure_team_actor(&self, team: TeamId) -> Addr<TeamActor> {
        let mut teams = self.lock_teams();
        teams
            .entry(team)
            .or_insert_with(|| TeamActor::start(self.clone(), team))
            .clone()
    }

    pub fn team_actor(&self, team: TeamId) -> AppResult<Addr<TeamActor>> {
        if let Some(a) = self.lock_teams().get(&team) {
            return Ok(a.clone());
        }
        self.store.team(team)?;
        Ok(self.ensure_team_actor(team))
    }

    pub fn team_actors(&self) -> Vec<Addr<TeamActor>> {
        self.lock_teams().values().cloned().collect()
    }

    /// Forgets the team actors (at shutdown): once nobody holds their addresses they stop, and with
    /// them their clones of the app (the supervisor restarts only an actor that is still addressed).
    pub(crate) fn forget_team_actors(&self) {
        self.lock_teams().clear();
        // The chat channels lead back to the app through their inbox (the chat actor).
        let running = std::mem::take(&mut *self.channels.lock().unwrap_or_else(|p| p.into_inner()));
        running.stop();
    }

    /// How many clones of this app are alive (the server's own included).
    pub(crate) fn holders(&self) -> usize {
        Arc::strong_count(&self.0)
    }

    pub fn create_team(&self, name: &str, timezone: &str) -> AppResult<Team> {
        let team = ops::create_team(&self.store, &self.settings, name, timezone, self.now())?;
        self.ensure_team_actor(team.id);
        Ok(team)
    }

    pub fn add_member(
        &self,
        team: &str,
        name: &str,
        email: &str,
        timezone: Option<&str>,
    ) -> AppResult<Member> {
        let team = self.store.find_team(team)?;
        let member = ops::add_member(
            &self.store,
            &self.settings,
            &self.signer,
            &team,
            name,
            email,
            timezone,
            self.now(),
        )?;
        self.team_actor(team.id)?.do_send(Reload);
        self.wake_outbox();
        Ok(member)
    }

    /// Sends today's prompt (or `day`'s) to every active member now; idempotent per member and day.
    pub async fn send_prompts_now(&self, team: TeamId, day: Option<NaiveDate>) -> AppResult<usize> {
        self.team_actor(team)?.send(SendPromptsNow { day }).await?
    }

    /// Sends the digest of `day` (default: the previous workday span) now; idempotent per recipient.
    pub async fn send_digest_now(&self, team: TeamId, day: Option<NaiveDate>) -> AppResult<usize> {
        self.team_actor(team)?.send(SendDigestNow { day }).await?
    }
}

impl From<AppError> for std::io::Error {
    fn from(e: AppError) -> Self {
        std::io::Error::other(e.to_string())
    }
}
