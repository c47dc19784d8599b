//! Time as a parameter. The server reads the time only through a [`Clock`]; tests use
//! [`ManualClock`] and "wait" for 18:00 by advancing it, never by sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// A receiver that changes whenever the time jumps (manual clocks only). A real clock returns
    /// `None`: the scheduler then looks at it on a fixed tick.
    fn jumps(&self) -> Option<watch::Receiver<DateTime<Utc>>>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn jumps(&self) -> Option<watch::Receiver<DateTime<Utc>>> {
        None
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
    tx: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
            tx: Arc::new(watch::channel(start).0),
        }
    }

    /// Sets the time and wakes whoever waits on [`Clock::jumps`].
    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = at;
        self.tx.send_replace(at);
    }

    pub fn advance(&self, by: chrono::Duration) {
        let at = self.now() + by;
        self.set(at);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn jumps(&self) -> Option<watch::Receiver<DateTime<Utc>>> {
        Some(self.tx.subscribe())
    }
}
