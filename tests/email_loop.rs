//! The email loop end to end, over real SMTP both ways: a team and a member are created through the
//! API (the welcome email reaches a real SMTP server, mailin-embedded); the manual clock reaches
//! 18:00 in the member's zone and the prompt arrives; a reply sent with lettre to donebot's own SMTP
//! listener becomes dones of the prompt's day; the next workday at 09:00 the digest lists them.

mod common;

use common::{Donebot, NEW_YORK, Sink, local, reply_mail, smtp_send};
use donebot::events::Event;
use serde_json::json;
use storage::InboundState;

const ADA: &str = "ada@example.org";

/// What Ada types above her signature and the quoted prompt.
const TYPED: &str = "- Shipped the billing export #billing\n* Reviewed @bob's PR\ngoal: release 1.2 tomorrow #release";

/// Sends Ada's reply to `reply_to` over SMTP and waits until it is recorded.
async fn reply(d: &mut Donebot, reply_to: &str, message_id: &str) -> Vec<u64> {
    let raw = reply_mail(
        "Ada Lovelace <ada@example.org>",
        reply_to,
        message_id,
        TYPED,
        "Wed, 15 Apr 2026 18:05:00 -0400",
    );
    assert_eq!(smtp_send(d.smtp_port(), ADA, reply_to, &raw).await, Ok(250));
    d.wait_for("the reply's dones", |e| match e {
        Event::DonesRecorded { dones, .. } => Some(dones.clone()),
        _ => None,
    })
    .await
}

fn expected_dones(member: u64, date: &str) -> serde_json::Value {
    json!([
        { "member_id": member, "date": date, "text": "Shipped the billing export #billing", "kind": "done", "tags": ["billing"], "source": "email" },
        { "member_id": member, "date": date, "text": "Reviewed @bob's PR", "kind": "done", "tags": [], "source": "email" },
        { "member_id": member, "date": date, "text": "release 1.2 tomorrow #release", "kind": "goal", "tags": ["release"], "source": "email" },
    ])
}

/// The fields the test pins down (ids and times are the server's).
fn comparable(dones: &[serde_json::Value]) -> serde_json::Value {
    dones
        .iter()
        .map(|d| {
            json!({
                "member_id": d["member_id"], "date": d["date"], "text": d["text"],
                "kind": d["kind"], "tags": d["tags"], "source": d["source"],
            })
        })
        .collect()
}

const DIGEST_LINES: &str = "Ada Lovelace\n  - Shipped the billing export #billing\n  - Reviewed @bob's PR\n  - Goal: release 1.2 tomorrow #release\n";

#[actix_rt::test]
async fn prompt_reply_and_digest_over_real_smtp() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Sink::start();
    // Wednesday 15 April 2026, noon in New York.
    let mut d = Donebot::start(
        dir.path(),
        Some(sink.port),
        local(NEW_YORK, "2026-04-15", 12, 0),
    )
    .await;
    let team = d.create_team("Engines", "America/New_York").await;
    let ada = d.add_member(team, "Ada Lovelace", ADA).await;

    let welcome = sink.next_of("welcome").await;
    assert_eq!(welcome.envelope_to, [ADA]);
    assert_eq!(
        welcome.header("Subject").as_deref(),
        Some("Welcome to Engines on donebot")
    );
    let text = welcome.text();
    for says in [
        "Every workday at 18:00 donebot will email you one question: \"What did you get done today?\"",
        "Just reply with a line for each thing you got done.",
        "You never need to visit a website",
        "\"pause\" (or \"pause until 2026-12-31\")",
        "\"unsubscribe\" to stop them for good",
        "Pause these emails: http://",
        "Unsubscribe from all donebot email: http://",
    ] {
        assert!(
            text.contains(says),
            "the welcome email lacks {says:?}:\n{text}"
        );
    }

    // 17:59 local: the tick is handled and nothing is due yet.
    d.set_clock(local(NEW_YORK, "2026-04-15", 17, 59)).await;
    let day = "2026-04-15".parse().unwrap();
    assert_eq!(d.server.app.store.prompt_for_day(ada, day).unwrap(), None);
    sink.assert_empty();

    // 18:00 local: the prompt.
    d.set_clock(local(NEW_YORK, "2026-04-15", 18, 0)).await;
    let prompt_id = d
        .wait_for("the prompt", |e| match e {
            Event::PromptQueued { member, prompt, .. } if *member == ada => Some(*prompt),
            _ => None,
        })
        .await;
    let prompt = sink.next_of("prompt").await;
    assert_eq!(prompt.envelope_to, [ADA]);
    assert_eq!(
        prompt.header("Subject").as_deref(),
        Some("What did you get done today? (Engines, Wed Apr 15)")
    );
    let token = d.server.app.signer.reply_token(prompt_id, ada, day);
    let reply_to = format!("reply+{token}@{}", common::DOMAIN);
    assert_eq!(prompt.reply_to(), reply_to);
    let base = format!("http://{}", d.server.web_addr);
    assert!(
        prompt
            .header("List-Unsubscribe")
            .unwrap()
            .starts_with(&format!("<{base}/unsubscribe/")),
        "{:?}",
        prompt.header("List-Unsubscribe")
    );
    assert_eq!(
        prompt.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(
        prompt.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert!(prompt.text().starts_with("What did you get done today?"));

    // The reply, with a signature and the quoted prompt: only the typed lines become dones.
    let ids = reply(&mut d, &reply_to, "ada-reply-1@mail.example.org").await;
    assert_eq!(ids.len(), 3);
    let dones = d.dones(team, "2026-04-15").await;
    assert_eq!(comparable(&dones), expected_dones(ada, "2026-04-15"));

    // The same message again (a retrying MTA): acknowledged, not recorded twice.
    let raw = reply_mail(
        "Ada Lovelace <ada@example.org>",
        &reply_to,
        "ada-reply-1@mail.example.org",
        TYPED,
        "Wed, 15 Apr 2026 18:05:00 -0400",
    );
    assert_eq!(
        smtp_send(d.smtp_port(), ADA, &reply_to, &raw).await,
        Ok(250)
    );
    d.wait_for("the second delivery to be recognised", |e| match e {
        Event::InboundProcessed { outcome, .. } if outcome == "duplicate" => Some(()),
        _ => None,
    })
    .await;
    // Both deliveries are in the log; the second one is marked as the first one's duplicate.
    let log = d.server.app.store.inbound_list(false, 10).unwrap();
    assert_eq!(log.len(), 2);
    assert!(
        matches!(&log[0].state, InboundState::Processed { outcome, .. } if *outcome == format!("duplicate of inbound message {}", log[1].id)),
        "{:?}",
        log[0].state
    );
    let dones = d.dones(team, "2026-04-15").await;
    assert_eq!(comparable(&dones), expected_dones(ada, "2026-04-15"));
    // Operators see the inbound log: nothing left to process, the spool holding what came in.
    let metrics = d.metrics().await;
    assert!(metrics.contains("donebot_inbound_pending 0\n"), "{metrics}");
    assert!(
        metrics.contains("donebot_inbound_spool_segments 1\n"),
        "{metrics}"
    );

    // donebot's listener is not a relay: mail for other domains is refused at RCPT.
    let refused = smtp_send(d.smtp_port(), ADA, "bob@example.org", &raw).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("550")),
        "{refused:?}"
    );

    // Thursday 09:00 local: the digest of Wednesday.
    d.set_clock(local(NEW_YORK, "2026-04-16", 9, 0)).await;
    let digest = sink.next_of("digest").await;
    assert_eq!(digest.envelope_to, [ADA]);
    assert_eq!(
        digest.header("Subject").as_deref(),
        Some("Engines digest for Wed Apr 15")
    );
    let text = digest.text().replace("\r\n", "\n");
    assert!(
        text.starts_with(&format!(
            "What Engines got done on Wednesday, April 15\n\n{DIGEST_LINES}"
        )),
        "{text}"
    );
    sink.assert_empty();

    // One more message, delivered four times at once (an MTA retrying over parallel
    // connections): every delivery is acknowledged, the message is recorded once, and each other
    // delivery is marked a duplicate, whether or not the first was settled when it came.
    let raw = reply_mail(
        "Ada Lovelace <ada@example.org>",
        &reply_to,
        "ada-reply-2@mail.example.org",
        "Fixed the flaky digest test",
        "Wed, 15 Apr 2026 19:05:00 -0400",
    );
    let send = || smtp_send(d.smtp_port(), ADA, &reply_to, &raw);
    let codes = tokio::join!(send(), send(), send(), send());
    assert_eq!(codes, (Ok(250), Ok(250), Ok(250), Ok(250)));
    let (mut recorded, mut duplicates) = (Vec::new(), 0);
    while recorded.len() + duplicates < 4 {
        match d
            .wait_for("the four deliveries to be settled", |e| match e {
                Event::DonesRecorded { dones, .. } => Some(Some(dones.clone())),
                Event::InboundProcessed { outcome, .. } if outcome == "duplicate" => Some(None),
                _ => None,
            })
            .await
        {
            Some(dones) => recorded.push(dones),
            None => duplicates += 1,
        }
    }
    assert_eq!((recorded.len(), duplicates), (1, 3), "{recorded:?}");
    assert_eq!(recorded[0].len(), 1);
    assert_eq!(d.dones(team, "2026-04-15").await.len(), 4);
    let log = d.server.app.store.inbound_list(false, 10).unwrap();
    assert_eq!(log.len(), 6);
    assert!(
        log.iter()
            .all(|r| matches!(r.state, InboundState::Processed { .. })),
        "{log:?}"
    );
    let metrics = d.metrics().await;
    assert!(metrics.contains("donebot_inbound_pending 0\n"), "{metrics}");
    sink.assert_empty();
    d.stop().await;
}

#[actix_rt::test]
async fn mondays_digest_covers_friday() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Sink::start();
    // Friday 17 April 2026, noon in New York.
    let mut d = Donebot::start(
        dir.path(),
        Some(sink.port),
        local(NEW_YORK, "2026-04-17", 12, 0),
    )
    .await;
    let team = d.create_team("Engines", "America/New_York").await;
    let ada = d.add_member(team, "Ada Lovelace", ADA).await;
    sink.next_of("welcome").await;

    d.set_clock(local(NEW_YORK, "2026-04-17", 18, 0)).await;
    let prompt = sink.next_of("prompt").await;
    assert_eq!(
        prompt.header("Subject").as_deref(),
        Some("What did you get done today? (Engines, Fri Apr 17)")
    );
    reply(&mut d, &prompt.reply_to(), "ada-friday@mail.example.org").await;
    let dones = d.dones(team, "2026-04-17").await;
    assert_eq!(comparable(&dones), expected_dones(ada, "2026-04-17"));

    // The weekend passes without a prompt; Monday 09:00 brings the digest of Friday.
    d.set_clock(local(NEW_YORK, "2026-04-18", 18, 0)).await;
    d.set_clock(local(NEW_YORK, "2026-04-19", 18, 0)).await;
    d.set_clock(local(NEW_YORK, "2026-04-20", 9, 0)).await;
    let digest = sink.next_of("digest").await;
    assert_eq!(
        digest.header("Subject").as_deref(),
        Some("Engines digest for Fri Apr 17")
    );
    let text = digest.text().replace("\r\n", "\n");
    assert!(
        text.starts_with(&format!(
            "What Engines got done on Friday, April 17 – Sunday, April 19\n\n{DIGEST_LINES}"
        )),
        "{text}"
    );
    sink.assert_empty();
    d.stop().await;
}
