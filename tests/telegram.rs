//! Telegram end to end: the real teloxide client inside donebot against the fake Bot API on
//! 127.0.0.1, with a manual clock. Link → prompt at 18:00 local → reply → dones in the API →
//! digest at 09:00 in the group chat; redelivered updates are one set of dones; edits replace;
//! strangers get an explanation, never dones; a webhook with a wrong secret is refused.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bots::telegram::fake::{
    FAKE_BOT_USERNAME, FAKE_TOKEN, FakeTelegram, FakeUser, IncomingMessage,
};
use bots::telegram::{TelegramConfig, TelegramMode, TelegramTuning};
use common::{Donebot, NEW_YORK, WAIT, local};
use donebot::clock::ManualClock;
use donebot::events::Event;
use donebot::server::Server;

fn tuning() -> TelegramTuning {
    TelegramTuning {
        backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        poll_timeout: Duration::from_secs(5),
        max_sends_per_second: None,
        ..TelegramTuning::default()
    }
}

async fn start(
    data: &std::path::Path,
    fake: &FakeTelegram,
    mode: TelegramMode,
    now: chrono::DateTime<chrono::Utc>,
) -> Donebot {
    start_tuned(data, fake, mode, tuning(), now).await
}

async fn start_tuned(
    data: &std::path::Path,
    fake: &FakeTelegram,
    mode: TelegramMode,
    tuning: TelegramTuning,
    now: chrono::DateTime<chrono::Utc>,
) -> Donebot {
    let mut settings = common::settings(data, None);
    settings.channels = vec![Arc::new(TelegramConfig {
        token: FAKE_TOKEN.into(),
        api_url: Some(fake.api_url().into()),
        mode,
        tuning,
    })];
    let clock = ManualClock::new(now);
    let server = Server::start(settings, Arc::new(clock.clone()))
        .await
        .expect("donebot starts");
    let events = server.app.events.subscribe();
    let token = server
        .first_admin_token
        .clone()
        .expect("a fresh data dir has a first token");
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    Donebot {
        server,
        clock,
        events,
        http,
        token,
    }
}

/// Waits until the fake has `n` sent messages and returns the last.
async fn nth_sent(fake: &FakeTelegram, n: usize) -> bots::telegram::fake::SentMessage {
    match tokio::time::timeout(WAIT, fake.wait_sent(n)).await {
        Ok(mut sent) => sent.pop().expect("n >= 1"),
        Err(_) => panic!(
            "timed out waiting for message {n}; sent so far: {:#?}",
            fake.sent()
        ),
    }
}

/// Waits until the fake has sent a message that `want` picks.
async fn sent_where(
    fake: &FakeTelegram,
    want: impl Fn(&bots::telegram::fake::SentMessage) -> bool,
) -> bots::telegram::fake::SentMessage {
    tokio::time::timeout(WAIT, async {
        loop {
            let sent = fake.sent();
            if let Some(m) = sent.iter().find(|m| want(m)) {
                return m.clone();
            }
            fake.wait_sent(sent.len() + 1).await;
        }
    })
    .await
    .expect("the message was sent in time")
}

#[actix_rt::test]
async fn link_prompt_reply_digest_in_a_group() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_test_writer()
        .try_init();
    let fake = FakeTelegram::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Monday 2026-03-09, 12:00 in New York.
    let mut d = start(
        dir.path(),
        &fake,
        TelegramMode::Polling,
        local(NEW_YORK, "2026-03-09", 12, 0),
    )
    .await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    let ada_tg = FakeUser::new(5551, "Ada");

    // Link: a one-time code as a deep link, opened in the private chat.
    let (status, v) = d
        .post(
            &format!("/api/v1/teams/{team}/members/{ada}/link-codes"),
            Some(serde_json::json!({"channel": "telegram"})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let code = v["code"].as_str().unwrap().to_string();
    assert_eq!(
        v["link"],
        format!("https://t.me/{FAKE_BOT_USERNAME}?start={code}")
    );
    fake.inject_message(IncomingMessage::private(
        ada_tg.clone(),
        &format!("/start {code}"),
    ));
    let welcome = nth_sent(&fake, 1).await;
    assert_eq!(welcome.chat_id, "5551");
    assert!(welcome.text.contains("linked"), "{}", welcome.text);
    // The code is single-use: a second try is refused with an explanation.
    fake.inject_message(IncomingMessage::private(
        FakeUser::new(777, "Eve"),
        &format!("/start {code}"),
    ));
    assert!(nth_sent(&fake, 2).await.text.contains("not found"));
    // Ada also wants the morning digest in her private chat.
    fake.inject_message(IncomingMessage::private(ada_tg.clone(), "/digest here"));
    assert!(nth_sent(&fake, 3).await.text.contains("digest here too"));
    // A stranger's plain message gets the explanation and records nothing.
    fake.inject_message(IncomingMessage::private(
        FakeUser::new(778, "Mallory"),
        "shipped everything",
    ));
    assert!(
        nth_sent(&fake, 4)
            .await
            .text
            .contains("don't know this account")
    );

    // 18:00 in New York: the prompt arrives as a private message asking for a reply.
    d.set_clock(local(NEW_YORK, "2026-03-09", 18, 0)).await;
    let prompt = nth_sent(&fake, 5).await;
    assert_eq!(prompt.chat_id, "5551");
    assert!(
        prompt.text.starts_with("What did you get done today?"),
        "{}",
        prompt.text
    );
    assert_eq!(
        prompt
            .reply_markup
            .as_ref()
            .and_then(|m| m["force_reply"].as_bool()),
        Some(true)
    );

    // The reply to the prompt becomes dones of the prompt's day.
    let reply = fake.inject_message(
        IncomingMessage::private(
            ada_tg.clone(),
            "- shipped <the> release & #launch\ngoal: write docs",
        )
        .replying_to(prompt.message_id),
    );
    d.wait_for("dones from telegram", |e| {
        matches!(e, Event::DonesRecorded { member, .. } if *member == ada).then_some(())
    })
    .await;
    let dones = d.dones(team, "2026-03-09").await;
    let texts: Vec<&str> = dones.iter().map(|d| d["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["shipped <the> release & #launch", "write docs"]);
    assert_eq!(dones[0]["source"], "telegram");
    assert_eq!(dones[0]["tags"], serde_json::json!(["launch"]));
    assert_eq!(dones[1]["kind"], "goal");
    let ack = nth_sent(&fake, 6).await;
    assert!(ack.text.contains("2 dones"), "{}", ack.text);

    // The same update delivered again: confirmed, but one set of dones.
    let again = fake.inject_update(reply.update.clone());
    tokio::time::timeout(WAIT, fake.wait_confirmed(again + 1))
        .await
        .expect("redelivery confirmed");
    assert_eq!(d.dones(team, "2026-03-09").await.len(), 2);

    // An edit replaces the message's dones.
    fake.inject_edit(
        reply.message_id,
        IncomingMessage::private(ada_tg.clone(), "shipped the release"),
    );
    d.wait_for("edited dones", |e| {
        matches!(e, Event::DonesRecorded { member, .. } if *member == ada).then_some(())
    })
    .await;
    let dones = d.dones(team, "2026-03-09").await;
    assert_eq!(
        dones
            .iter()
            .map(|d| d["text"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["shipped the release"]
    );

    // The group gets the digest after an admin's /connect code.
    let (status, v) = d
        .post(
            &format!("/api/v1/teams/{team}/connect-codes"),
            Some(serde_json::json!({"channel": "telegram"})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let connect = v["command"].as_str().unwrap().to_string();
    fake.inject_message(IncomingMessage::in_group(
        -100_123,
        ada_tg.clone(),
        &connect,
    ));
    // Other answers (the edit's acknowledgement) may still be on their way: pick the group's.
    sent_where(&fake, |m| {
        m.chat_id == "-100123" && m.text.contains("morning digest")
    })
    .await;
    // More work, with markup that must be escaped in the digest.
    fake.inject_message(IncomingMessage::private(
        ada_tg.clone(),
        "/done fixed <script> & stuff",
    ));
    d.wait_for("a /done", |e| {
        matches!(e, Event::DonesRecorded { .. }).then_some(())
    })
    .await;

    d.set_clock(local(NEW_YORK, "2026-03-10", 9, 0)).await;
    let digest = tokio::time::timeout(WAIT, async {
        loop {
            let digest = fake
                .sent()
                .into_iter()
                .find(|m| m.chat_id == "-100123" && m.text.contains("got done"));
            if let Some(m) = digest {
                return m;
            }
            fake.wait_sent(fake.sent().len() + 1).await;
        }
    })
    .await
    .expect("the digest reaches the group");
    assert!(digest.text.contains("Ada"), "{}", digest.text);
    assert!(
        digest.text.contains("shipped the release"),
        "{}",
        digest.text
    );
    assert!(
        digest.text.contains("fixed &lt;script&gt; &amp; stuff"),
        "{}",
        digest.text
    );
    assert!(!digest.text.contains("<script>"));
    assert_eq!(digest.parse_mode.as_deref(), Some("HTML"));
    let private = sent_where(&fake, |m| {
        m.chat_id == "5551" && m.text.contains("What Core got done")
    })
    .await;
    assert!(
        private.text.contains("shipped the release"),
        "{}",
        private.text
    );

    // Sent on demand through the API: once per day and destination, the group included.
    let (status, v) = d
        .post(
            &format!("/api/v1/teams/{team}/digests"),
            Some(serde_json::json!({"date": "2026-03-09"})),
        )
        .await;
    assert_eq!(
        (status, v["sent"].as_u64()),
        (200, Some(0)),
        "Monday's digest went out already: {v}"
    );
    let (status, v) = d
        .post(
            &format!("/api/v1/teams/{team}/digests"),
            Some(serde_json::json!({"date": "2026-03-10"})),
        )
        .await;
    assert_eq!(
        (status, v["sent"].as_u64()),
        (200, Some(2)),
        "Ada's email and the group: {v}"
    );
    let group = sent_where(&fake, |m| {
        m.chat_id == "-100123" && m.text.contains("Tuesday, March 10")
    })
    .await;
    assert_eq!(group.chat_id, "-100123");
    assert!(group.text.contains("got done"), "{}", group.text);
    d.stop().await;
}

#[actix_rt::test]
async fn webhook_with_a_wrong_secret_records_nothing() {
    let fake = FakeTelegram::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mode = TelegramMode::Webhook {
        url: "http://127.0.0.1:9/telegram/webhook".into(),
        secret: "s3cret_token".into(),
    };
    let mut d = start(
        dir.path(),
        &fake,
        mode,
        local(NEW_YORK, "2026-03-09", 12, 0),
    )
    .await;
    let hook = tokio::time::timeout(WAIT, fake.wait_webhook())
        .await
        .expect("setWebhook called");
    assert_eq!(hook.secret_token.as_deref(), Some("s3cret_token"));
    let team = d.create_team("Core", "America/New_York").await;
    d.add_member(team, "Ada", "ada@example.com").await;
    // The welcome email carries a one-time code for Telegram: the member needs nothing else.
    d.wait_for("the welcome email", |e| {
        matches!(
            e,
            Event::EmailSent {
                kind: storage::OutboxKind::Welcome,
                ..
            }
        )
        .then_some(())
    })
    .await;
    let welcome = common::eml_files(&dir.path().join("outbox-eml"))
        .pop()
        .expect("the welcome .eml")
        .text();
    let code = welcome
        .split("/start ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a /start code in the welcome email")
        .to_string();
    let ada_tg = FakeUser::new(5551, "Ada");

    let post = |secret: Option<&'static str>, body: Vec<u8>| {
        let mut req = d
            .http
            .post(d.url("/telegram/webhook"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = secret {
            req = req.header(bots::telegram::SECRET_HEADER, s);
        }
        req.send()
    };
    let link = fake.inject_message(IncomingMessage::private(
        ada_tg.clone(),
        &format!("/start {code}"),
    ));
    assert_eq!(
        post(Some("wrong"), link.body()).await.unwrap().status(),
        401
    );
    assert_eq!(post(None, link.body()).await.unwrap().status(), 401);
    assert_eq!(
        post(Some("s3cret_token"), link.body())
            .await
            .unwrap()
            .status(),
        200
    );

    let reply = fake.inject_message(IncomingMessage::private(ada_tg, "shipped it"));
    assert_eq!(
        post(Some("nope"), reply.body()).await.unwrap().status(),
        401
    );
    assert!(
        d.dones(team, "2026-03-09").await.is_empty(),
        "a refused webhook records nothing"
    );
    assert_eq!(
        post(Some("s3cret_token"), reply.body())
            .await
            .unwrap()
            .status(),
        200
    );
    d.wait_for("dones", |e| {
        matches!(e, Event::DonesRecorded { .. }).then_some(())
    })
    .await;
    assert_eq!(d.dones(team, "2026-03-09").await.len(), 1);
    d.stop().await;
}

/// Links Ada's Telegram account (private chat 5551) and waits for the bot's answer.
async fn link_ada(d: &Donebot, fake: &FakeTelegram, team: u64, ada: u64) -> FakeUser {
    let (status, v) = d
        .post(
            &format!("/api/v1/teams/{team}/members/{ada}/link-codes"),
            Some(serde_json::json!({"channel": "telegram"})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let code = v["code"].as_str().unwrap().to_string();
    let ada_tg = FakeUser::new(5551, "Ada");
    fake.inject_message(IncomingMessage::private(
        ada_tg.clone(),
        &format!("/start {code}"),
    ));
    sent_where(fake, |m| m.chat_id == "5551" && m.text.contains("linked")).await;
    ada_tg
}

/// The outbox messages of `team` for its chat on telegram.
fn chat_messages(d: &Donebot) -> Vec<storage::OutboxMessage> {
    d.server
        .app
        .store
        .outbox_list(None, 1000)
        .unwrap()
        .into_iter()
        .filter(|m| m.channel == storage::Channel::Telegram)
        .collect()
}

#[actix_rt::test]
async fn a_429_defers_the_prompt_until_retry_after_then_it_is_sent_once() {
    let fake = FakeTelegram::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut quick = tuning();
    // Any flood wait goes back to the outbox, which keeps time with the manual clock.
    quick.rate_limit_patience = Duration::ZERO;
    let mut d = start_tuned(
        dir.path(),
        &fake,
        TelegramMode::Polling,
        quick,
        local(NEW_YORK, "2026-03-09", 12, 0),
    )
    .await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    link_ada(&d, &fake, team, ada).await;

    fake.fail_next(
        "sendMessage",
        1,
        bots::telegram::fake::Fault::RetryAfter(30),
    );
    let at = local(NEW_YORK, "2026-03-09", 18, 0);
    d.set_clock(at).await;
    d.wait_for("the prompt deferred", |e| {
        matches!(e, Event::ChatDeferred { reply, .. } if reply.contains("retry after 30"))
            .then_some(())
    })
    .await;
    let prompt = chat_messages(&d)
        .into_iter()
        .find(|m| m.kind == storage::OutboxKind::Prompt)
        .expect("the prompt is in the outbox");
    assert!(
        matches!(prompt.state, storage::OutboxState::Deferred { .. }),
        "{prompt:?}"
    );
    assert_eq!(
        prompt.due_at,
        at + chrono::Duration::seconds(30),
        "retry_after honoured"
    );

    // Not yet: 29 s later the message is still owed.
    d.set_clock(at + chrono::Duration::seconds(29)).await;
    assert!(
        !fake
            .sent()
            .iter()
            .any(|m| m.text.starts_with("What did you get done"))
    );
    d.set_clock(at + chrono::Duration::seconds(30)).await;
    let sent = sent_where(&fake, |m| m.text.starts_with("What did you get done")).await;
    assert_eq!(sent.chat_id, "5551");
    d.wait_for("the prompt sent", |e| {
        matches!(
            e,
            Event::ChatSent {
                kind: storage::OutboxKind::Prompt,
                ..
            }
        )
        .then_some(())
    })
    .await;
    let prompts = fake
        .sent()
        .into_iter()
        .filter(|m| m.text.starts_with("What did you get done"))
        .count();
    assert_eq!(prompts, 1);
    assert!(
        d.metrics()
            .await
            .contains("donebot_outbox_sends_total{channel=\"telegram\",outcome=\"deferred\"} 1")
    );
    d.stop().await;
}

#[actix_rt::test]
async fn a_group_upgraded_to_a_supergroup_gets_the_digest_at_its_new_id() {
    let fake = FakeTelegram::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = start(
        dir.path(),
        &fake,
        TelegramMode::Polling,
        local(NEW_YORK, "2026-03-09", 12, 0),
    )
    .await;
    let team = d.create_team("Core", "America/New_York").await;
    d.add_member(team, "Ada", "ada@example.com").await;
    let (status, v) = d
        .patch(
            &format!("/api/v1/teams/{team}"),
            serde_json::json!({"telegram_chat_id": -4_001}),
        )
        .await;
    assert_eq!(
        (status, v["telegram_chat_id"].as_i64()),
        (200, Some(-4_001)),
        "{v}"
    );
    fake.migrate(-4_001, -1_004_001);

    d.set_clock(local(NEW_YORK, "2026-03-10", 9, 0)).await;
    let digest = sent_where(&fake, |m| m.text.contains("What Core got done")).await;
    assert_eq!(digest.chat_id, "-1004001");
    let stored = d.server.app.store.team(team).unwrap();
    assert_eq!(
        stored.digest_to.chat(storage::Channel::Telegram),
        Some("-1004001"),
        "the destination follows the group"
    );
    d.stop().await;
}

#[actix_rt::test]
async fn with_pacing_on_telegrams_limits_are_never_hit() {
    let fake = FakeTelegram::start().await.unwrap();
    fake.enforce_limits(true);
    let dir = tempfile::tempdir().unwrap();
    let mut paced = tuning();
    paced.max_sends_per_second = Some(30);
    let d = start_tuned(
        dir.path(),
        &fake,
        TelegramMode::Polling,
        paced,
        local(NEW_YORK, "2026-03-09", 12, 0),
    )
    .await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    let ada_tg = link_ada(&d, &fake, team, ada).await;
    // Three answers to one private chat in a burst: paced a second apart, never refused.
    for text in ["/digest here", "/today", "/help"] {
        fake.inject_message(IncomingMessage::private(ada_tg.clone(), text));
    }
    tokio::time::timeout(WAIT, fake.wait_sent(4))
        .await
        .expect("the three answers arrive");
    assert_eq!(fake.rate_limited(), 0, "pacing kept within the limits");
    d.stop().await;
}
