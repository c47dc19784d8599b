//! Nobody who can send mail acts as a member: a `From:` header proves nothing, threading onto a
//! prompt proves nothing, and a bounce counts only when it answers mail donebot sent.

mod common;

use common::{DOMAIN, Donebot, NEW_YORK, authenticated, eml_files, local, plain_mail_with};
use donebot::events::Event;
use serde_json::json;
use storage::OutboxKind;

const ADA: &str = "ada@example.org";
const BOB: &str = "bob@example.org";

async fn post(d: &Donebot, rcpt: &str, raw: Vec<u8>) -> u64 {
    d.post_inbound("", rcpt, raw).await
}

async fn outcome(d: &mut Donebot, id: u64) -> Result<String, String> {
    d.inbound_outcome(id).await
}

/// Sends today's prompts of `team`; the Message-ID of `member`'s.
async fn todays_prompt(d: &Donebot, team: u64, member: u64) -> String {
    let path = format!("/api/v1/teams/{team}/prompts");
    assert_eq!(d.post(&path, None).await.0, 200);
    let day = "2026-04-15".parse().unwrap();
    let prompt = d
        .server
        .app
        .store
        .prompt_for_day(member, day)
        .unwrap()
        .unwrap();
    prompt.deliveries[0].message_id.clone().unwrap()
}

async fn team_with_ada_and_bob(d: &Donebot) -> (u64, u64, u64) {
    let team = d.create_team("Engines", "America/New_York").await;
    let ada = d.add_member(team, "Ada", ADA).await;
    let bob = d.add_member(team, "Bob", BOB).await;
    (team, ada, bob)
}

fn mail(from: &str, to: &str, id: &str, headers: &str, body: &str) -> Vec<u8> {
    plain_mail_with(from, to, id, headers, body)
}

#[actix_rt::test]
async fn a_forged_from_without_a_token_is_refused_and_the_member_told_once_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-04-15", 12, 0)).await;
    let (team, ada, _) = team_with_ada_and_bob(&d).await;
    let team_address = format!("donebot@{DOMAIN}");

    let forged = mail(ADA, &team_address, "f1@evil.example", "", "Deleted prod");
    let id = post(&d, &team_address, forged).await;
    let error = outcome(&mut d, id).await.unwrap_err();
    assert!(
        error.starts_with("mail from ada@example.org without a reply token is not authenticated"),
        "{error}"
    );
    // "unsubscribe" from a forged From changes nothing either.
    let forged = mail(ADA, &team_address, "f2@evil.example", "", "unsubscribe");
    let id = post(&d, &team_address, forged).await;
    assert!(outcome(&mut d, id).await.is_err());
    assert_eq!(d.member(team, ada).await["state"], json!("active"));
    assert!(d.dones(team, "2026-04-15").await.is_empty());

    // Both stay in the failed log with the reason; Ada is told once (not twice) today.
    let failed = d.server.app.store.inbound_list(true, 10).unwrap();
    assert_eq!(failed.len(), 2);
    let told: Vec<_> = d
        .server
        .app
        .store
        .outbox_list(None, 100)
        .unwrap()
        .into_iter()
        .filter(|m| m.key.starts_with("refused:"))
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].envelope_to, [ADA]);
    // Sent already, or an event away (an earlier wait may have passed over its event).
    let store = d.server.app.store.clone();
    tokio::time::timeout(common::WAIT, async {
        while !matches!(
            store.outbox_message(told[0].id).unwrap().state,
            storage::OutboxState::Sent { .. }
        ) {
            let _ = d.events.recv().await;
        }
    })
    .await
    .expect("the notice written");
    let notice = eml_files(&d.server.app.settings.eml_dir())
        .into_iter()
        .find(|m| m.header("X-Donebot-Kind").as_deref() == Some("refused"))
        .expect("the notice");
    assert!(
        notice.text().contains("reply to your latest prompt email"),
        "{}",
        notice.text()
    );

    // A header from a server that is not ours does not authenticate; ours does.
    let other_mta = mail(
        ADA,
        &team_address,
        "f3@evil.example",
        "Authentication-Results: mx.evil.example; dkim=pass header.d=example.org\r\n",
        "Deleted prod",
    );
    let id = post(&d, &team_address, other_mta).await;
    assert!(outcome(&mut d, id).await.is_err());
    let genuine = authenticated(mail(ADA, &team_address, "a1@example.org", "", "Shipped"));
    let id = post(&d, &team_address, genuine).await;
    assert_eq!(outcome(&mut d, id).await, Ok("recorded".into()));
    d.stop().await;
}

#[actix_rt::test]
async fn threading_onto_a_prompt_does_not_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-04-15", 12, 0)).await;
    let (team, ada, _) = team_with_ada_and_bob(&d).await;
    let message_id = todays_prompt(&d, team, ada).await;

    let team_address = format!("donebot@{DOMAIN}");
    let threaded = mail(
        ADA,
        &team_address,
        "f4@evil.example",
        &format!("In-Reply-To: <{message_id}>\r\nReferences: <{message_id}>\r\n"),
        "Deleted prod",
    );
    let id = post(&d, &team_address, threaded).await;
    assert!(outcome(&mut d, id).await.is_err());
    assert!(d.dones(team, "2026-04-15").await.is_empty());
    d.stop().await;
}

/// A delivery status notification saying `failed` / `5.1.1` for `recipient`, returning the
/// headers of the message with `message_id`.
fn dsn(to: &str, recipient: &str, message_id: &str) -> Vec<u8> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "From: MAILER-DAEMON@mx.example.org\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.{n}@mx.example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{message_id}>\r\nSubject: hi\r\n\r\n--b--\r\n"
    )
    .into_bytes()
}

#[actix_rt::test]
async fn only_bounces_of_our_own_mail_mark_a_member() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-04-15", 12, 0)).await;
    let (team, ada, bob) = team_with_ada_and_bob(&d).await;
    d.wait_for("a welcome", |e| match e {
        Event::EmailSent { kind, .. } if *kind == OutboxKind::Welcome => Some(()),
        _ => None,
    })
    .await;
    // Every message to a member goes out with her VERP return path.
    let to_ada = d
        .server
        .app
        .store
        .outbox_list(None, 100)
        .unwrap()
        .into_iter()
        .find(|m| m.member_id == Some(ada))
        .expect("Ada's welcome");
    let verp = to_ada.envelope_from.clone();
    assert!(
        verp.starts_with("bounce+") && verp.ends_with(&format!("@{DOMAIN}")),
        "{verp}"
    );

    // A forged report to the team address, naming Ada: nobody is marked.
    let team_address = format!("donebot@{DOMAIN}");
    let id = post(&d, &team_address, dsn(&team_address, ADA, "made-up@x")).await;
    let said = outcome(&mut d, id).await.unwrap();
    assert!(said.starts_with("ignored: a bounce"), "{said}");
    // A forged VERP address (Ada's token with one letter changed): nobody.
    let mut forged = verp.clone();
    forged.replace_range(7..8, if &verp[7..8] == "a" { "b" } else { "a" });
    let id = post(&d, &forged, dsn(&forged, ADA, "made-up@x")).await;
    assert!(outcome(&mut d, id).await.unwrap().starts_with("ignored"));
    // Ada's own bounce address, naming Bob: Bob is not marked (the report is about Ada's mail).
    let id = post(&d, &verp, dsn(&verp, BOB, "made-up@x")).await;
    assert!(
        outcome(&mut d, id)
            .await
            .unwrap()
            .contains("marked bouncing: []")
    );
    for m in [ada, bob] {
        assert_eq!(d.member(team, m).await["state"], json!("active"));
    }

    // Ada's bounce address, naming Ada: marked.
    let id = post(&d, &verp, dsn(&verp, ADA, "made-up@x")).await;
    assert_eq!(
        outcome(&mut d, id).await,
        Ok(format!(
            "bounce: 1 hard-failed recipient(s), members marked bouncing: [{ada}]"
        ))
    );
    assert_eq!(d.member(team, ada).await["state"], json!("bouncing"));
    assert_eq!(d.member(team, bob).await["state"], json!("active"));
    d.stop().await;
}

#[actix_rt::test]
async fn a_bounce_about_a_prompt_donebot_sent_marks_its_member() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-04-15", 12, 0)).await;
    let (team, ada, bob) = team_with_ada_and_bob(&d).await;
    let message_id = todays_prompt(&d, team, bob).await;
    // Sent back to the From address (some MTAs ignore the return path), about Bob's prompt.
    let team_address = format!("donebot@{DOMAIN}");
    let id = post(&d, &team_address, dsn(&team_address, BOB, &message_id)).await;
    assert_eq!(
        outcome(&mut d, id).await,
        Ok(format!(
            "bounce: 1 hard-failed recipient(s), members marked bouncing: [{bob}]"
        ))
    );
    assert_eq!(d.member(team, bob).await["state"], json!("bouncing"));
    assert_eq!(d.member(team, ada).await["state"], json!("active"));
    d.stop().await;
}

#[actix_rt::test]
async fn a_dkim_signed_done_to_the_team_address_counts() {
    use mail_auth::common::crypto::Ed25519Key;
    use mail_auth::common::headers::HeaderWriter;
    use mail_auth::dkim::DkimSigner;

    let key = Ed25519Key::from_pkcs8_der(&Ed25519Key::generate_pkcs8().unwrap()).unwrap();
    let record = format!(
        "v=DKIM1; k=ed25519; p={}",
        data_encoding::BASE64.encode(&key.public_key())
    );
    // The key is served through the resolver seam: no DNS.
    let keys = std::sync::Arc::new(std::collections::HashMap::from([(
        "s1._domainkey.example.org.".to_string(),
        record,
    )]));
    let dir = tempfile::tempdir().unwrap();
    let mut d = Donebot::start_with(
        dir.path(),
        None,
        local(NEW_YORK, "2026-04-15", 12, 0),
        |s| s.dkim_keys = bots::email::auth::KeySource::Static(keys.clone()),
    )
    .await;
    let (team, _, _) = team_with_ada_and_bob(&d).await;
    let team_address = format!("donebot@{DOMAIN}");
    let raw = String::from_utf8(mail(
        ADA,
        &team_address,
        "s1@example.org",
        "",
        "Shipped the DKIM check",
    ))
    .unwrap();
    let signature = DkimSigner::from_key(key)
        .domain("example.org")
        .selector("s1")
        .headers(["From", "To", "Subject"])
        .sign(raw.as_bytes())
        .unwrap();
    let signed = format!("{}{raw}", signature.to_header());

    // The body changed after signing (and another, unsigned, Message-ID): refused.
    let tampered = signed
        .replace("Shipped the DKIM check", "Deleted prod")
        .replace("<s1@example.org>", "<s2@example.org>");
    let id = post(&d, &team_address, tampered.into_bytes()).await;
    let error = outcome(&mut d, id).await.unwrap_err();
    assert!(
        error.contains("no valid DKIM signature aligned with example.org"),
        "{error}"
    );

    let id = post(&d, &team_address, signed.into_bytes()).await;
    assert_eq!(outcome(&mut d, id).await, Ok("recorded".into()));
    let dones = d.dones(team, "2026-04-15").await;
    assert_eq!(dones.len(), 1, "{dones:?}");
    assert_eq!(dones[0]["text"], json!("Shipped the DKIM check"));
    d.stop().await;
}
