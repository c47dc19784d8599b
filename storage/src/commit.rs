//! Group commit: writes that must be durable before they are acknowledged share one flush.
//!
//! A write that promises durability ([`Store::accept_inbound`]) does not flush on its own: it
//! returns its result wrapped in [`Unflushed`], and the only way to get the result out is
//! [`Store::commit`], which returns once a flush that *began after the write completed* has
//! succeeded. Callers arriving while a flush runs wait for the next one, which one of them (the
//! leader) starts as soon as the running flush ends; every waiter that arrived before that start
//! is covered by it. So under load, C concurrent writers cost about one fsync per flush duration
//! instead of C, and a lone writer still pays exactly one flush.
//!
//! Invariant: [`Store::commit`] never returns `Ok` before a flush that started after its caller's
//! write. sled's flush makes every write reserved before the flush started durable (it flushes up
//! to the highest reserved log sequence number it sees at its start), and a write has reserved its
//! place once its transaction returned.

use std::sync::{Condvar, Mutex, MutexGuard};

use crate::{StorageError, StorageResult, Store};

/// The result of a write that is not durable yet. Get the value with [`Store::commit`], which
/// waits for a flush that covers the write; acknowledge nothing before that.
#[must_use = "the write is not durable until it is committed with Store::commit"]
#[derive(Debug)]
pub struct Unflushed<T>(pub(crate) T);

/// The flush generations, shared by every clone of a [`Store`].
#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<Generations>,
    changed: Condvar,
}

#[derive(Default)]
struct Generations {
    /// Flushes started so far; generation `g` is the `g`-th.
    started: u64,
    /// Flushes finished (in order: one runs at a time).
    finished: u64,
    /// The latest generation that finished without error (0: none).
    succeeded: u64,
    /// The error of the latest failed generation, for the waiters it leaves uncovered.
    failure: Option<(u64, sled::Error)>,
    running: bool,
    /// Committers blocked waiting for a generation (observable by tests).
    waiting: usize,
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, Generations> {
        // A poisoned lock means a flush panicked inside sled; the counters are still consistent
        // because they are only changed under the lock, never across the flush itself.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a flush that starts after this call has finished; runs it if nobody else does.
    fn flush_after_now(&self, flush: impl Fn() -> sled::Result<usize>) -> StorageResult<()> {
        let mut g = self.lock();
        // The flush running now (if any) may have started before our write: it does not count.
        let target = g.started + 1;
        loop {
            if g.finished >= target {
                if g.succeeded >= target {
                    return Ok(());
                }
                let error = match &g.failure {
                    Some((_, e)) => StorageError::Sled(e.clone()),
                    None => StorageError::Conflict("group commit: flush failed".into()),
                };
                return Err(error);
            }
            if !g.running {
                // Nothing runs and our generation has not started: lead it. Everyone waiting now
                // wrote before this point, so this flush covers them all.
                debug_assert_eq!(g.started + 1, target);
                g.running = true;
                g.started = target;
                drop(g);
                let result = flush();
                g = self.lock();
                g.running = false;
                g.finished = target;
                match result {
                    Ok(_) => g.succeeded = target,
                    Err(e) => g.failure = Some((target, e)),
                }
                self.changed.notify_all();
                continue;
            }
            g.waiting += 1;
            g = self.changed.wait(g).unwrap_or_else(|p| p.into_inner());
            g.waiting -= 1;
        }
    }
}

impl Store {
    /// Makes `write` durable, sharing the flush with concurrent committers (see the module doc),
    /// and returns its result. Only after this returned `Ok` may the write be acknowledged.
    /// Blocks the calling thread: call it from a blocking context.
    pub fn commit<T>(&self, write: Unflushed<T>) -> StorageResult<T> {
        let db = &self.db;
        self.commit.flush_after_now(|| db.flush())?;
        Ok(write.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn a_lone_committer_flushes_once() {
        let gc = GroupCommit::default();
        let flushes = AtomicU64::new(0);
        for _ in 0..3 {
            gc.flush_after_now(|| {
                flushes.fetch_add(1, Ordering::SeqCst);
                Ok(0)
            })
            .expect("flush succeeds");
        }
        assert_eq!(flushes.load(Ordering::SeqCst), 3);
    }

    /// Every committer sees a flush that started after it arrived, and concurrent committers
    /// share flushes. A "write" is a tick of `written`; a flush records how far `written` had got
    /// when it started; each committer checks that a flush which started at or after its own tick
    /// finished before it was released.
    #[test]
    fn every_committer_is_covered_by_a_flush_that_started_after_its_write() {
        const THREADS: u64 = 8;
        const EACH: u64 = 200;
        let gc = Arc::new(GroupCommit::default());
        let written = Arc::new(AtomicU64::new(0));
        let durable = Arc::new(AtomicU64::new(0));
        let flushes = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (gc, written, durable, flushes) = (
                    Arc::clone(&gc),
                    Arc::clone(&written),
                    Arc::clone(&durable),
                    Arc::clone(&flushes),
                );
                std::thread::spawn(move || {
                    for _ in 0..EACH {
                        let mine = written.fetch_add(1, Ordering::SeqCst) + 1;
                        gc.flush_after_now(|| {
                            let upto = written.load(Ordering::SeqCst);
                            flushes.fetch_add(1, Ordering::SeqCst);
                            durable.fetch_max(upto, Ordering::SeqCst);
                            Ok(0)
                        })
                        .expect("flush succeeds");
                        assert!(durable.load(Ordering::SeqCst) >= mine);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker panicked");
        }
        let flushes = flushes.load(Ordering::SeqCst);
        assert!((1..=THREADS * EACH).contains(&flushes), "{flushes}");
    }

    /// Committers that arrive while a flush runs are all covered by the one next flush.
    #[test]
    fn committers_arriving_during_a_flush_share_the_next_one() {
        let gc = Arc::new(GroupCommit::default());
        let flushes = Arc::new(AtomicU64::new(0));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let leader = {
            let (gc, flushes) = (Arc::clone(&gc), Arc::clone(&flushes));
            std::thread::spawn(move || {
                gc.flush_after_now(|| {
                    flushes.fetch_add(1, Ordering::SeqCst);
                    held.recv()
                        .map_err(|_| sled::Error::Unsupported("released".into()))?;
                    Ok(0)
                })
            })
        };
        let running = || gc.lock().running;
        wait_until(running);
        let followers: Vec<_> = (0..4)
            .map(|_| {
                let (gc, flushes) = (Arc::clone(&gc), Arc::clone(&flushes));
                std::thread::spawn(move || {
                    gc.flush_after_now(|| {
                        flushes.fetch_add(1, Ordering::SeqCst);
                        Ok(0)
                    })
                })
            })
            .collect();
        wait_until(|| gc.lock().waiting == 4);
        release.send(()).expect("the leader waits");
        leader.join().expect("leader").expect("first flush");
        for f in followers {
            f.join().expect("follower").expect("shared flush");
        }
        assert_eq!(flushes.load(Ordering::SeqCst), 2);
    }

    /// A bounded poll on observable state (no fixed sleep).
    fn wait_until(mut ready: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !ready() {
            assert!(
                std::time::Instant::now() < deadline,
                "condition not reached in 10 s"
            );
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_failed_flush_fails_its_waiters_and_the_next_one_can_succeed() {
        let gc = GroupCommit::default();
        let failed = gc.flush_after_now(|| Err(sled::Error::Unsupported("disk on fire".into())));
        assert!(matches!(failed, Err(StorageError::Sled(_))), "{failed:?}");
        gc.flush_after_now(|| Ok(0))
            .expect("a later flush succeeds");
    }
}
