//! The in-memory chat channel, configured the way any channel is (its `[memory]` table through
//! the registry): commands, the digest, and the outbox's retries of chat messages, shown on a
//! second channel beside Telegram.

mod common;

use bots::bus::{ChatEvent, ChatSendError, OutgoingBody};
use bots::memory::MemoryHub;
use common::memory::{link, nth, text};
use common::{Donebot, NEW_YORK, WAIT, local};
use donebot::clock::ManualClock;
use donebot::config::Config;
use donebot::events::Event;
use donebot::server::Server;

async fn start(data: &std::path::Path, hub: &str, now: chrono::DateTime<chrono::Utc>) -> Donebot {
    let mut c = Config {
        data_dir: data.to_path_buf(),
        ..Config::default()
    };
    c.web.listen = "127.0.0.1:0".into();
    c.inbound_smtp.listen = String::new();
    c.email.domain = common::DOMAIN.into();
    c.outbox.first_retry_seconds = 60;
    // The channel's table, as `[memory] hub = "..."` in config.toml.
    let mut table = toml::Table::new();
    table.insert("hub".into(), toml::Value::String(hub.into()));
    c.channels
        .insert("memory".into(), toml::Value::Table(table));
    let settings = c.validate("test").expect("valid config");
    let clock = ManualClock::new(now);
    let server = Server::start(settings, std::sync::Arc::new(clock.clone()))
        .await
        .expect("donebot starts");
    let events = server.app.events.subscribe();
    let token = server.first_admin_token.clone().expect("a first token");
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    Donebot {
        server,
        clock,
        events,
        http,
        token,
    }
}

#[actix_rt::test]
async fn commands_digest_and_retries_on_a_second_channel() {
    let hub = MemoryHub::create(&format!("commands-{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path(), hub.name(), local(NEW_YORK, "2026-03-09", 12, 0)).await;
    tokio::time::timeout(WAIT, hub.wait_connected())
        .await
        .unwrap();
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;

    link(&d, &hub, team, ada, "u-ada", "dm-ada").await;
    assert_eq!(nth(&hub, 1).await.to, "dm-ada");

    // Commands: the same handler as every channel, effects durable before the answer.
    hub.say("u-ada", "dm-ada", "/done wrote the seam")
        .await
        .unwrap();
    assert!(text(&nth(&hub, 2).await).contains("1 done"));
    let dones = d.dones(team, "2026-03-09").await;
    assert_eq!(dones.len(), 1);
    assert_eq!(dones[0]["source"], "memory");
    hub.say("u-ada", "dm-ada", "/undo").await.unwrap();
    assert!(text(&nth(&hub, 3).await).contains("Removed: wrote the seam"));
    assert!(d.dones(team, "2026-03-09").await.is_empty());
    hub.say("u-ada", "dm-ada", "/pause").await.unwrap();
    assert!(text(&nth(&hub, 4).await).starts_with("Paused"));
    assert_eq!(d.member(team, ada).await["state"], "paused");
    hub.say("u-ada", "dm-ada", "/resume").await.unwrap();
    nth(&hub, 5).await;
    assert_eq!(d.member(team, ada).await["state"], "active");
    hub.say("u-ada", "dm-ada", "/digest here").await.unwrap();
    assert!(text(&nth(&hub, 6).await).contains("digest here too"));

    // The prompt fails transiently twice; the outbox retries it after its backoff.
    hub.fail_next(2, ChatSendError::Transient("503 from the platform".into()));
    let evening = local(NEW_YORK, "2026-03-09", 18, 0);
    d.set_clock(evening).await;
    d.wait_for("a deferred prompt", |e| {
        matches!(e, Event::ChatDeferred { .. }).then_some(())
    })
    .await;
    assert_eq!(hub.sent().len(), 6, "not sent while deferred");
    let mut t = evening;
    let prompt = tokio::time::timeout(WAIT, async {
        loop {
            t += chrono::Duration::minutes(5);
            d.set_clock(t).await;
            if let Some(p) = hub
                .sent()
                .into_iter()
                .find(|m| matches!(m.body, OutgoingBody::Prompt { .. }))
            {
                return p;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the prompt is retried and sent");
    assert_eq!(prompt.to, "dm-ada");
    assert_eq!(hub.attempts() - hub.sent().len(), 2, "two failed attempts");

    // A plain reply becomes dones of the prompt's day; the digest comes to the DM next morning.
    hub.say("u-ada", "dm-ada", "shipped the bus").await.unwrap();
    d.set_clock(local(NEW_YORK, "2026-03-10", 9, 0)).await;
    let digest = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(m) = hub
                .sent()
                .into_iter()
                .find(|m| matches!(m.body, OutgoingBody::Digest(_)))
            {
                return m;
            }
            hub.wait_sent(hub.sent().len() + 1).await;
        }
    })
    .await
    .expect("the digest on the memory channel");
    let OutgoingBody::Digest(value) = &digest.body else {
        unreachable!("picked a digest")
    };
    assert_eq!(digest.to, "dm-ada");
    assert_eq!(value.sections.len(), 1);
    assert_eq!(value.sections[0].member, "Ada");
    assert_eq!(value.sections[0].lines[0].text, "shipped the bus");
    d.stop().await;
}

/// What a person does to a message after sending it is what the team reads: an edit replaces the
/// message's dones (and only its own), a deletion removes them, a redelivered deletion changes
/// nothing more, and the next digest shows what is left.
#[actix_rt::test]
async fn an_edit_replaces_and_a_deletion_removes_a_messages_dones() {
    let hub = MemoryHub::create(&format!("edits-{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), hub.name(), local(NEW_YORK, "2026-03-09", 12, 0)).await;
    tokio::time::timeout(WAIT, hub.wait_connected())
        .await
        .unwrap();
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    link(&d, &hub, team, ada, "u-ada", "dm-ada").await;
    let texts = |dones: Vec<serde_json::Value>| -> Vec<String> {
        let mut t: Vec<String> = dones
            .iter()
            .map(|d| d["text"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    let say = |text: &'static str, event, id: &'static str| {
        hub.deliver("u-ada", "dm-ada", text, event, Some(id.to_owned()))
    };

    say("fixd the clock\nwrote docs", ChatEvent::Message, "m1")
        .await
        .unwrap();
    say("reviewed the bus", ChatEvent::Message, "m2")
        .await
        .unwrap();
    assert_eq!(
        texts(d.dones(team, "2026-03-09").await),
        ["fixd the clock", "reviewed the bus", "wrote docs"]
    );

    say("fixed the clock\nwrote docs", ChatEvent::Edit, "m1")
        .await
        .unwrap();
    assert_eq!(
        texts(d.dones(team, "2026-03-09").await),
        ["fixed the clock", "reviewed the bus", "wrote docs"]
    );

    // Deleted: its dones go, the other message's stay; delivered again, nothing changes.
    for _ in 0..2 {
        say("", ChatEvent::Delete, "m1").await.unwrap();
        assert_eq!(
            texts(d.dones(team, "2026-03-09").await),
            ["reviewed the bus"]
        );
    }
    // A deletion of a message that recorded nothing (or that donebot never saw) is harmless.
    say("", ChatEvent::Delete, "m-unknown").await.unwrap();
    // An edit down to no work at all removes the message's dones too.
    say("Thanks!", ChatEvent::Edit, "m2").await.unwrap();
    assert!(d.dones(team, "2026-03-09").await.is_empty());
    say("paired on the outbox", ChatEvent::Message, "m3")
        .await
        .unwrap();

    // The digest next morning reads what is left.
    hub.say("u-ada", "dm-ada", "/digest here").await.unwrap();
    d.set_clock(local(NEW_YORK, "2026-03-10", 9, 0)).await;
    let digest = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(m) = hub
                .sent()
                .into_iter()
                .find(|m| matches!(m.body, OutgoingBody::Digest(_)))
            {
                return m;
            }
            hub.wait_sent(hub.sent().len() + 1).await;
        }
    })
    .await
    .expect("the digest on the memory channel");
    let OutgoingBody::Digest(value) = &digest.body else {
        unreachable!("picked a digest")
    };
    let lines: Vec<&str> = value.sections[0]
        .lines
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(lines, ["paired on the outbox"]);
    d.stop().await;
}
