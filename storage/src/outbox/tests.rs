//! The batch operations of the outbox: one transaction per batch, with the same indexes,
//! counters and idempotency as the one-message operations.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sled::Transactional;

use super::OutboxTx;

use crate::{
    Channel, Delivery, JournaledOutcome, NewOutboxMessage, NewPrompt, OutboxCounts, OutboxKind,
    OutboxRecovery, OutboxState, Prompt, SendOutcome, Store,
};

fn t(min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 9, 18, min, 0).unwrap()
}

fn mail(key: &str, due: DateTime<Utc>) -> NewOutboxMessage {
    NewOutboxMessage {
        channel: Channel::Email,
        key: key.into(),
        kind: OutboxKind::Prompt,
        team_id: Some(1),
        member_id: None,
        envelope_from: "bot@example.com".into(),
        envelope_to: vec![format!("{key}@example.org")],
        message_id: format!("{key}@example.com"),
        body: format!("Subject: {key}\r\n\r\nhello\r\n").into_bytes(),
        due_at: due,
    }
}

/// The ids `batch` got, enqueued at `t(0)`.
fn enqueued(s: &Store, batch: &[NewOutboxMessage]) -> Vec<crate::OutboxId> {
    s.enqueue_many(batch, t(0))
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// Message `id`'s first attempt, accepted, as journaled.
fn accepted(id: u64) -> JournaledOutcome {
    JournaledOutcome {
        id,
        attempts: 1,
        outcome: SendOutcome::Sent {
            reply: "250 ok".into(),
        },
    }
}

fn counts(s: &Store) -> (u64, u64, u64, u64, u64) {
    let OutboxCounts {
        queued,
        sending,
        sent,
        deferred,
        failed,
    } = s.outbox_counts().unwrap();
    (queued, sending, sent, deferred, failed)
}

#[test]
fn a_batch_enqueues_each_key_once_even_within_the_batch() {
    let s = Store::temporary().unwrap();
    let (a, _) = s.enqueue(&mail("a", t(0)), t(0)).unwrap();
    let batch = [
        mail("a", t(0)),
        mail("b", t(1)),
        mail("b", t(2)),
        mail("c", t(0)),
    ];
    let got = s.enqueue_many(&batch, t(0)).unwrap();
    assert_eq!(got[0], (a, false), "enqueued before the batch");
    assert!(got[1].1 && got[3].1);
    assert_eq!(got[2], (got[1].0, false), "earlier in the same batch");
    assert_eq!(counts(&s), (3, 0, 0, 0, 0));
    // b keeps the due time of its first enqueue.
    assert_eq!(s.outbox_message(got[1].0).unwrap().due_at, t(1));
    assert_eq!(s.next_outbox_due().unwrap(), Some(t(0)));
}

#[test]
fn a_batch_larger_than_one_transaction_is_written_whole() {
    let s = Store::temporary().unwrap();
    let batch: Vec<_> = (0..crate::MAX_BATCH + 3)
        .map(|i| mail(&format!("m{i}"), t(0)))
        .collect();
    let got = s.enqueue_many(&batch, t(0)).unwrap();
    assert_eq!(got.len(), batch.len());
    assert!(got.iter().all(|(_, new)| *new));
    assert_eq!(s.outbox_counts().unwrap().queued, batch.len() as u64);
}

#[test]
fn claims_are_due_first_and_outcomes_are_recorded_in_one_batch() {
    let s = Store::temporary().unwrap();
    let batch = [
        mail("late", t(5)),
        mail("a", t(1)),
        mail("b", t(2)),
        mail("c", t(3)),
    ];
    let ids = enqueued(&s, &batch);
    let (late, a, b, c) = (ids[0], ids[1], ids[2], ids[3]);

    let claimed = s.claim_due(t(4), 2).unwrap();
    assert_eq!(
        claimed.iter().map(|(m, _)| m.id).collect::<Vec<_>>(),
        [a, b],
        "oldest due first, at most the limit"
    );
    assert_eq!(claimed[0].1, b"Subject: a\r\n\r\nhello\r\n");
    assert!(
        claimed
            .iter()
            .all(|(m, _)| m.attempts == 1 && m.state == OutboxState::Sending { since: t(4) })
    );
    assert_eq!(counts(&s), (2, 2, 0, 0, 0));
    let rest = s.claim_due(t(4), 10).unwrap();
    assert_eq!(
        rest.iter().map(|(m, _)| m.id).collect::<Vec<_>>(),
        [c],
        "not yet due and already claimed messages are left"
    );

    let recorded = s
        .record_outcomes(
            t(6),
            &[
                (
                    a,
                    SendOutcome::Sent {
                        reply: "250 ok".into(),
                    },
                ),
                (
                    b,
                    SendOutcome::Deferred {
                        retry_at: t(9),
                        reply: "451 later".into(),
                    },
                ),
                (
                    c,
                    SendOutcome::Failed {
                        reply: "550 no".into(),
                    },
                ),
            ],
        )
        .unwrap();
    assert_eq!(recorded.len(), 3);
    assert_eq!(
        s.outbox_message(a).unwrap().state,
        OutboxState::Sent {
            at: t(6),
            reply: "250 ok".into()
        }
    );
    assert_eq!(s.outbox_message(b).unwrap().due_at, t(9));
    assert_eq!(counts(&s), (1, 0, 1, 1, 1));
    // The deferred message is due again at its retry time, after `late`.
    let again = s.claim_due(t(10), 10).unwrap();
    assert_eq!(
        again.iter().map(|(m, _)| m.id).collect::<Vec<_>>(),
        [late, b]
    );
    assert_eq!(again[1].0.attempts, 2);
}

/// A claim is held in memory: the stored message is untouched, so giving it back leaves it due
/// as it was, at the attempt it had.
#[test]
fn unsent_claims_go_back_to_the_queue_without_counting_an_attempt() {
    let s = Store::temporary().unwrap();
    let got = s
        .enqueue_many(&[mail("a", t(0)), mail("b", t(0))], t(0))
        .unwrap();
    let (a, b) = (got[0].0, got[1].0);
    let claimed = s.claim_due(t(1), 10).unwrap();
    assert_eq!(claimed.len(), 2);
    s.mark_sent(a, t(2), "250 ok").unwrap();
    // a is no longer `sending`: left alone.
    s.return_unsent(&[a, b]);
    assert!(matches!(
        s.outbox_message(a).unwrap().state,
        OutboxState::Sent { .. }
    ));
    let back = s.outbox_message(b).unwrap();
    assert_eq!(
        (back.state, back.attempts, back.due_at),
        (OutboxState::Queued, 0, t(0))
    );
    assert_eq!(counts(&s), (1, 0, 1, 0, 0));
    let again = s.claim_due(t(4), 10).unwrap();
    assert_eq!(
        again
            .iter()
            .map(|(m, _)| (m.id, m.attempts))
            .collect::<Vec<_>>(),
        [(b, 1)]
    );
}

/// Claimed messages are shown `sending` at their next attempt; a crash leaves them as stored,
/// due, and the next start claims them again at that same attempt.
#[test]
fn a_crash_leaves_claimed_messages_due() {
    let dir = tempfile::tempdir().unwrap();
    let ids = {
        let s = crate::reopen(dir.path()).unwrap();
        let batch: Vec<_> = (0..5).map(|i| mail(&format!("m{i}"), t(0))).collect();
        let ids = enqueued(&s, &batch);
        let claimed = s.claim_due(t(1), 10).unwrap();
        assert_eq!(claimed.len(), 5);
        assert!(
            claimed
                .iter()
                .all(|(m, _)| m.attempts == 1 && m.state == OutboxState::Sending { since: t(1) })
        );
        assert_eq!(counts(&s), (0, 5, 0, 0, 0));
        assert_eq!(s.outbox_list(Some("sending"), 10).unwrap().len(), 5);
        assert_eq!(s.outbox_page(Some("sending"), None, 10).unwrap().len(), 5);
        assert_eq!(s.outbox_message(ids[0]).unwrap().attempts, 1);
        s.flush().unwrap();
        ids
    };
    let s = crate::reopen(dir.path()).unwrap();
    assert_eq!(counts(&s), (5, 0, 0, 0, 0));
    assert_eq!(s.outbox_message(ids[0]).unwrap().attempts, 0);
    assert_eq!(s.recover_outbox(t(2)).unwrap(), OutboxRecovery::default());
    let again = s.claim_due(t(2), 10).unwrap();
    assert_eq!(
        again
            .iter()
            .map(|(m, _)| (m.id, m.attempts))
            .collect::<Vec<_>>(),
        ids.iter().map(|&id| (id, 1)).collect::<Vec<_>>()
    );
}

/// A sender that starts again in the same process (its actor restarted) ends the claims the
/// one before it held: their messages are due again, not held forever.
#[test]
fn a_new_sender_releases_the_claims_of_the_one_before() {
    let s = Store::temporary().unwrap();
    let batch: Vec<_> = (0..3).map(|i| mail(&format!("m{i}"), t(0))).collect();
    s.enqueue_many(&batch, t(0)).unwrap();
    assert_eq!(s.claim_due(t(1), 10).unwrap().len(), 3);
    assert!(s.claim_due(t(1), 10).unwrap().is_empty(), "claimed once");
    assert_eq!(
        s.recover_outbox(t(2)).unwrap(),
        OutboxRecovery {
            journaled: 0,
            released: 3
        }
    );
    assert_eq!(counts(&s), (3, 0, 0, 0, 0));
    assert!(
        s.claim_due(t(2), 10)
            .unwrap()
            .iter()
            .all(|(m, _)| m.attempts == 1)
    );
}

/// A claimed message cannot be retried by an operator meanwhile (it would be claimed twice).
#[test]
fn a_claimed_message_cannot_be_retried() {
    let s = Store::temporary().unwrap();
    let id = enqueued(&s, &[mail("m", t(0))])[0];
    let retry = SendOutcome::Deferred {
        retry_at: t(5),
        reply: "421 busy".into(),
    };
    s.claim_due(t(1), 10).unwrap();
    s.record_outcomes(t(1), &[(id, retry)]).unwrap();
    let claimed = s.claim_due(t(5), 10).unwrap();
    assert_eq!((claimed[0].0.id, claimed[0].0.attempts), (id, 2));
    assert_eq!(counts(&s), (0, 1, 0, 0, 0), "claimed from deferred");
    assert!(matches!(
        s.retry_outbox(id, t(6)),
        Err(crate::StorageError::Conflict(_))
    ));
    assert!(s.claim_due(t(6), 10).unwrap().is_empty());
    let sent = SendOutcome::Sent {
        reply: "250 ok".into(),
    };
    let m = s.record_outcomes(t(6), &[(id, sent)]).unwrap().remove(0);
    assert_eq!(m.attempts, 2);
    assert_eq!(counts(&s), (0, 0, 1, 0, 0));
}

/// A crash after outcomes were journaled, before sled had them: start-up applies each to the
/// claim it belongs to, and to nothing else, and queues the rest again.
#[test]
fn journaled_outcomes_are_applied_after_a_crash_and_only_to_their_claim() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, journal) = {
        let s = crate::reopen(dir.path()).unwrap();
        let batch: Vec<_> = (0..5).map(|i| mail(&format!("m{i}"), t(0))).collect();
        let ids = enqueued(&s, &batch);
        assert_eq!(s.claim_due(t(1), 10).unwrap().len(), 5);
        // m4 was deferred by an earlier attempt and is being sent again: its first outcome is
        // in the journal (appended before the journal was emptied, say) but is no longer its.
        let retry = SendOutcome::Deferred {
            retry_at: t(1),
            reply: "421 busy".into(),
        };
        s.record_outcomes(t(1), &[(ids[4], retry.clone())]).unwrap();
        assert_eq!(s.claim_due(t(2), 10).unwrap().len(), 1);
        let entry = |i: usize, attempts: u32, outcome: SendOutcome| JournaledOutcome {
            id: ids[i],
            attempts,
            outcome,
        };
        let sent = SendOutcome::Sent {
            reply: "250 2.0.0 queued".into(),
        };
        let later = SendOutcome::Deferred {
            retry_at: t(40),
            reply: "451 try later".into(),
        };
        let failed = SendOutcome::Failed {
            reply: "550 no such user".into(),
        };
        s.journal_outcomes(t(3), &[entry(0, 1, sent), entry(1, 1, later)])
            .unwrap();
        s.journal_outcomes(t(3), &[entry(2, 1, failed), entry(4, 1, retry)])
            .unwrap();
        s.flush().unwrap();
        // The crash: all five are claimed (sled has four `queued`, m4 `deferred`); m3 and m4's
        // second attempt never finished.
        assert_eq!(counts(&s), (0, 5, 0, 0, 0));
        (ids, dir.path().join("outbox.journal"))
    };
    assert!(std::fs::metadata(&journal).unwrap().len() > 0);

    let s = crate::reopen(dir.path()).unwrap();
    assert_eq!(
        s.recover_outbox(t(5)).unwrap(),
        OutboxRecovery {
            journaled: 3,
            released: 0
        },
        "m4's stale outcome is not applied"
    );
    let state = |i: usize| s.outbox_message(ids[i]).unwrap();
    assert!(
        matches!(state(0).state, OutboxState::Sent { ref reply, .. } if reply == "250 2.0.0 queued")
    );
    assert!(
        matches!(state(1).state, OutboxState::Deferred { ref reply } if reply == "451 try later")
    );
    assert_eq!(state(1).due_at, t(40));
    assert!(
        matches!(state(2).state, OutboxState::Failed { ref reply, .. } if reply == "550 no such user")
    );
    assert_eq!((state(0).attempts, state(3).attempts), (1, 0));
    assert_eq!(state(3).state, OutboxState::Queued);
    assert_eq!(
        (state(4).state, state(4).attempts),
        (
            OutboxState::Deferred {
                reply: "421 busy".into()
            },
            1
        ),
        "as its first attempt left it"
    );
    assert_eq!(counts(&s), (1, 0, 1, 2, 1));
    assert_eq!(
        std::fs::metadata(&journal).unwrap().len(),
        0,
        "emptied once applied"
    );
    // Replaying again (another restart) changes nothing.
    drop(s);
    let s = crate::reopen(dir.path()).unwrap();
    assert_eq!(s.recover_outbox(t(6)).unwrap(), OutboxRecovery::default());
    assert_eq!(counts(&s), (1, 0, 1, 2, 1));
}

/// Data written by earlier versions, which wrote a claim durably (`sending`, in
/// `outbox_inflight`): a journaled outcome of that claim is applied to it, and a claim without
/// one is queued again.
#[test]
fn durable_claims_of_earlier_versions_are_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let ids = {
        let s = crate::reopen(dir.path()).unwrap();
        let ids = enqueued(&s, &[mail("m0", t(0)), mail("m1", t(0))]);
        // What `claim_due` used to write: the record `sending` at its next attempt, its due
        // entry moved to `outbox_inflight`, and the counters.
        outbox_tx!(s.t, |tx| {
            let mut tally = super::Tally::default();
            for &id in &ids {
                tx.transition(
                    id,
                    &|m| {
                        m.state = OutboxState::Sending { since: t(1) };
                        m.attempts = 1;
                        Ok(())
                    },
                    &mut tally,
                )?;
            }
            tally.write(tx.counters)
        })
        .unwrap();
        s.journal_outcomes(t(2), &[accepted(ids[0])]).unwrap();
        s.flush().unwrap();
        ids
    };
    let s = crate::reopen(dir.path()).unwrap();
    assert_eq!(counts(&s), (0, 2, 0, 0, 0));
    assert_eq!(
        s.recover_outbox(t(3)).unwrap(),
        OutboxRecovery {
            journaled: 1,
            released: 1
        }
    );
    assert!(matches!(
        s.outbox_message(ids[0]).unwrap().state,
        OutboxState::Sent { .. }
    ));
    assert_eq!(counts(&s), (1, 0, 1, 0, 0));
    let again = s.claim_due(t(3), 10).unwrap();
    assert_eq!(
        again
            .iter()
            .map(|(m, _)| (m.id, m.attempts))
            .collect::<Vec<_>>(),
        [(ids[1], 2)]
    );
}

/// The unsynced tail of an append cut short by a crash was never counted durable: replay stops
/// there and applies every whole frame before it.
#[test]
fn a_torn_journal_tail_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<_> = {
        let s = crate::reopen(dir.path()).unwrap();
        let batch: Vec<_> = (0..2).map(|i| mail(&format!("m{i}"), t(0))).collect();
        s.enqueue_many(&batch, t(0)).unwrap();
        let claimed = s.claim_due(t(1), 10).unwrap();
        let sent = |i: usize| accepted(claimed[i].0.id);
        s.journal_outcomes(t(2), &[sent(0)]).unwrap();
        s.flush().unwrap();
        // What a second append left when the machine stopped: a frame cut in its middle, right
        // after the first one.
        let path = dir.path().join("outbox.journal");
        let end = super::journal::frames_end(&std::fs::read(&path).unwrap());
        let frame = super::journal::encode(t(2), &[sent(1)]);
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &frame[..frame.len() - 3], end as u64)
            .unwrap();
        claimed.iter().map(|(m, _)| m.id).collect()
    };
    let s = crate::reopen(dir.path()).unwrap();
    assert_eq!(s.recover_outbox(t(3)).unwrap().journaled, 1);
    assert!(matches!(
        s.outbox_message(ids[0]).unwrap().state,
        OutboxState::Sent { .. }
    ));
    assert_eq!(s.outbox_message(ids[1]).unwrap().state, OutboxState::Queued);
}

/// The journal is emptied once every outcome appended to it is in sled, and not before.
#[test]
fn the_journal_is_emptied_when_sled_has_every_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let s = crate::reopen(dir.path()).unwrap();
    let journal = dir.path().join("outbox.journal");
    let frames = || super::journal::decode_frames(&std::fs::read(&journal).unwrap());
    s.journal_outcomes(t(1), &[accepted(1), accepted(2)])
        .unwrap();
    s.journal_outcomes(t(1), &[accepted(3)]).unwrap();
    s.outcomes_applied(2).unwrap();
    assert_eq!(frames().len(), 2, "one is not in sled yet");
    s.outcomes_applied(1).unwrap();
    assert!(frames().is_empty());
    assert!(
        std::fs::read(&journal).unwrap().iter().all(|&b| b == 0),
        "no old frame is left to follow a new one"
    );
    // Appends go on from the start of the emptied file.
    s.journal_outcomes(t(2), &[accepted(4)]).unwrap();
    assert_eq!(frames().len(), 1);
    assert_eq!(frames()[0].1, vec![accepted(4)]);
    // Past its zeros the file grows, and the frames stay in order.
    let many: Vec<_> = (10..70_000).map(accepted).collect();
    s.journal_outcomes(t(3), &many).unwrap();
    s.journal_outcomes(t(3), &[accepted(5)]).unwrap();
    assert!(std::fs::metadata(&journal).unwrap().len() > 1 << 20);
    let after = frames();
    assert_eq!(after.len(), 3);
    assert_eq!(after[1].1, many);
    assert_eq!(after[2].1, vec![accepted(5)]);
}

fn new_prompt(s: &Store, member: u64, day: NaiveDate) -> NewPrompt {
    let id = s.new_prompt_id().unwrap();
    let message = NewOutboxMessage {
        member_id: Some(member),
        ..mail(&format!("prompt:{member}:{day}:email"), t(0))
    };
    NewPrompt {
        prompt: Prompt {
            id,
            team_id: 1,
            member_id: member,
            day,
            due_at: t(0),
            created_at: t(0),
            deliveries: vec![Delivery {
                channel: Channel::Email,
                outbox_id: None,
                message_id: Some(message.message_id.clone()),
            }],
        },
        messages: vec![message],
    }
}

#[test]
fn a_team_of_prompts_is_created_in_a_batch_once_per_member_and_day() {
    let s = Store::temporary().unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
    let (first, created) = s
        .create_prompt(new_prompt(&s, 1, day).prompt, &[], t(0))
        .unwrap();
    assert!(created);
    let batch = vec![
        new_prompt(&s, 1, day),
        new_prompt(&s, 2, day),
        new_prompt(&s, 3, day),
        new_prompt(&s, 2, day),
    ];
    let got = s.create_prompts(batch, t(0)).unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!((got[0].0.id, got[0].1), (first.id, false));
    assert!(got[1].1 && got[2].1);
    assert_eq!(
        (got[3].0.id, got[3].1),
        (got[1].0.id, false),
        "the same member and day earlier in the batch"
    );
    // Each created prompt carries its outbox message, queued, and is found by its day.
    for (p, _) in &got[1..3] {
        let outbox = p.deliveries[0].outbox_id.expect("outbox id filled in");
        assert_eq!(s.outbox_message(outbox).unwrap().state, OutboxState::Queued);
        assert_eq!(
            s.prompt_for_day(p.member_id, day).unwrap().as_ref(),
            Some(p)
        );
    }
    assert_eq!(s.outbox_counts().unwrap().queued, 2);
    assert_eq!(s.counter("prompts.created").unwrap(), 3);
}

/// A prompt's email key is unique by the prompt's member and day, not by `outbox_keys`: the
/// prompt's creation writes it without an entry there, and nothing else may enqueue such a key.
#[test]
fn a_prompts_email_key_is_written_only_with_its_prompt() {
    let s = Store::temporary().unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
    let key = crate::prompt_email_key(1, day);
    assert_eq!(key, "prompt:1:2026-03-09:email");
    let first = new_prompt(&s, 1, day);
    assert_eq!(first.messages[0].key, key);
    let got = s.create_prompts([first], t(0)).unwrap();
    assert!(got[0].1);
    assert!(s.t.outbox_keys.get(key.as_bytes()).unwrap().is_none());
    // The same member and day again: nothing new.
    let again = s.create_prompts([new_prompt(&s, 1, day)], t(1)).unwrap();
    assert!(!again[0].1);
    assert_eq!(counts(&s), (1, 0, 0, 0, 0));
    // Enqueued on its own, such a key is refused, alone or in a batch.
    let err = s.enqueue(&mail(&key, t(0)), t(0)).unwrap_err();
    assert!(
        err.to_string().contains("enqueued with its prompt"),
        "{err}"
    );
    let other = crate::prompt_email_key(2, day);
    assert!(
        s.enqueue_many(&[mail("digest:1", t(0)), mail(&other, t(0))], t(0))
            .is_err()
    );
    // With a prompt whose member or day it does not name, too; nothing of that chunk is written.
    let mut wrong = new_prompt(&s, 3, day);
    wrong.messages[0].key = other;
    assert!(s.create_prompts([wrong], t(0)).is_err());
    assert_eq!(s.prompt_for_day(3, day).unwrap(), None);
    assert_eq!(counts(&s), (1, 0, 0, 0, 0));
    // Keys of other forms are still remembered in `outbox_keys`.
    for k in [
        "prompt:1:2026-03-09:slack",
        "prompt:team:1:2026-03-09:email",
        "prompt:x:2026-03-09:email",
    ] {
        s.enqueue(&mail(k, t(0)), t(0)).unwrap();
        assert!(s.t.outbox_keys.get(k.as_bytes()).unwrap().is_some(), "{k}");
    }
}

/// Prompts written with a hand-off: up to its room, the new messages due now are claimed as
/// they are written and handed over with their bodies; nothing else is (one due later, one of a
/// prompt that existed already); a scan of the due index does not claim them again.
#[test]
fn new_prompts_are_handed_to_the_sender_as_they_are_written() {
    let s = Store::temporary().unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
    s.create_prompts([new_prompt(&s, 1, day)], t(0)).unwrap();
    let mut later = new_prompt(&s, 4, day);
    later.messages[0].due_at = t(30);
    let batch = vec![
        new_prompt(&s, 1, day),
        later,
        new_prompt(&s, 2, day),
        new_prompt(&s, 3, day),
        new_prompt(&s, 5, day),
    ];
    // Room for three: claimed before the write are the first three due (member 1's second
    // prompt among them, which is then not written), so two are handed over.
    let mut handoff = crate::Handoff::with_room(3);
    let got = s.create_prompts_handing(batch, t(1), &mut handoff).unwrap();
    assert_eq!(
        got.iter().map(|(_, new)| *new).collect::<Vec<_>>(),
        [false, true, true, true, true]
    );
    assert_eq!(handoff.room, 1);
    let handed: Vec<_> = handoff
        .claimed
        .iter()
        .map(|(m, body)| (m.member_id, m.attempts, m.state.clone(), body.clone()))
        .collect();
    let body = |key: &str| format!("Subject: {key}\r\n\r\nhello\r\n").into_bytes();
    assert_eq!(
        handed,
        [
            (
                Some(2),
                1,
                OutboxState::Sending { since: t(1) },
                body(&format!("prompt:2:{day}:email"))
            ),
            (
                Some(3),
                1,
                OutboxState::Sending { since: t(1) },
                body(&format!("prompt:3:{day}:email"))
            ),
        ]
    );
    // As stored, they are queued; as read, claimed.
    let id = handoff.claimed[0].0.id;
    assert_eq!(s.outbox_message(id).unwrap().attempts, 1);
    assert_eq!(counts(&s), (3, 2, 0, 0, 0));
    // A scan finds only the unclaimed ones due: member 1's first prompt and member 5's.
    let scanned: Vec<_> = s
        .claim_due(t(2), 10)
        .unwrap()
        .into_iter()
        .map(|(m, _)| m.member_id)
        .collect();
    assert_eq!(scanned, [Some(1), Some(5)]);
    let sent = SendOutcome::Sent {
        reply: "250 ok".into(),
    };
    let recorded = s.record_outcomes(t(3), &[(id, sent)]).unwrap();
    assert_eq!(recorded[0].attempts, 1);
    assert_eq!(counts(&s), (1, 3, 1, 0, 0));
}

/// A handed message not sent before a crash is queued in the database, and a sender that
/// starts again in the process ends its claim: either way it goes out again.
#[test]
fn handed_messages_are_due_again_after_a_crash_or_a_new_sender() {
    let dir = tempfile::tempdir().unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
    {
        let s = crate::reopen(dir.path()).unwrap();
        let mut handoff = crate::Handoff::with_room(10);
        s.create_prompts_handing([new_prompt(&s, 1, day)], t(0), &mut handoff)
            .unwrap();
        assert_eq!(handoff.claimed.len(), 1);
        assert!(s.claim_due(t(1), 10).unwrap().is_empty());
        s.flush().unwrap();
    }
    let s = crate::reopen(dir.path()).unwrap();
    assert_eq!(counts(&s), (1, 0, 0, 0, 0));
    let mut handoff = crate::Handoff::with_room(10);
    s.create_prompts_handing([new_prompt(&s, 2, day)], t(1), &mut handoff)
        .unwrap();
    assert_eq!(s.recover_outbox(t(2)).unwrap().released, 1);
    let due = s.claim_due(t(2), 10).unwrap();
    assert_eq!(
        due.iter()
            .map(|(m, _)| (m.member_id, m.attempts))
            .collect::<Vec<_>>(),
        [(Some(1), 1), (Some(2), 1)]
    );
}

#[test]
fn the_text_of_old_sent_and_failed_messages_is_deleted_and_their_records_stay() {
    let s = Store::temporary().unwrap();
    // Created at t(0): sent at t(1), failed at t(1), deferred, still queued, sent at t(20).
    let ids: Vec<_> = ["sent", "failed", "deferred", "queued", "late"]
        .iter()
        .map(|k| s.enqueue(&mail(k, t(0)), t(0)).unwrap().0)
        .collect();
    let [sent, failed, deferred, queued, late] = ids[..] else {
        unreachable!()
    };
    let claimed: Vec<_> = s
        .claim_due(t(0), 10)
        .unwrap()
        .into_iter()
        .map(|(m, _)| m.id)
        .collect();
    assert_eq!(claimed.len(), 5);
    s.return_unsent(&[queued]);
    let reply = |r: &str| r.to_owned();
    s.record_outcomes(
        t(1),
        &[
            (
                sent,
                SendOutcome::Sent {
                    reply: reply("250 ok"),
                },
            ),
            (
                failed,
                SendOutcome::Failed {
                    reply: reply("550 no such user"),
                },
            ),
            (
                deferred,
                SendOutcome::Deferred {
                    retry_at: t(40),
                    reply: reply("451 later"),
                },
            ),
        ],
    )
    .unwrap();
    s.record_outcomes(
        t(20),
        &[(
            late,
            SendOutcome::Sent {
                reply: reply("250 ok"),
            },
        )],
    )
    .unwrap();
    // Created after the cut-off: never looked at, whatever its state.
    let (newer, _) = s.enqueue(&mail("newer", t(30)), t(30)).unwrap();

    assert_eq!(s.prune_outbox_bodies(t(10), 100).unwrap(), 2);
    for id in [sent, failed] {
        assert!(s.outbox_body(id).is_err(), "text of {id} deleted");
    }
    for id in [deferred, queued, late, newer] {
        assert!(s.outbox_body(id).is_ok(), "text of {id} kept");
    }
    // The records say what happened, as before.
    let m = s.outbox_message(failed).unwrap();
    assert_eq!(m.envelope_to, vec!["failed@example.org".to_owned()]);
    assert!(
        matches!(m.state, OutboxState::Failed { ref reply, .. } if reply == "550 no such user")
    );
    assert!(matches!(
        s.outbox_message(sent).unwrap().state,
        OutboxState::Sent { .. }
    ));
    assert_eq!(counts(&s), (2, 0, 2, 1, 1));
    // Nothing left to delete; a failed message without its text cannot be queued again.
    assert_eq!(s.prune_outbox_bodies(t(10), 100).unwrap(), 0);
    let refused = s.retry_outbox(failed, t(50)).unwrap_err().to_string();
    assert!(refused.contains("text was deleted"), "{refused}");
    assert!(matches!(
        s.outbox_message(failed).unwrap().state,
        OutboxState::Failed { .. }
    ));
    // The deferred one still can be, and is sent with its text.
    s.retry_outbox(deferred, t(50)).unwrap();
    let due: Vec<_> = s.claim_due(t(50), 10).unwrap();
    assert!(
        due.iter()
            .any(|(m, body)| m.id == deferred && !body.is_empty())
    );
}

#[test]
fn pruning_stops_at_its_limit_and_goes_on_at_the_next_call() {
    let s = Store::temporary().unwrap();
    let keys = ["a", "b", "c"];
    for k in keys {
        s.enqueue(&mail(k, t(0)), t(0)).unwrap();
    }
    let claimed = s.claim_due(t(0), 10).unwrap();
    let outcomes: Vec<_> = claimed
        .iter()
        .map(|(m, _)| {
            (
                m.id,
                SendOutcome::Sent {
                    reply: "250 ok".into(),
                },
            )
        })
        .collect();
    s.record_outcomes(t(1), &outcomes).unwrap();
    assert_eq!(s.prune_outbox_bodies(t(10), 2).unwrap(), 2);
    assert_eq!(s.prune_outbox_bodies(t(10), 2).unwrap(), 1);
    assert_eq!(s.prune_outbox_bodies(t(10), 2).unwrap(), 0);
}

#[test]
fn a_message_without_its_text_fails_instead_of_blocking_every_claim() {
    let s = Store::temporary().unwrap();
    let (lost, _) = s.enqueue(&mail("lost", t(0)), t(0)).unwrap();
    let (fine, _) = s.enqueue(&mail("fine", t(0)), t(0)).unwrap();
    s.t.outbox_bodies
        .remove(crate::codec::id_key(lost))
        .unwrap();
    let claimed = s.claim_due(t(1), 10).unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].0.id, fine);
    let m = s.outbox_message(lost).unwrap();
    assert!(
        matches!(m.state, OutboxState::Failed { ref reply, .. } if reply.contains("text is missing")),
        "{:?}",
        m.state
    );
    assert_eq!(counts(&s), (0, 1, 0, 0, 1));
    assert!(s.claim_due(t(2), 10).unwrap().is_empty());
}

/// A backup taken while an outcome is durable only in the journal (sled records it a batch
/// later) has it: the restored database does not send that message again.
#[test]
fn a_backup_has_the_outcomes_only_the_journal_holds() {
    let dir = tempfile::tempdir().unwrap();
    let s = crate::reopen(dir.path()).unwrap();
    let batch: Vec<_> = (0..3).map(|i| mail(&format!("m{i}"), t(0))).collect();
    s.enqueue_many(&batch, t(0)).unwrap();
    let ids: Vec<_> = s
        .claim_due(t(1), 10)
        .unwrap()
        .into_iter()
        .map(|(m, _)| m.id)
        .collect();
    let sent = SendOutcome::Sent {
        reply: "250 2.0.0 queued".into(),
    };
    // m0's outcome is in sled, m1's only in the journal, m2 is still being sent.
    s.record_outcomes(t(2), &[(ids[0], sent.clone())]).unwrap();
    let journaled = JournaledOutcome {
        id: ids[1],
        attempts: 1,
        outcome: sent,
    };
    s.journal_outcomes(t(2), &[journaled]).unwrap();
    let snap = tempfile::tempdir().unwrap();
    crate::backup_to(&s, &snap.path().join("b"), t(3)).unwrap();
    assert_eq!(
        counts(&s),
        (0, 2, 1, 0, 0),
        "the backup left the live store as it was"
    );

    let data = tempfile::tempdir().unwrap();
    crate::unlocked(|| crate::restore_from(&snap.path().join("b"), &data.path().join("d")))
        .unwrap();
    let r = crate::reopen(&data.path().join("d")).unwrap();
    assert_eq!(
        r.recover_outbox(t(4)).unwrap(),
        OutboxRecovery::default(),
        "the snapshot has m1's outcome itself"
    );
    assert!(matches!(
        r.outbox_message(ids[1]).unwrap().state,
        OutboxState::Sent { ref reply, at } if reply == "250 2.0.0 queued" && at == t(2)
    ));
    assert_eq!(
        r.outbox_message(ids[2]).unwrap().state,
        OutboxState::Queued,
        "only m2 goes out again"
    );
    assert_eq!(counts(&r), (1, 0, 2, 0, 0));
}

/// A journal opened again with frames in it (a restart, before its replay) goes on after them.
#[test]
fn a_reopened_journal_goes_on_after_its_frames() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = crate::reopen(dir.path()).unwrap();
        s.journal_outcomes(t(1), &[accepted(1), accepted(2)])
            .unwrap();
    }
    let s = crate::reopen(dir.path()).unwrap();
    s.journal_outcomes(t(2), &[accepted(3)]).unwrap();
    let frames =
        super::journal::decode_frames(&std::fs::read(dir.path().join("outbox.journal")).unwrap());
    let outcomes: Vec<_> = frames.into_iter().map(|(_, o)| o).collect();
    assert_eq!(
        outcomes,
        vec![vec![accepted(1), accepted(2)], vec![accepted(3)]]
    );
}

/// A sender's copies of its claimed messages record exactly what reading each record does:
/// states, attempts, due times, the due index and the counts, from `queued` and from `deferred`.
#[test]
fn outcomes_recorded_from_the_senders_copies_match_those_recorded_by_reading() {
    let outcome = |key: &str, round: u32| match key {
        "a" => SendOutcome::Sent {
            reply: "250 ok".into(),
        },
        "b" => SendOutcome::Deferred {
            retry_at: t(10 + 10 * round),
            reply: format!("451 later {round}"),
        },
        _ => SendOutcome::Failed {
            reply: "550 no".into(),
        },
    };
    let run = |held: bool| {
        let s = Store::temporary().unwrap();
        enqueued(&s, &[mail("a", t(1)), mail("b", t(2)), mail("c", t(3))]);
        // b is deferred every round: claimed from `queued` once, then from `deferred`.
        for round in 0..3u32 {
            let ended: Vec<_> = s
                .claim_due(t(4 + 10 * round), 10)
                .unwrap()
                .into_iter()
                .map(|(m, _)| {
                    let o = outcome(&m.key, round);
                    (m, o)
                })
                .collect();
            assert!(!ended.is_empty());
            let at = t(5 + 10 * round);
            if held {
                assert_eq!(s.record_held_outcomes(at, &ended).unwrap(), ended.len());
            } else {
                let by_id: Vec<_> = ended.into_iter().map(|(m, o)| (m.id, o)).collect();
                s.record_outcomes(at, &by_id).unwrap();
            }
        }
        // A copy whose claim has ended (a new sender took over) is not trusted: its record is read.
        let claimed = s.claim_due(t(40), 10).unwrap();
        assert_eq!(claimed.len(), 1, "b, deferred every time");
        s.recover_outbox(t(41)).unwrap();
        let (m, _) = claimed.into_iter().next().unwrap();
        let sent = SendOutcome::Sent {
            reply: "250 late".into(),
        };
        if held {
            s.record_held_outcomes(t(42), &[(m, sent)]).unwrap();
        } else {
            s.record_outcomes(t(42), &[(m.id, sent)]).unwrap();
        }
        let due: Vec<_> = s
            .claim_due(t(59), 10)
            .unwrap()
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        (s.outbox_list(None, 100).unwrap(), counts(&s), due)
    };
    let (read, held) = (run(false), run(true));
    assert_eq!(read.0.len(), 3);
    assert_eq!(read.1, (0, 0, 2, 0, 1), "a and b sent, c failed");
    assert!(read.2.is_empty());
    assert_eq!(read, held);
}
