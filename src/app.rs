//! The application as the web server and the CLI see it: the [`AppContext`] and the running
//! [`Actors`]. Cheap to clone.
//!
//! Operations that only touch storage (creating a team, adding a member) live in [`crate::ops`] so
//! the CLI can run them on a stopped server; the methods here add what a running server must do
//! besides (start the team's actor, tell it about a new member).

use std::sync::Arc;

use chrono::NaiveDate;
use storage::{Member, Store, Team, TeamId};

use crate::actors::Actors;
use crate::actors::team::{Reload, SendDigestNow, SendPromptsNow};
use crate::clock::Clock;
use crate::config::Settings;
use crate::context::AppContext;
use crate::error::{AppError, AppResult};
use crate::ops;

#[derive(Clone)]
pub struct App {
    pub ctx: AppContext,
    pub actors: Actors,
}

impl std::ops::Deref for App {
    type Target = AppContext;
    fn deref(&self) -> &AppContext {
        &self.ctx
    }
}

impl App {
    pub fn new(store: Store, settings: Settings, clock: Arc<dyn Clock>) -> AppResult<App> {
        let ctx = AppContext::new(store, settings, clock)?;
        Ok(App {
            actors: Actors::new(ctx.clone()),
            ctx,
        })
    }

    pub fn create_team(&self, name: &str, timezone: &str) -> AppResult<Team> {
        let team = ops::create_team(&self.store, &self.settings, name, timezone, self.now())?;
        self.actors.ensure_team(team.id);
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
        self.actors.team(team.id)?.do_send(Reload);
        self.actors.wake_outbox();
        // Found on the chat platforms by email address (Slack), in the background.
        let (ctx, actors, found) = (self.ctx.clone(), self.actors.clone(), member.clone());
        actix_rt::spawn(async move {
            crate::commands::link::by_email(&ctx, &actors, vec![found]).await;
        });
        Ok(member)
    }

    /// Sends today's prompt (or `day`'s) to every active member now; idempotent per member and day.
    /// A day after today (in every member's zone) is refused: nobody can have done it yet.
    pub async fn send_prompts_now(&self, team: TeamId, day: Option<NaiveDate>) -> AppResult<usize> {
        self.refuse_future(team, day, "prompt")?;
        self.actors.team(team)?.send(SendPromptsNow { day }).await?
    }

    /// Sends the digest of `day` (default: the previous workday span) now; idempotent per recipient.
    /// A day after today (in every member's zone) is refused.
    pub async fn send_digest_now(&self, team: TeamId, day: Option<NaiveDate>) -> AppResult<usize> {
        self.refuse_future(team, day, "digest")?;
        self.actors.team(team)?.send(SendDigestNow { day }).await?
    }

    /// `Invalid` if `day` is after today in the team's zone and in each member's own: the latest
    /// "today" of them all is the last day anyone can report on.
    fn refuse_future(&self, team: TeamId, day: Option<NaiveDate>, what: &str) -> AppResult<()> {
        let Some(day) = day else { return Ok(()) };
        let team = self.store.team(team)?;
        let mut latest = self
            .now()
            .with_timezone(&ops::parse_tz(&team.timezone)?)
            .date_naive();
        for m in self.store.members_of(team.id)? {
            if let Some(zone) = &m.timezone {
                latest = latest.max(self.now().with_timezone(&ops::parse_tz(zone)?).date_naive());
            }
        }
        if day > latest {
            return Err(AppError::Invalid(format!(
                "no {what} for {day}: that day has not started yet for {} (today is {latest})",
                team.name
            )));
        }
        Ok(())
    }
}

impl From<AppError> for std::io::Error {
    fn from(e: AppError) -> Self {
        std::io::Error::other(e.to_string())
    }
}
