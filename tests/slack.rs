//! Slack end to end: donebot with its Slack channel against the fake Slack (the real
//! slack-morphism client on the Web API side, signed Events API requests on the other), on a
//! manual clock. What a member sees: the prompt in their DM or in the team channel's thread, their
//! replies as dones, edits and deletions honoured, the digest in the channel, `/done` answered.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bots::slack::fake::{EventsSender, FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, FakeSlack, FakeUser};
use bots::slack::{SlackConfig, SlackMode, SlackTuning};
use chrono_tz::Tz;
use common::{Donebot, WAIT, local};
use donebot::events::Event;

const BERLIN: Tz = chrono_tz::Europe::Berlin;
const ADA: &str = "U0ADA";
const TEAM_CHANNEL: &str = "C0CORE";

async fn start(
    data: &std::path::Path,
    fake: &FakeSlack,
    now: chrono::DateTime<chrono::Utc>,
) -> Donebot {
    let config = SlackConfig {
        bot_token: FAKE_BOT_TOKEN.into(),
        signing_secret: FAKE_SIGNING_SECRET.into(),
        api_url: Some(fake.api_url()),
        mode: SlackMode::Events,
        tuning: SlackTuning {
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..SlackTuning::default()
        },
    };
    Donebot::start_with(data, None, now, move |s| {
        s.channels = vec![Arc::new(config.clone())];
    })
    .await
}

/// Signs with donebot's (manual) clock, as Slack signs with its own, in sync.
fn sender(d: &Donebot) -> EventsSender {
    let clock = d.clock.clone();
    EventsSender::new(&d.url("")).with_clock(move || {
        use donebot::clock::Clock;
        clock.now().timestamp()
    })
}

/// A team "Core" in New York with Ada, whom donebot finds in Slack by her email address.
async fn team_with_ada(d: &mut Donebot, fake: &FakeSlack) -> (u64, u64) {
    fake.add_user(FakeUser::new(
        ADA,
        "Ada Lovelace",
        "ada@example.com",
        "Europe/Berlin",
    ));
    fake.add_channel(TEAM_CHANNEL, "core", true);
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    d.wait_for("Ada found in Slack", |e| match e {
        Event::AccountsLookedUp { channel, linked }
            if channel == "slack" && linked.contains(&ada) =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    let (status, v) = d
        .patch(
            &format!("/api/v1/teams/{team}"),
            serde_json::json!({"slack_channel_id": TEAM_CHANNEL}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["slack_channel_id"], TEAM_CHANNEL);
    assert_eq!(v["slack_prompt_style"], "dm");
    (team, ada)
}

/// Waits until the chat log has processed the message Slack delivered as `event_id`.
async fn processed(d: &mut Donebot, delivery: &bots::slack::fake::Delivery) {
    assert_eq!(delivery.status(), Some(200), "{}", delivery.answer());
    let want = delivery.event_id.clone().expect("an event");
    d.wait_for("the event processed", |e| match e {
        Event::ChatProcessed { channel, update } if channel == "slack" && *update == want => {
            Some(())
        }
        _ => None,
    })
    .await;
}

async fn texts(d: &Donebot, team: u64, day: &str) -> Vec<String> {
    let mut t: Vec<String> = d
        .dones(team, day)
        .await
        .iter()
        .map(|d| {
            assert_eq!(d["source"], "slack", "{d}");
            d["text"].as_str().unwrap().to_owned()
        })
        .collect();
    t.sort();
    t
}

async fn nth_posted(fake: &FakeSlack, n: usize) -> bots::slack::fake::PostedMessage {
    let mut posted = tokio::time::timeout(WAIT, fake.wait_posted(n))
        .await
        .unwrap_or_else(|_| panic!("message {n} posted in time; posted: {:#?}", fake.posted()));
    posted.truncate(n);
    posted.pop().expect("n >= 1")
}

#[actix_rt::test]
async fn dm_prompt_replies_edits_and_the_digest_in_the_channel() {
    let fake = FakeSlack::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path(), &fake, local(BERLIN, "2026-03-09", 12, 0)).await;
    let (team, ada) = team_with_ada(&mut d, &fake).await;
    // Her Slack zone is offered as hers: her prompt comes at 18:00 Berlin time.
    assert_eq!(d.member(team, ada).await["timezone"], "Europe/Berlin");

    d.set_clock(local(BERLIN, "2026-03-09", 18, 0)).await;
    let prompt = nth_posted(&fake, 1).await;
    assert_eq!(prompt.channel, fake.dm_channel(ADA), "{prompt:?}");
    assert!(
        prompt.text.contains("What did you get done today?"),
        "{prompt:?}"
    );

    // A reply in the prompt's thread, as Slack escapes it.
    let slack = sender(&d);
    let reply = slack
        .thread_reply(
            &fake.dm_channel(ADA),
            &prompt.ts,
            ADA,
            "shipped the release\nfixed the &lt;b&gt; tag &amp; its test",
        )
        .await;
    processed(&mut d, &reply).await;
    assert_eq!(
        texts(&d, team, "2026-03-09").await,
        ["fixed the <b> tag & its test", "shipped the release"]
    );

    // Slack retries an event it thinks was lost: acknowledged, and taken once (the log processes
    // in order, so the retry would come before the next message).
    let again = slack.retry(&reply, 1, "http_timeout").await;
    assert_eq!(again.status, Some(200));
    let first = reply.event_id.clone().unwrap();
    let next = slack.dm(ADA, "answered the review").await;
    let next_id = next.event_id.clone().unwrap();
    d.wait_for("the message after the retry", |e| match e {
        Event::ChatProcessed { update, .. } if *update == first => {
            panic!("a retried event was processed twice")
        }
        Event::ChatProcessed { update, .. } if *update == next_id => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(
        texts(&d, team, "2026-03-09").await,
        [
            "answered the review",
            "fixed the <b> tag & its test",
            "shipped the release"
        ]
    );
    let gone = slack
        .delete(
            &fake.dm_channel(ADA),
            next.ts.as_deref().unwrap(),
            ADA,
            "answered the review",
        )
        .await;
    processed(&mut d, &gone).await;
    // An edit: the dones are the edited text, once.
    let edit = slack
        .edit(
            &fake.dm_channel(ADA),
            reply.ts.as_deref().unwrap(),
            ADA,
            (
                "shipped the release\nfixed the &lt;b&gt; tag &amp; its test",
                "shipped release 2.0",
            ),
            Some(&prompt.ts),
        )
        .await;
    processed(&mut d, &edit).await;
    assert_eq!(texts(&d, team, "2026-03-09").await, ["shipped release 2.0"]);

    // Another app's message and a join never become dones.
    let bot = slack
        .bot_message(&fake.dm_channel(ADA), "Build #42 passed")
        .await;
    assert_eq!(bot.status(), Some(200));
    let join = slack.channel_join(TEAM_CHANNEL, ADA).await;
    assert_eq!(join.status(), Some(200));

    // A forged and a stale request are refused and record nothing.
    let forged = sender(&d)
        .with_secret("0000000000000000aaaaaaaaaaaaaaaa")
        .dm(ADA, "forged work")
        .await;
    assert_eq!(forged.status(), Some(401));
    let clock = d.clock.clone();
    let stale = EventsSender::new(&d.url(""))
        .with_clock(move || {
            use donebot::clock::Clock;
            clock.now().timestamp() - 600
        })
        .dm(ADA, "replayed work")
        .await;
    assert_eq!(stale.status(), Some(401));

    // A plain DM (no thread) counts for the prompt's day too, its Slack markup read as Slack
    // shows it; deleting it removes its dones.
    let extra = slack
        .dm(
            ADA,
            "reviewed <https://git.example/pr/12|PR 12> in <#C0DEV|dev>",
        )
        .await;
    processed(&mut d, &extra).await;
    assert_eq!(
        texts(&d, team, "2026-03-09").await,
        [
            "reviewed PR 12 (https://git.example/pr/12) in #dev",
            "shipped release 2.0"
        ]
    );
    let gone = slack
        .delete(
            &fake.dm_channel(ADA),
            extra.ts.as_deref().unwrap(),
            ADA,
            "reviewed the Slack seam",
        )
        .await;
    processed(&mut d, &gone).await;
    assert_eq!(texts(&d, team, "2026-03-09").await, ["shipped release 2.0"]);

    // The digest next morning (the team's morning: its channel follows the team's zone), in the
    // team's channel, as Block Kit.
    d.set_clock(local(common::NEW_YORK, "2026-03-10", 9, 0))
        .await;
    let digest = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(m) = fake
                .posted()
                .into_iter()
                .find(|m| m.channel == TEAM_CHANNEL)
            {
                return m;
            }
            fake.wait_posted(fake.posted().len() + 1).await;
        }
    })
    .await
    .expect("the digest in the team's channel");
    assert!(digest.text.contains("What Core got done"), "{digest:?}");
    let sections = digest.section_texts().join("\n");
    assert!(sections.contains("Ada"), "{sections}");
    assert!(sections.contains("shipped release 2.0"), "{sections}");
    assert!(!sections.contains("reviewed the Slack seam"), "{sections}");
    d.stop().await;
}

#[actix_rt::test]
async fn thread_style_one_prompt_in_the_channel_and_replies_in_its_thread() {
    let fake = FakeSlack::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(
        dir.path(),
        &fake,
        local(common::NEW_YORK, "2026-03-09", 12, 0),
    )
    .await;
    let (team, _) = team_with_ada(&mut d, &fake).await;
    let (status, v) = d
        .patch(
            &format!("/api/v1/teams/{team}"),
            serde_json::json!({"slack_prompt_style": "thread"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["slack_prompt_style"], "thread");

    // The team's prompt, at 18:00 in the team's zone, in the channel; Ada's DM gets none.
    d.set_clock(local(common::NEW_YORK, "2026-03-09", 18, 0))
        .await;
    let prompt = nth_posted(&fake, 1).await;
    assert_eq!(prompt.channel, TEAM_CHANNEL, "{prompt:?}");
    assert!(prompt.text.contains("Reply in this thread"), "{prompt:?}");
    // Its thread is known once Slack's answer is taken in (the send is then recorded); a reply
    // faster than that would land in a thread donebot does not know yet.
    d.wait_for("the team prompt recorded as sent", |e| {
        matches!(e, Event::ChatSent { channel, .. } if channel == "slack").then_some(())
    })
    .await;

    let slack = sender(&d);
    let reply = slack
        .thread_reply(TEAM_CHANNEL, &prompt.ts, ADA, "paired on the thread style")
        .await;
    processed(&mut d, &reply).await;
    assert_eq!(
        texts(&d, team, "2026-03-09").await,
        ["paired on the thread style"]
    );
    // A stranger's reply, another app's and chatter outside the thread are not dones.
    for delivery in [
        slack
            .thread_reply(TEAM_CHANNEL, &prompt.ts, "U0STRANGER", "not a member")
            .await,
        slack
            .message(TEAM_CHANNEL, "channel", ADA, "lunch?", None)
            .await,
    ] {
        processed(&mut d, &delivery).await;
    }
    let bot = slack.bot_message(TEAM_CHANNEL, "deploy finished").await;
    assert_eq!(bot.status(), Some(200));
    assert_eq!(
        texts(&d, team, "2026-03-09").await,
        ["paired on the thread style"]
    );
    // Nothing was said in the channel besides the prompt, and no DM went out.
    assert_eq!(fake.posted().len(), 1, "{:#?}", fake.posted());

    // Ada's Slack account stops working in the channel: the style needs the channel.
    let (status, v) = d
        .patch(
            &format!("/api/v1/teams/{team}"),
            serde_json::json!({"slack_channel_id": null}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = d
        .patch(
            &format!("/api/v1/teams/{team}"),
            serde_json::json!({"slack_prompt_style": "thread"}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    d.stop().await;
}

#[actix_rt::test]
async fn slash_commands_are_answered_to_the_person_alone() {
    let fake = FakeSlack::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(
        dir.path(),
        &fake,
        local(common::NEW_YORK, "2026-03-09", 12, 0),
    )
    .await;
    let (team, ada) = team_with_ada(&mut d, &fake).await;
    let slack = sender(&d);

    let done = slack
        .command(
            ADA,
            "ada",
            TEAM_CHANNEL,
            "wrote the Slack seam",
            &fake.response_url("r1"),
        )
        .await;
    assert_eq!(done.status(), Some(200), "{}", done.answer());
    let answers = tokio::time::timeout(WAIT, fake.wait_ephemerals(1))
        .await
        .unwrap();
    assert!(answers[0].text.contains("1 done"), "{answers:?}");
    assert_eq!(
        texts(&d, team, "2026-03-09").await,
        ["wrote the Slack seam"]
    );

    let undo = slack
        .command(ADA, "ada", TEAM_CHANNEL, "undo", &fake.response_url("r2"))
        .await;
    assert_eq!(undo.status(), Some(200));
    let answers = tokio::time::timeout(WAIT, fake.wait_ephemerals(2))
        .await
        .unwrap();
    assert!(answers[1].text.contains("Removed"), "{answers:?}");
    assert!(d.dones(team, "2026-03-09").await.is_empty());

    let pause = slack
        .command(
            ADA,
            "ada",
            TEAM_CHANNEL,
            "pause until 2026-03-20",
            &fake.response_url("r3"),
        )
        .await;
    assert_eq!(pause.status(), Some(200));
    tokio::time::timeout(WAIT, fake.wait_ephemerals(3))
        .await
        .unwrap();
    assert_eq!(d.member(team, ada).await["state"], "paused");

    // A mistake is answered at once, by the route, and changes nothing.
    let wrong = slack
        .command(
            ADA,
            "ada",
            TEAM_CHANNEL,
            "pause until someday",
            &fake.response_url("r4"),
        )
        .await;
    assert_eq!(wrong.status(), Some(200));
    assert!(
        wrong.answer().contains("pause until YYYY-MM-DD"),
        "{}",
        wrong.answer()
    );
    // Nothing was posted in the channel: every answer went to Ada alone.
    assert!(
        fake.posted().iter().all(|m| m.channel != TEAM_CHANNEL),
        "{:#?}",
        fake.posted()
    );
    d.stop().await;
}

#[actix_rt::test]
async fn a_member_who_left_the_workspace_is_marked_and_keeps_email() {
    let fake = FakeSlack::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path(), &fake, local(BERLIN, "2026-03-09", 12, 0)).await;
    let (team, ada) = team_with_ada(&mut d, &fake).await;
    let account = &d.member(team, ada).await["accounts"][0];
    assert_eq!(
        (&account["channel"], &account["user_id"], &account["broken"]),
        (&"slack".into(), &ADA.into(), &false.into())
    );

    // Her account is deactivated: the DM prompt is refused (`account_inactive`/`user_not_found`).
    fake.deactivate(ADA);
    d.set_clock(local(BERLIN, "2026-03-09", 18, 0)).await;
    d.wait_for("the Slack prompt given up", |e| {
        matches!(e, Event::ChatFailed { .. }).then_some(())
    })
    .await;
    assert_eq!(d.member(team, ada).await["accounts"][0]["broken"], true);
    // Email is her channel now: her prompt goes out as an email all the same.
    let queued = d.server.app.store.outbox_list(None, 100).unwrap();
    assert!(
        queued.iter().any(|m| m.channel == storage::Channel::Email
            && m.kind == storage::OutboxKind::Prompt
            && m.member_id == Some(ada)),
        "{queued:#?}"
    );
    // The next day's prompt does not try Slack again.
    let posts = fake.calls("chat.postMessage") + fake.calls("conversations.open");
    d.set_clock(local(BERLIN, "2026-03-10", 18, 0)).await;
    d.wait_for("the next email prompt", |e| {
        matches!(e, Event::PromptQueued { .. }).then_some(())
    })
    .await;
    assert_eq!(
        fake.calls("chat.postMessage") + fake.calls("conversations.open"),
        posts
    );
    d.stop().await;
}

#[actix_rt::test]
async fn socket_mode_without_a_public_url() {
    use bots::slack::fake::FAKE_APP_TOKEN;
    let fake = FakeSlack::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = SlackConfig {
        bot_token: FAKE_BOT_TOKEN.into(),
        signing_secret: FAKE_SIGNING_SECRET.into(),
        api_url: Some(fake.api_url()),
        mode: SlackMode::Socket {
            app_token: FAKE_APP_TOKEN.into(),
        },
        tuning: SlackTuning {
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..SlackTuning::default()
        },
    };
    let mut d = Donebot::start_with(
        dir.path(),
        None,
        local(BERLIN, "2026-03-09", 12, 0),
        move |s| {
            s.channels = vec![Arc::new(config.clone())];
        },
    )
    .await;
    let (team, _) = team_with_ada(&mut d, &fake).await;
    tokio::time::timeout(WAIT, fake.wait_socket_connections(1))
        .await
        .expect("donebot connects");
    // No routes in this mode.
    let (status, _) = d.post("/slack/events", Some(serde_json::json!({}))).await;
    assert_eq!(status, 404);

    let dm = fake.dm_channel(ADA);
    let message = |text: &str, ts: &str| {
        serde_json::json!({"type": "message", "channel": dm, "channel_type": "im", "user": ADA,
            "text": text, "ts": ts, "event_ts": ts, "team": "T0DONEBOT"})
    };
    let first = fake.socket_event(message("wrote socket mode", "1773081600.000100"));
    d.wait_for("the event processed", |e| {
        matches!(e, Event::ChatProcessed { channel, .. } if channel == "slack").then_some(())
    })
    .await;
    let acks = tokio::time::timeout(WAIT, fake.wait_socket_acks(1))
        .await
        .unwrap();
    assert_eq!(acks[0]["envelope_id"], first.as_str(), "{acks:?}");
    assert_eq!(texts(&d, team, "2026-03-09").await, ["wrote socket mode"]);

    // Slack asks for a new connection: donebot opens one and carries on.
    fake.socket_disconnect();
    tokio::time::timeout(WAIT, fake.wait_socket_connections(2))
        .await
        .expect("donebot reconnects");
    let command = fake.socket_command(
        ADA,
        TEAM_CHANNEL,
        "reviewed the reconnect",
        &fake.response_url("s1"),
    );
    let acks = tokio::time::timeout(WAIT, fake.wait_socket_acks(2))
        .await
        .unwrap();
    assert_eq!(acks[1]["envelope_id"], command.as_str(), "{acks:?}");
    let answers = tokio::time::timeout(WAIT, fake.wait_ephemerals(1))
        .await
        .unwrap();
    assert!(answers[0].text.contains("1 done"), "{answers:?}");
    assert_eq!(
        texts(&d, team, "2026-03-09").await,
        ["reviewed the reconnect", "wrote socket mode"]
    );
    d.stop().await;
}
