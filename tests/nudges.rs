//! Reminders for members who have not answered, and each member's own prompt days and time, on a
//! manual clock: what reaches whom (the in-memory chat channel and the email outbox), and when.

mod common;

use bots::bus::OutgoingBody;
use bots::memory::MemoryHub;
use common::memory::link;
use common::{Donebot, NEW_YORK, WAIT, local};
use storage::{Channel, OutboxKind};

async fn start(data: &std::path::Path, hub: &str, now: chrono::DateTime<chrono::Utc>) -> Donebot {
    let hub = hub.to_owned();
    Donebot::start_with(data, None, now, move |s| {
        let table = serde_json::json!({ "hub": hub });
        let spec = donebot::channels::spec("memory").expect("the memory channel");
        s.channels = vec![(spec.configure)(Some(&table)).unwrap().expect("on")];
    })
    .await
}

/// The nudges queued for `member`, by channel.
fn nudges(d: &Donebot, member: u64) -> Vec<Channel> {
    let mut channels: Vec<Channel> = d
        .server
        .app
        .store
        .outbox_list(None, 10_000)
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == OutboxKind::Nudge && m.member_id == Some(member))
        .map(|m| m.channel)
        .collect();
    channels.sort_by_key(|c| c.as_str().to_owned());
    channels
}

async fn patch_team(d: &Donebot, team: u64, body: serde_json::Value) -> serde_json::Value {
    let (status, v) = d.patch(&format!("/api/v1/teams/{team}"), body).await;
    assert_eq!(status, 200, "{v}");
    v
}

#[actix_rt::test]
async fn who_has_not_answered_is_reminded_once_on_every_channel_of_the_prompt() {
    let hub = MemoryHub::create(&format!("nudge-{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), hub.name(), local(NEW_YORK, "2026-03-09", 12, 0)).await;
    tokio::time::timeout(WAIT, hub.wait_connected())
        .await
        .unwrap();
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    let bob = d.add_member(team, "Bob", "bob@example.com").await;
    let cy = d.add_member(team, "Cy", "cy@example.com").await;
    link(&d, &hub, team, ada, "u-ada", "dm-ada").await;
    link(&d, &hub, team, bob, "u-bob", "dm-bob").await;
    let v = patch_team(&d, team, serde_json::json!({"nudge_after_minutes": 90})).await;
    assert_eq!(v["nudge_after_minutes"], 90);
    assert_eq!(v["quiet_hours"], serde_json::json!(["21:00", "08:00"]));
    // Cy pauses: no prompt, no reminder.
    link(&d, &hub, team, cy, "u-cy", "dm-cy").await;
    hub.say("u-cy", "dm-cy", "/pause").await.unwrap();

    d.set_clock(local(NEW_YORK, "2026-03-09", 18, 0)).await;
    let prompt_to = |dm: &'static str| {
        let hub = &hub;
        async move {
            tokio::time::timeout(WAIT, async {
                loop {
                    if let Some(p) = hub
                        .sent()
                        .into_iter()
                        .find(|m| m.to == dm && matches!(m.body, OutgoingBody::Prompt { .. }))
                    {
                        return p;
                    }
                    hub.wait_sent(hub.sent().len() + 1).await;
                }
            })
            .await
            .expect("the prompt on the chat")
        }
    };
    let ada_prompt = prompt_to("dm-ada").await;
    prompt_to("dm-bob").await;
    // Bob answers (on the chat); Ada does not.
    hub.say("u-bob", "dm-bob", "wrote the nudges")
        .await
        .unwrap();

    // Not yet: 89 minutes.
    d.set_clock(local(NEW_YORK, "2026-03-09", 19, 29)).await;
    assert!(nudges(&d, ada).is_empty());
    d.set_clock(local(NEW_YORK, "2026-03-09", 19, 30)).await;
    assert_eq!(
        nudges(&d, ada),
        [Channel::Email, Channel::from_static("memory")]
    );
    assert!(nudges(&d, bob).is_empty(), "Bob answered");
    assert!(nudges(&d, cy).is_empty(), "Cy is paused");
    // On the chat, a reply to the prompt itself; answering it counts for the prompt's day.
    let nudge = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(n) = hub.sent().into_iter().find(|m| m.key.starts_with("nudge:")) {
                return n;
            }
            hub.wait_sent(hub.sent().len() + 1).await;
        }
    })
    .await
    .expect("the reminder on the chat");
    assert_eq!(nudge.to, "dm-ada");
    let delivered = d
        .server
        .app
        .store
        .prompt_for_day(ada, "2026-03-09".parse().unwrap())
        .unwrap()
        .expect("Ada's prompt")
        .deliveries
        .into_iter()
        .find(|x| x.channel.as_str() == "memory")
        .and_then(|x| x.message_id)
        .expect("its delivery on the chat");
    assert_eq!(
        nudge.reply_to.map(|id| format!("memory:dm-ada:{id}")),
        Some(delivered),
        "{ada_prompt:?}"
    );

    // A restart neither loses nor repeats one.
    d.stop().await;
    let d = start(
        dir.path(),
        hub.name(),
        local(NEW_YORK, "2026-03-09", 19, 45),
    )
    .await;
    d.set_clock(local(NEW_YORK, "2026-03-09", 20, 30)).await;
    assert_eq!(
        nudges(&d, ada),
        [Channel::Email, Channel::from_static("memory")]
    );
    d.stop().await;
}

#[actix_rt::test]
async fn a_reminder_due_in_quiet_hours_is_skipped_not_delayed() {
    let hub = MemoryHub::create(&format!("quiet-{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), hub.name(), local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    // 18:00 + 3 h = 21:00: the first quiet minute.
    patch_team(
        &d,
        team,
        serde_json::json!({"nudge_after_minutes": 180, "quiet_hours": ["21:00", "08:00"]}),
    )
    .await;
    d.set_clock(local(NEW_YORK, "2026-03-09", 18, 0)).await;
    d.set_clock(local(NEW_YORK, "2026-03-09", 21, 0)).await;
    assert!(nudges(&d, ada).is_empty());
    d.set_clock(local(NEW_YORK, "2026-03-10", 8, 30)).await;
    assert!(nudges(&d, ada).is_empty(), "not delayed to the morning");
    // Out of quiet hours it goes: the next day, quiet hours moved.
    patch_team(
        &d,
        team,
        serde_json::json!({"quiet_hours": ["23:00", "07:00"]}),
    )
    .await;
    d.set_clock(local(NEW_YORK, "2026-03-10", 18, 0)).await;
    d.set_clock(local(NEW_YORK, "2026-03-10", 21, 0)).await;
    assert_eq!(nudges(&d, ada), [Channel::Email]);
    d.stop().await;
}

#[actix_rt::test]
async fn a_members_own_days_and_time() {
    let hub = MemoryHub::create(&format!("days-{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), hub.name(), local(NEW_YORK, "2026-03-09", 12, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    let bob = d.add_member(team, "Bob", "bob@example.com").await;
    let (status, v) = d
        .patch(
            &format!("/api/v1/teams/{team}/members/{ada}"),
            serde_json::json!({"prompt_days": [5, 1, 3, 6], "prompt_time": "17:00"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["prompt_days"], serde_json::json!([1, 3, 5, 6]));
    assert_eq!(v["prompt_time"], "17:00");
    let listed = d.member(team, ada).await;
    assert_eq!(listed["prompt_time"], "17:00");
    for bad in [
        serde_json::json!({"prompt_days": [0]}),
        serde_json::json!({"prompt_days": []}),
        serde_json::json!({"prompt_time": "25:00"}),
    ] {
        let (status, v) = d
            .patch(&format!("/api/v1/teams/{team}/members/{ada}"), bad.clone())
            .await;
        assert_eq!(status, 400, "{bad} → {v}");
    }

    // Monday: Ada at 17:00, Bob at the team's 18:00.
    let prompted = |d: &Donebot, member: u64, day: &str| {
        d.server
            .app
            .store
            .prompt_for_day(member, day.parse().unwrap())
            .unwrap()
            .map(|p| p.due_at)
    };
    d.set_clock(local(NEW_YORK, "2026-03-09", 17, 0)).await;
    assert_eq!(
        prompted(&d, ada, "2026-03-09"),
        Some(local(NEW_YORK, "2026-03-09", 17, 0))
    );
    assert_eq!(prompted(&d, bob, "2026-03-09"), None);
    d.set_clock(local(NEW_YORK, "2026-03-09", 18, 0)).await;
    assert!(prompted(&d, bob, "2026-03-09").is_some());
    // Tuesday is not one of Ada's days; Saturday is, though not the team's.
    d.set_clock(local(NEW_YORK, "2026-03-10", 20, 0)).await;
    assert_eq!(prompted(&d, ada, "2026-03-10"), None);
    assert!(prompted(&d, bob, "2026-03-10").is_some());
    d.set_clock(local(NEW_YORK, "2026-03-14", 20, 0)).await;
    assert!(prompted(&d, ada, "2026-03-14").is_some());
    assert_eq!(prompted(&d, bob, "2026-03-14"), None);

    // The API's prompts go only to whom the date is a prompt day (Tuesday, before its 18:00).
    d.set_clock(local(NEW_YORK, "2026-03-17", 9, 0)).await;
    let (status, v) = d
        .post(
            &format!("/api/v1/teams/{team}/prompts"),
            Some(serde_json::json!({"date": "2026-03-17"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(prompted(&d, ada, "2026-03-17"), None, "Tuesday");
    assert!(prompted(&d, bob, "2026-03-17").is_some());
    d.stop().await;
}

#[actix_rt::test]
async fn members_set_their_days_and_time_by_chat_and_by_email() {
    let hub = MemoryHub::create(&format!("set-days-{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path(), hub.name(), local(NEW_YORK, "2026-03-09", 12, 0)).await;
    tokio::time::timeout(WAIT, hub.wait_connected())
        .await
        .unwrap();
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    let bob = d.add_member(team, "Bob", "bob@example.com").await;

    // By chat: the answer says what they now are.
    link(&d, &hub, team, ada, "u-ada", "dm-ada").await;
    hub.say("u-ada", "dm-ada", "/days mon wed fri")
        .await
        .unwrap();
    hub.say("u-ada", "dm-ada", "/time 17:30").await.unwrap();
    hub.say("u-ada", "dm-ada", "/time 25:00").await.unwrap();
    let answers: Vec<String> = tokio::time::timeout(WAIT, hub.wait_sent(4))
        .await
        .unwrap()
        .into_iter()
        .skip(1)
        .map(|m| match m.body {
            OutgoingBody::Notice { text } => text,
            other => panic!("{other:?}"),
        })
        .collect();
    // The outbox sends concurrently: in any order.
    for want in [
        "Your prompts now come on Mon, Wed, Fri at the team's time (America/New_York).",
        "Your prompts now come on Mon, Wed, Fri at 17:30 (America/New_York).",
    ] {
        assert!(answers.iter().any(|a| a == want), "{want} in {answers:?}");
    }
    assert!(
        answers.iter().any(|a| a.contains("I can't read the time")),
        "{answers:?}"
    );
    let listed = d.member(team, ada).await;
    assert_eq!(
        (&listed["prompt_days"], &listed["prompt_time"]),
        (&serde_json::json!([1, 3, 5]), &serde_json::json!("17:30"))
    );

    // By email: a one-line reply to the prompt, confirmed by email.
    d.set_clock(local(NEW_YORK, "2026-03-09", 18, 0)).await;
    let prompt = tokio::time::timeout(WAIT, async {
        loop {
            let found = common::eml_files(&d.server.app.settings.eml_dir())
                .into_iter()
                .find(|m| {
                    m.header("X-Donebot-Kind").as_deref() == Some("prompt")
                        && m.header("To").is_some_and(|t| t.contains("bob@"))
                });
            if let Some(m) = found {
                return m;
            }
            let _ = d.events.recv().await;
        }
    })
    .await
    .expect("Bob's prompt email");
    let reply_to = common::bare(&prompt.reply_to());
    let raw = common::reply_mail(
        "bob@example.com",
        &reply_to,
        &prompt.header("Message-ID").unwrap(),
        "time 08:15",
        "Mon, 09 Mar 2026 19:00:00 -0400",
    );
    let id = d.post_inbound("bob@example.com", &reply_to, raw).await;
    let outcome = d.inbound_outcome(id).await;
    assert!(
        outcome
            .as_deref()
            .is_ok_and(|o| o.contains("prompt days or time")),
        "{outcome:?}"
    );
    assert_eq!(d.member(team, bob).await["prompt_time"], "08:15");
    assert!(
        d.dones(team, "2026-03-09").await.is_empty(),
        "a command, not a done"
    );
    let confirmation = tokio::time::timeout(WAIT, async {
        loop {
            let found = common::eml_files(&d.server.app.settings.eml_dir())
                .into_iter()
                .find(|m| {
                    m.text()
                        .contains("Your prompts now come on the team's working days at 08:15")
                });
            if let Some(m) = found {
                return m;
            }
            let _ = d.events.recv().await;
        }
    })
    .await
    .expect("the confirmation email");
    assert!(
        confirmation
            .header("To")
            .is_some_and(|t| t.contains("bob@")),
        "{:?}",
        confirmation.header("To")
    );
    d.stop().await;
}

#[actix_rt::test]
async fn a_paused_member_gets_neither_prompt_nor_digest() {
    let hub = MemoryHub::create(&format!("paused-{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), hub.name(), local(NEW_YORK, "2026-03-09", 12, 0)).await;
    tokio::time::timeout(WAIT, hub.wait_connected())
        .await
        .unwrap();
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    let bob = d.add_member(team, "Bob", "bob@example.com").await;
    link(&d, &hub, team, ada, "u-ada", "dm-ada").await;
    hub.say("u-ada", "dm-ada", "/pause until 2026-03-10")
        .await
        .unwrap();
    let mail_for = |d: &Donebot, member: u64, kind: OutboxKind| {
        d.server
            .app
            .store
            .outbox_list(None, 10_000)
            .unwrap()
            .into_iter()
            .filter(|m| m.member_id == Some(member) && m.kind == kind)
            .count()
    };
    d.set_clock(local(NEW_YORK, "2026-03-09", 18, 0)).await;
    d.set_clock(local(NEW_YORK, "2026-03-10", 9, 0)).await;
    assert_eq!(mail_for(&d, ada, OutboxKind::Prompt), 0);
    assert_eq!(mail_for(&d, ada, OutboxKind::Digest), 0);
    assert_eq!(mail_for(&d, bob, OutboxKind::Prompt), 1);
    assert_eq!(mail_for(&d, bob, OutboxKind::Digest), 1);
    // The pause ends with its day: Wednesday's prompt and Thursday's digest come.
    d.set_clock(local(NEW_YORK, "2026-03-11", 18, 0)).await;
    d.set_clock(local(NEW_YORK, "2026-03-12", 9, 0)).await;
    assert!(mail_for(&d, ada, OutboxKind::Prompt) >= 1);
    assert!(mail_for(&d, ada, OutboxKind::Digest) >= 1);
    d.stop().await;
}

#[actix_rt::test]
async fn a_removed_member_keeps_their_dones_and_gets_nothing_more() {
    let hub = MemoryHub::create(&format!("removed-{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), hub.name(), local(NEW_YORK, "2026-03-09", 12, 0)).await;
    tokio::time::timeout(WAIT, hub.wait_connected())
        .await
        .unwrap();
    let team = d.create_team("Core", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.com").await;
    link(&d, &hub, team, ada, "u-ada", "dm-ada").await;
    hub.say("u-ada", "dm-ada", "/done wrote the removal")
        .await
        .unwrap();

    let path = format!("/api/v1/teams/{team}/members/{ada}");
    let (status, v) = d.delete(&path).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (&v["state"], &v["accounts"]),
        (&serde_json::json!("removed"), &serde_json::json!([]))
    );
    // Their dones stay; what they write now is not recorded; no prompt goes to them.
    hub.say("u-ada", "dm-ada", "/done after removal")
        .await
        .unwrap();
    let dones = d.dones(team, "2026-03-09").await;
    assert_eq!(dones.len(), 1, "{dones:?}");
    d.set_clock(local(NEW_YORK, "2026-03-09", 18, 0)).await;
    let store = &d.server.app.store;
    assert!(
        store
            .prompt_for_day(ada, "2026-03-09".parse().unwrap())
            .unwrap()
            .is_none()
    );
    // A removed member cannot be changed back; the address can be added again, as a new member.
    let (status, _) = d.patch(&path, serde_json::json!({"state": "active"})).await;
    assert_eq!(status, 400);
    let again = d.add_member(team, "Ada", "ada@example.com").await;
    assert_ne!(again, ada);
    d.stop().await;
}
