//! The recorder: writes the replies that team actors have checked and parsed, for every team at
//! once, in one sled transaction per burst.
//!
//! A sled 0.34 transaction seals sled's log buffer, which a new `sled-io` thread then writes and
//! `sync_file_range`s, however little is in it. When every team actor committed its own replies,
//! a burst of replies spread over many teams cost one transaction per team per mailbox drain:
//! with 1,000 members in 50 teams that was about one transaction for every two replies, and the
//! `sled-io` threads took a quarter of the CPU of receiving them (docs/bench-inbound.md). The team
//! actors still decide what is recorded (the member is in the team and not removed, the lines);
//! the recorder only writes, in the order it was handed the batches, and answers each reply.
//!
//! Invariants:
//! - Batches are written in the order they arrive (one mailbox, one writer), so a team's replies
//!   are written in the order its actor took them, and a later reply sees what an earlier one
//!   wrote (a redelivered message is one set of dones; an edit replaces what was recorded).
//! - A reply is answered only after the transaction that wrote it committed; the caller (an
//!   inbound message marked processed in that transaction, a chat update confirmed to its
//!   platform) moves on only then.
//! - A failed transaction fails no one else's reply: the batches of a failed group are written
//!   again one at a time, and only the one that fails on its own is answered with the error.

use std::ops::Range;
use std::panic::AssertUnwindSafe;

use actix::{Actor, Context, Handler, Message};
use storage::{NewReply, RecordOutcome, TeamId};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::actors::pace::Pacer;
use crate::context::AppContext;
use crate::error::{AppError, AppResult};
use crate::events::Event;
use crate::metrics::Metrics;

/// One reply to write, and who waits for the outcome.
pub struct Pending {
    pub reply: NewReply,
    pub answer: oneshot::Sender<AppResult<RecordOutcome>>,
}

/// A team actor's replies, checked and parsed, to be written in this order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RecordBatch {
    pub team: TeamId,
    pub replies: Vec<Pending>,
}

/// Write every batch waiting in `waiting`. Sent to itself by the first batch that arrives while
/// none waits (at once after a quiet spell, else [`PACE`] after the last write began): every
/// batch that reaches the mailbox before it is handled shares its transaction.
#[derive(Message)]
#[rtype(result = "()")]
struct Flush;

/// At most one transaction this often: at 3,000 replies a second, some fifteen replies share
/// one. A reply waits at most this long more for its answer.
pub const PACE: std::time::Duration = std::time::Duration::from_millis(5);

pub struct Recorder {
    app: AppContext,
    waiting: Vec<RecordBatch>,
    pacer: Pacer,
}

impl Recorder {
    pub fn new(app: AppContext) -> Recorder {
        Recorder {
            app,
            waiting: Vec::new(),
            pacer: Pacer::new(PACE),
        }
    }

    /// Writes `batches` in one transaction; if that fails, each batch alone, so that only a batch
    /// that cannot be written hears an error. The replies are moved into one list, not copied:
    /// a batch is a range of it.
    fn write(&self, batches: Vec<RecordBatch>) {
        let mut replies = Vec::new();
        let mut answers = Vec::new();
        let mut groups = Vec::with_capacity(batches.len());
        for batch in batches {
            let start = replies.len();
            for pending in batch.replies {
                replies.push(pending.reply);
                answers.push(Some(pending.answer));
            }
            groups.push((batch.team, start..replies.len()));
        }
        self.write_groups(&replies, &mut answers, &groups);
    }

    /// Writes the replies of `groups` (consecutive ranges of `replies`) in one transaction, or,
    /// if that fails, each group alone; answers each reply.
    fn write_groups(
        &self,
        replies: &[NewReply],
        answers: &mut [Option<oneshot::Sender<AppResult<RecordOutcome>>>],
        groups: &[(TeamId, Range<usize>)],
    ) {
        let (Some(first), Some(last)) = (groups.first(), groups.last()) else {
            return;
        };
        let all = first.1.start..last.1.end;
        if all.is_empty() {
            return;
        }
        match self
            .app
            .store
            .record_replies(&replies[all.clone()], self.app.now())
        {
            Ok(outcomes) => {
                for (i, outcome) in all.zip(outcomes) {
                    self.answer(&replies[i], answers[i].take(), Ok(outcome));
                }
            }
            Err(e) if groups.len() > 1 => {
                warn!(batches = groups.len(), replies = all.len(), error = %e, "cannot record a group of replies; recording each team's batch alone");
                for group in groups {
                    self.write_groups(replies, answers, std::slice::from_ref(group));
                }
            }
            Err(e) => {
                warn!(team_id = first.0, replies = all.len(), error = %e, "cannot record replies");
                let why = e.to_string();
                for i in all {
                    let refused = AppError::Unavailable(format!("cannot record the reply: {why}"));
                    self.answer(&replies[i], answers[i].take(), Err(refused));
                }
            }
        }
    }

    fn answer(
        &self,
        reply: &NewReply,
        answer: Option<oneshot::Sender<AppResult<RecordOutcome>>>,
        outcome: AppResult<RecordOutcome>,
    ) {
        if let Ok(RecordOutcome::Recorded(ids)) = &outcome {
            let r = reply;
            info!(team_id = r.team, member_id = r.member, day = %r.day, dones = ids.len(), channel = r.source.channel.as_str(), "reply recorded");
            Metrics::inc(&self.app.metrics.replies_received);
            Metrics::add(&self.app.metrics.dones_recorded, ids.len() as u64);
            self.app.emit(Event::DonesRecorded {
                team: r.team,
                member: r.member,
                dones: ids.clone(),
            });
        }
        if let Some(answer) = answer {
            let _ = answer.send(outcome);
        }
    }
}

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<RecordBatch> for Recorder {
    type Result = ();
    fn handle(&mut self, batch: RecordBatch, ctx: &mut Context<Self>) {
        if self.waiting.is_empty() {
            self.pacer.schedule(ctx, Flush);
        }
        self.waiting.push(batch);
    }
}

impl Handler<Flush> for Recorder {
    type Result = ();
    fn handle(&mut self, _: Flush, _ctx: &mut Context<Self>) {
        let batches = std::mem::take(&mut self.waiting);
        self.pacer.writing();
        // A panic drops the answers of this group: their callers hear "failed; retry" (an inbound
        // message stays pending, and is processed again at the next start). The recorder itself
        // holds nothing else and goes on with the next group.
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| self.write(batches))) {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            error!(panic = %what, "recording replies panicked; they were not answered");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::NaiveDate;
    use storage::{Channel, DoneKind, NewDone, Source};

    use super::*;
    use crate::app::App;
    use crate::clock::ManualClock;

    fn app() -> App {
        let settings = crate::config::Config::default().validate("test").unwrap();
        let clock = ManualClock::new(chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap());
        App::new(
            storage::Store::temporary().unwrap(),
            settings,
            Arc::new(clock),
        )
        .unwrap()
    }

    fn reply(
        team: TeamId,
        member: u64,
        message_id: &str,
        inbound_id: Option<u64>,
    ) -> (Pending, oneshot::Receiver<AppResult<RecordOutcome>>) {
        let (answer, answered) = oneshot::channel();
        let reply = NewReply {
            team,
            member,
            day: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
            lines: vec![NewDone {
                text: format!("shipped {message_id}"),
                kind: DoneKind::Done,
                tags: Vec::new(),
                mentions: Vec::new(),
            }],
            source: Source {
                channel: Channel::Email,
                message_id: Some(message_id.into()),
                prompt_id: None,
                inbound_id,
            },
            replace: false,
            received: None,
        };
        (Pending { reply, answer }, answered)
    }

    #[actix_rt::test]
    async fn batches_are_written_in_order_and_one_that_cannot_be_written_fails_alone() {
        let app = app();
        let (a, b) = (
            app.create_team("A", "UTC").unwrap(),
            app.create_team("B", "UTC").unwrap(),
        );
        let ada = app.add_member("A", "Ada", "ada@example.org", None).unwrap();
        let bob = app.add_member("B", "Bob", "bob@example.org", None).unwrap();
        let recorder = Recorder::new(app.ctx.clone()).start();
        let (first, first_answer) = reply(a.id, ada.id, "m1@example.org", None);
        // Bob's reply claims an inbound record that does not exist: its transaction aborts.
        let (broken, broken_answer) = reply(b.id, bob.id, "m2@example.org", Some(999_999));
        // The same message again, handed over after the first: it finds the first one's dones.
        let (again, again_answer) = reply(a.id, ada.id, "m1@example.org", None);
        for (team, pending) in [(a.id, first), (b.id, broken), (a.id, again)] {
            recorder.do_send(RecordBatch {
                team,
                replies: vec![pending],
            });
        }
        let first = first_answer.await.unwrap().unwrap();
        let RecordOutcome::Recorded(ids) = &first else {
            panic!("recorded, not {first:?}")
        };
        assert_eq!(ids.len(), 1);
        assert!(matches!(
            broken_answer.await.unwrap(),
            Err(AppError::Unavailable(_))
        ));
        assert_eq!(
            again_answer.await.unwrap().unwrap(),
            RecordOutcome::Duplicate(ids.clone())
        );
        assert_eq!(app.store.counter("dones.recorded").unwrap(), 1);
        assert_eq!(app.store.done(ids[0]).unwrap().member_id, ada.id);
    }
}
