//! The email loop with no SMTP relay configured: every outgoing message is an `.eml` file in
//! `DATA/outbox-eml/`, and mail comes in through `POST /inbound/email`. Shows the prompt API is
//! idempotent per day, that only a member's genuine reply becomes dones (unknown senders, forged
//! tokens and auto-replies are kept as evidence but never recorded), and that the email commands
//! and the one-click unsubscribe link change what is sent the next evening.

mod common;

use common::{
    DOMAIN, Donebot, Mail, NEW_YORK, eml_files, local, plain_mail_with as plain, reply_mail,
};
use donebot::events::Event;
use serde_json::json;
use storage::{InboundState, OutboxKind};

const ADA: &str = "ada@example.org";

/// The `.eml` files donebot wrote of one kind (X-Donebot-Kind).
fn written(d: &Donebot, kind: &str) -> Vec<Mail> {
    eml_files(&d.server.app.settings.eml_dir())
        .into_iter()
        .filter(|m| m.header("X-Donebot-Kind").as_deref() == Some(kind))
        .collect()
}

async fn wait_sent(d: &mut Donebot, want: OutboxKind) {
    d.wait_for("an email written", |e| match e {
        Event::EmailSent { kind, .. } if *kind == want => Some(()),
        _ => None,
    })
    .await;
}

async fn post_inbound(d: &Donebot, envelope_from: &str, envelope_to: &str, raw: Vec<u8>) -> u64 {
    d.post_inbound(envelope_from, envelope_to, raw).await
}

async fn outcome(d: &mut Donebot, id: u64) -> Result<String, String> {
    d.inbound_outcome(id).await
}

#[actix_rt::test]
async fn eml_files_inbound_webhook_commands_and_unsubscribe() {
    let dir = tempfile::tempdir().unwrap();
    // Wednesday 15 April 2026, noon in New York.
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-04-15", 12, 0)).await;
    assert_eq!(
        d.server.app.settings.eml_dir(),
        dir.path().join("outbox-eml")
    );
    let team = d.create_team("Engines", "America/New_York").await;
    let ada = d.add_member(team, "Ada Lovelace", ADA).await;
    wait_sent(&mut d, OutboxKind::Welcome).await;
    assert_eq!(written(&d, "welcome").len(), 1);

    // Today's prompt, now; asking again the same day sends nothing more.
    let path = format!("/api/v1/teams/{team}/prompts");
    assert_eq!(d.post(&path, None).await, (200, json!({ "sent": 1 })));
    assert_eq!(d.post(&path, None).await, (200, json!({ "sent": 0 })));
    wait_sent(&mut d, OutboxKind::Prompt).await;
    let prompts = written(&d, "prompt");
    assert_eq!(prompts.len(), 1);
    let prompt = &prompts[0];
    let day = "2026-04-15".parse().unwrap();
    let stored = d
        .server
        .app
        .store
        .prompt_for_day(ada, day)
        .unwrap()
        .unwrap();
    let token = d.server.app.signer.reply_token(stored.id, ada, day);
    let reply_to = format!("reply+{token}@{DOMAIN}");
    assert_eq!(
        prompt.header("Subject").as_deref(),
        Some("What did you get done today? (Engines, Wed Apr 15)")
    );
    assert_eq!(
        prompt.header("To").as_deref(),
        Some("\"Ada Lovelace\" <ada@example.org>")
    );
    assert_eq!(
        prompt.header("From").as_deref(),
        Some("donebot <donebot@done.example.com>")
    );
    assert_eq!(prompt.reply_to(), reply_to);
    // The Message-ID is random (a forged reply cannot thread onto a guessed one) and stored.
    let message_id = stored.deliveries[0].message_id.clone().expect("stored");
    assert_eq!(prompt.header("Message-ID"), Some(format!("<{message_id}>")));
    assert!(
        message_id.starts_with("prompt.") && message_id.len() > 30,
        "{message_id}"
    );
    assert_ne!(message_id, format!("prompt.{}@{DOMAIN}", stored.id));
    assert_eq!(
        prompt.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert_eq!(
        prompt.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let unsubscribe = prompt.unsubscribe_url();
    assert!(
        unsubscribe.starts_with(&d.url("/unsubscribe/")),
        "the link must reach this server: {unsubscribe}"
    );

    // Ada's reply through the webhook becomes dones of the prompt's day.
    let raw = reply_mail(
        "Ada Lovelace <ada@example.org>",
        &reply_to,
        "ada-1@mail.example.org",
        "- Fixed the flaky build #ci\nblocker: waiting on @ops for DNS",
        "Wed, 15 Apr 2026 18:30:00 -0400",
    );
    let id = post_inbound(&d, ADA, &reply_to, raw).await;
    assert_eq!(outcome(&mut d, id).await, Ok("recorded".into()));
    let texts = |dones: Vec<serde_json::Value>| -> Vec<(String, String)> {
        dones
            .iter()
            .map(|d| {
                (
                    d["text"].as_str().unwrap().to_string(),
                    d["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let recorded = vec![
        ("Fixed the flaky build #ci".to_string(), "done".to_string()),
        ("waiting on @ops for DNS".to_string(), "blocker".to_string()),
    ];
    assert_eq!(texts(d.dones(team, "2026-04-15").await), recorded);

    // A stranger: kept, failed, nothing recorded.
    let id = post_inbound(
        &d,
        "eve@evil.example",
        &format!("donebot@{DOMAIN}"),
        plain(
            "eve@evil.example",
            &format!("donebot@{DOMAIN}"),
            "eve-1@evil.example",
            "",
            "Took over the build server",
        ),
    )
    .await;
    let error = outcome(&mut d, id).await.unwrap_err();
    assert_eq!(error, "eve@evil.example is not a member of any team");

    // A forged token (a real prompt id with a made-up signature): refused, even from Ada.
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'a' { 'b' } else { 'a' });
    let forged_to = format!("reply+{forged}@{DOMAIN}");
    let id = post_inbound(
        &d,
        ADA,
        &forged_to,
        plain(ADA, &forged_to, "forged-1@evil.example", "", "Deleted prod"),
    )
    .await;
    let error = outcome(&mut d, id).await.unwrap_err();
    assert!(error.starts_with("invalid reply token"), "{error}");

    // An out-of-office answer to the prompt: ignored.
    let id = post_inbound(
        &d,
        ADA,
        &reply_to,
        plain(
            ADA,
            &reply_to,
            "ooo-1@mail.example.org",
            "Auto-Submitted: auto-replied\r\n",
            "I am out of the office until Monday.",
        ),
    )
    .await;
    let said = outcome(&mut d, id).await.unwrap();
    assert!(said.starts_with("ignored: automatic reply"), "{said}");

    let failed: Vec<(String, String)> = d
        .server
        .app
        .store
        .inbound_list(true, 10)
        .unwrap()
        .into_iter()
        .map(|r| match r.state {
            InboundState::Failed { error, .. } => (r.mail_from, error),
            other => panic!("not failed: {other:?}"),
        })
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0].0, ADA);
    assert_eq!(failed[1].0, "eve@evil.example");
    assert_eq!(texts(d.dones(team, "2026-04-15").await), recorded);

    // "pause until 2026-12-31": paused, and told so by email.
    let id = post_inbound(
        &d,
        ADA,
        &reply_to,
        reply_mail(
            "Ada Lovelace <ada@example.org>",
            &reply_to,
            "ada-pause@mail.example.org",
            "pause until 2026-12-31",
            "Wed, 15 Apr 2026 19:00:00 -0400",
        ),
    )
    .await;
    assert_eq!(
        outcome(&mut d, id).await,
        Ok(format!("member {ada} is now paused"))
    );
    let m = d.member(team, ada).await;
    assert_eq!(
        (&m["state"], &m["paused_until"]),
        (&json!("paused"), &json!("2026-12-31"))
    );
    wait_sent(&mut d, OutboxKind::Confirmation).await;
    let confirmations = written(&d, "confirmation");
    assert_eq!(confirmations.len(), 1);
    assert_eq!(
        confirmations[0].header("Subject").as_deref(),
        Some(
            "donebot: You will get no email from donebot (no daily question, no digest) through Thursday 31 December 2026 (2026-12-31)"
        )
    );
    assert_eq!(texts(d.dones(team, "2026-04-15").await), recorded);

    // Bob unsubscribes with the one-click link of his welcome email; Cy stays.
    let bob = d.add_member(team, "Bob", "bob@example.org").await;
    let cy = d.add_member(team, "Cy", "cy@example.org").await;
    wait_sent(&mut d, OutboxKind::Welcome).await;
    wait_sent(&mut d, OutboxKind::Welcome).await;
    let bobs_welcome = written(&d, "welcome")
        .into_iter()
        .find(|m| {
            m.header("To")
                .is_some_and(|t| t.contains("bob@example.org"))
        })
        .expect("Bob's welcome");
    // A link scanner fetching the URL changes nothing; the page's button (or the mail client's
    // RFC 8058 POST) does.
    let resp = d
        .http
        .get(bobs_welcome.unsubscribe_url())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(d.member(team, bob).await["state"], json!("active"));
    let resp = d
        .http
        .post(bobs_welcome.unsubscribe_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(d.member(team, bob).await["state"], json!("unsubscribed"));

    // Thursday 18:00: only Cy is asked.
    d.set_clock(local(NEW_YORK, "2026-04-16", 18, 0)).await;
    let prompted = d
        .wait_for("Thursday's prompt", |e| match e {
            Event::PromptQueued { member, .. } => Some(*member),
            _ => None,
        })
        .await;
    assert_eq!(prompted, cy);
    let thursday = "2026-04-16".parse().unwrap();
    let store = &d.server.app.store;
    assert_eq!(store.prompt_for_day(ada, thursday).unwrap(), None);
    assert_eq!(store.prompt_for_day(bob, thursday).unwrap(), None);
    wait_sent(&mut d, OutboxKind::Prompt).await;
    let prompts = written(&d, "prompt");
    assert_eq!(prompts.len(), 2);
    assert!(
        prompts
            .iter()
            .all(|m| !m.header("To").unwrap().contains("bob@"))
    );
    d.stop().await;
}
