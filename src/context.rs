//! The running application's context: storage and its search index, settings, clock, signer,
//! metrics and the event stream. Cheap to clone (an `Arc`).
//!
//! It names no actor: the actors, the commands and the web routes all work with a context, and how
//! one reaches an actor is [`crate::actors::Actors`]'s business. [`crate::app::App`] puts the two
//! together for the web server and the CLI.

use std::sync::Arc;

use storage::{Search, Store};
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::token::Signer;
use crate::error::{AppError, AppResult};
use crate::events::Event;
use crate::metrics::Metrics;
use crate::ops;

#[derive(Clone)]
pub struct AppContext(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    /// Full-text search of dones; its indexer thread runs for as long as the context.
    pub search: Search,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    pub signer: Signer,
    pub metrics: Metrics,
    pub events: broadcast::Sender<Event>,
}

impl std::ops::Deref for AppContext {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppContext {
    pub fn new(store: Store, settings: Settings, clock: Arc<dyn Clock>) -> AppResult<AppContext> {
        let signer = ops::signer(&store)?;
        let search = store
            .start_search()
            .map_err(|e| AppError::Unavailable(format!("cannot start the search index: {e}")))?;
        Ok(AppContext(Arc::new(Inner {
            store,
            search,
            settings,
            clock,
            signer,
            metrics: Metrics::default(),
            events: broadcast::channel(1024).0,
        })))
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Publishes an event to whoever listens (tests, the web UI's live feed). Nobody listening is fine.
    pub fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// How many clones of this context are alive (the server's own included).
    pub(crate) fn holders(&self) -> usize {
        Arc::strong_count(&self.0)
    }
}
