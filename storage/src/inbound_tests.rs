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
