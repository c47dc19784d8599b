//! Pacing of batched writes: a sled transaction costs far more than the writes in it (it seals
//! sled's log buffer, written by an I/O thread of its own), so an actor that writes what reached
//! it together (registration of received mail, recording of replies) writes at most once per
//! interval. After a quiet spell the first write goes at once, so a lone message waits for
//! nothing; in a burst the batches grow instead of the number of transactions.

use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context, Handler, Message};

/// When the next batched write may go.
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: Duration,
    last: Option<Instant>,
}

impl Pacer {
    pub(crate) const fn new(interval: Duration) -> Pacer {
        Pacer {
            interval,
            last: None,
        }
    }

    /// How long a write wanted now waits: zero after a quiet spell, else until one interval has
    /// passed since the last write began.
    pub(crate) fn wait(&self) -> Duration {
        self.last.map_or(Duration::ZERO, |last| {
            (last + self.interval).saturating_duration_since(Instant::now())
        })
    }

    /// A write begins now.
    pub(crate) fn writing(&mut self) {
        self.last = Some(Instant::now());
    }

    /// Sends the actor `write` (the message that makes it write what waits) when the next write
    /// may go: at once after a quiet spell, else one interval after the last write began.
    pub(crate) fn schedule<A, M>(&self, ctx: &mut Context<A>, write: M)
    where
        A: Actor<Context = Context<A>> + Handler<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        match self.wait() {
            wait if wait.is_zero() => ctx.notify(write),
            wait => {
                ctx.notify_later(write, wait);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_write_goes_at_once_and_the_next_waits_for_the_interval() {
        let mut pacer = Pacer::new(Duration::from_secs(3600));
        assert_eq!(pacer.wait(), Duration::ZERO);
        pacer.writing();
        let wait = pacer.wait();
        assert!(wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600));
        let mut quick = Pacer::new(Duration::ZERO);
        quick.writing();
        assert_eq!(quick.wait(), Duration::ZERO);
    }
}
