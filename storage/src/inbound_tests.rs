use chrono::{Duration, Utc};

use super::*;
use crate::NewInbound;

fn failed(
    store: &Store,
    writer: &crate::InboundWriter,
    n: u32,
    body_len: usize,
    at: chrono::DateTime<Utc>,
) -> InboundId {
    let accepted = writer
        .accept(NewInbound {
            via: "smtp".into(),
            mail_from: "eve@evil.example".into(),
            rcpt_to: vec!["donebot@done.example".into()],
            message_id: Some(format!("m{n}@evil.example")),
            raw: format!(
                "Message-ID: <m{n}@evil.example>\r\n\r\n{}\r\n",
                "x".repeat(body_len)
            )
            .into_bytes(),
            received_at: at,
        })
        .wait()
        .expect("accepted");
    store
        .register_inbound(std::slice::from_ref(&accepted.entry))
        .expect("registered");
    let id = accepted.id();
    store
        .set_inbound_state(
            id,
            InboundState::Failed {
                at,
                error: "stranger".into(),
            },
        )
        .expect("failed");
    id
}

#[test]
fn failed_bodies_go_after_the_retention_time_and_beyond_the_cap_but_records_stay() {
    let store = Store::temporary().unwrap();
    let writer = store.start_inbound_writer().unwrap();
    let now = Utc::now();
    let old = failed(&store, &writer, 1, 100, now - Duration::days(20));
    let recent_a = failed(&store, &writer, 2, 1000, now - Duration::days(2));
    let recent_b = failed(&store, &writer, 3, 1000, now - Duration::days(1));
    let has_body = |id| store.t.inbound_bodies.contains_key(id_key(id)).unwrap();
    assert!(has_body(old) && has_body(recent_a) && has_body(recent_b));

    // 14 days' retention, no size pressure: only the old body goes.
    assert_eq!(
        store
            .prune_failed_bodies(now - Duration::days(14), u64::MAX)
            .unwrap(),
        1
    );
    assert!(!has_body(old) && has_body(recent_a) && has_body(recent_b));
    // Over the cap: the oldest remaining goes first, until the rest fits.
    assert_eq!(
        store
            .prune_failed_bodies(now - Duration::days(14), 1500)
            .unwrap(),
        1
    );
    assert!(!has_body(recent_a) && has_body(recent_b));
    // The records and their reasons stay.
    for id in [old, recent_a, recent_b] {
        assert!(matches!(
            store.inbound(id).unwrap().state,
            InboundState::Failed { ref error, .. } if error == "stranger"
        ));
    }
}

fn accept(writer: &crate::InboundWriter, mid: &str) -> crate::Accepted {
    writer
        .accept(NewInbound {
            via: "smtp".into(),
            mail_from: "ada@example.org".into(),
            rcpt_to: vec!["donebot@done.example".into()],
            message_id: Some(mid.into()),
            raw: format!("Message-ID: <{mid}>\r\n\r\nShipped it\r\n").into_bytes(),
            received_at: Utc::now(),
        })
        .wait()
        .expect("accepted")
}

#[test]
fn a_message_settled_unregistered_is_written_once_and_known_by_its_message_id() {
    let store = Store::temporary().unwrap();
    let writer = store.start_inbound_writer().unwrap();
    let first = accept(&writer, "one@example.org");
    // Not registered: sled knows nothing of it yet, but its body is in the spool.
    assert!(store.inbound(first.id()).unwrap_err().is_not_found());
    assert!(!store.all_inbound_settled(&[first.id()]).expect("settled?"));
    assert_eq!(store.received_body(&first.entry).unwrap(), first.raw);
    assert_eq!(
        store.inbound_by_message_id("one@example.org").unwrap(),
        None
    );

    let processed = InboundState::Processed {
        at: Utc::now(),
        outcome: "recorded 1 done".into(),
    };
    store
        .settle_received(&first.entry, processed.clone())
        .unwrap();
    let record = store.inbound(first.id()).unwrap();
    assert_eq!(record.state, processed);
    assert_eq!(record.rcpt_to, ["donebot@done.example"]);
    assert!(store.pending_inbound().unwrap().is_empty());
    assert!(store.all_inbound_settled(&[first.id()]).unwrap());
    assert_eq!(
        store.inbound_by_message_id("one@example.org").unwrap(),
        Some(first.id())
    );

    // A later delivery of it registers as its duplicate.
    let again = accept(&writer, "one@example.org");
    assert_eq!(
        store
            .register_inbound(std::slice::from_ref(&again.entry))
            .unwrap(),
        [Registered::Duplicate(first.id())]
    );
    // One that comes while the first is still being processed is marked by the processor.
    let third = accept(&writer, "one@example.org");
    store.register_duplicate(&third.entry, first.id()).unwrap();
    assert!(matches!(
        store.inbound(third.id()).unwrap().state,
        InboundState::Processed { ref outcome, .. }
            if *outcome == format!("duplicate of inbound message {}", first.id())
    ));

    // A failed one keeps its body in sled, for operators, after the spool has moved on.
    let bad = accept(&writer, "two@example.org");
    let failed = InboundState::Failed {
        at: Utc::now(),
        error: "not from a member".into(),
    };
    store.settle_received(&bad.entry, failed.clone()).unwrap();
    assert_eq!(store.inbound(bad.id()).unwrap().state, failed);
    assert!(
        store
            .t
            .inbound_bodies
            .contains_key(id_key(bad.id()))
            .unwrap()
    );
}
