//! A panic inside one team's actor restarts that actor alone: the other team keeps its schedule,
//! the restarted team reloads its state from storage and keeps its own, and nothing recorded before
//! the panic is lost.

mod common;

use common::{Donebot, NEW_YORK, Sink, local, plain_mail};
use donebot::actors::team::InjectPanic;
use donebot::events::Event;

#[actix_rt::test]
async fn a_panicking_team_actor_restarts_alone_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Sink::start();
    let mut d = Donebot::start(
        dir.path(),
        Some(sink.port),
        local(NEW_YORK, "2026-04-15", 12, 0),
    )
    .await;
    let a = d.create_team("Alpha", "America/New_York").await;
    let b = d.create_team("Beta", "America/New_York").await;
    let ada = d.add_member(a, "Ada", "ada@example.org").await;
    let bo = d.add_member(b, "Bo", "bo@example.org").await;
    sink.next_of("welcome").await;
    sink.next_of("welcome").await;

    // Ada records something without a prompt (her mail authenticated by our MTA): it belongs to
    // her local today.
    let smtp = d.smtp_port();
    let to = format!("donebot@{}", common::DOMAIN);
    let raw = common::authenticated(plain_mail(
        "ada@example.org",
        &to,
        "ada-noon@example.org",
        "Wrote the RFC #spec",
    ));
    assert_eq!(
        common::smtp_send(smtp, "ada@example.org", &to, &raw).await,
        Ok(250)
    );
    d.wait_for("Ada's done", |e| match e {
        Event::DonesRecorded { member, .. } if *member == ada => Some(()),
        _ => None,
    })
    .await;
    let before = d.dones(a, "2026-04-15").await;
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["text"], "Wrote the RFC #spec");

    // Team A's actor panics and is restarted by its supervisor.
    d.server
        .app
        .actors
        .team(a)
        .unwrap()
        .send(InjectPanic)
        .await
        .unwrap();
    let restarted = d
        .wait_for("the restart", |e| match e {
            Event::TeamActorRestarted { team } => Some(*team),
            _ => None,
        })
        .await;
    assert_eq!(restarted, a);
    let metrics = d.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "donebot_actor_restarts_total 1"),
        "{metrics}"
    );

    // 18:00: both teams are asked; team A from the state it reloaded.
    d.set_clock(local(NEW_YORK, "2026-04-15", 18, 0)).await;
    let mut prompted = Vec::new();
    for _ in 0..2 {
        prompted.push(
            d.wait_for("the prompts", |e| match e {
                Event::PromptQueued { member, .. } => Some(*member),
                _ => None,
            })
            .await,
        );
    }
    prompted.sort();
    assert_eq!(prompted, [ada, bo]);
    let mut to: Vec<String> = Vec::new();
    for _ in 0..2 {
        to.extend(sink.next_of("prompt").await.envelope_to);
    }
    to.sort();
    assert_eq!(to, ["ada@example.org", "bo@example.org"]);

    // What was recorded before the panic is intact, and team A records again.
    assert_eq!(d.dones(a, "2026-04-15").await, before);
    let raw = plain_mail(
        "ada@example.org",
        &to_of(&d, ada),
        "ada-eve@example.org",
        "Read the reviews",
    );
    assert_eq!(
        common::smtp_send(smtp, "ada@example.org", &to_of(&d, ada), &raw).await,
        Ok(250)
    );
    d.wait_for("Ada's evening done", |e| match e {
        Event::DonesRecorded { member, .. } if *member == ada => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(d.dones(a, "2026-04-15").await.len(), 2);
    d.stop().await;
}

/// The reply address of `member`'s prompt of 2026-04-15.
fn to_of(d: &Donebot, member: u64) -> String {
    let day = "2026-04-15".parse().unwrap();
    let p = d
        .server
        .app
        .store
        .prompt_for_day(member, day)
        .unwrap()
        .unwrap();
    let token = d.server.app.signer.reply_token(p.id, member, day);
    format!("reply+{token}@{}", common::DOMAIN)
}
