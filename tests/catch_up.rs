//! Downtime: a prompt that fell due while donebot was stopped is sent at the next start if it is
//! still within the grace window (3 hours by default), exactly once however often donebot
//! restarts; one missed by more than the grace window is not sent late.

mod common;

use common::{Donebot, NEW_YORK, eml_files, local};
use donebot::events::Event;
use storage::OutboxKind;

fn prompts_written(d: &Donebot) -> usize {
    eml_files(&d.server.app.settings.eml_dir())
        .iter()
        .filter(|m| m.header("X-Donebot-Kind").as_deref() == Some("prompt"))
        .count()
}

#[actix_rt::test]
async fn a_prompt_missed_while_down_is_caught_up_once_within_the_grace_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-04-15", 12, 0)).await;
    let team = d.create_team("Engines", "America/New_York").await;
    let ada = d.add_member(team, "Ada", "ada@example.org").await;
    d.wait_for("the welcome", |e| {
        matches!(
            e,
            Event::EmailSent {
                kind: OutboxKind::Welcome,
                ..
            }
        )
        .then_some(())
    })
    .await;
    d.set_clock(local(NEW_YORK, "2026-04-15", 17, 0)).await;
    d.stop().await;

    // Down from 17:00 to 19:30: the 18:00 prompt is 90 minutes late, within the grace window.
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-04-15", 19, 30)).await;
    let member = d
        .wait_for("the caught-up prompt", |e| match e {
            Event::PromptQueued { member, .. } => Some(*member),
            _ => None,
        })
        .await;
    assert_eq!(member, ada);
    d.wait_for("the prompt written", |e| {
        matches!(
            e,
            Event::EmailSent {
                kind: OutboxKind::Prompt,
                ..
            }
        )
        .then_some(())
    })
    .await;
    assert_eq!(prompts_written(&d), 1);
    d.stop().await;

    // Another restart a little later: nothing is sent twice.
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-04-15", 20, 0)).await;
    d.set_clock(local(NEW_YORK, "2026-04-15", 20, 1)).await;
    assert_eq!(prompts_written(&d), 1);
    assert_eq!(d.server.app.store.outbox_counts().unwrap().queued, 0);
    d.stop().await;

    // Down over Thursday 18:00 until 22:00: four hours late is past the grace window.
    let d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-04-16", 22, 0)).await;
    d.set_clock(local(NEW_YORK, "2026-04-16", 22, 1)).await;
    let thursday = "2026-04-16".parse().unwrap();
    assert_eq!(
        d.server.app.store.prompt_for_day(ada, thursday).unwrap(),
        None
    );
    assert_eq!(prompts_written(&d), 1);
    d.stop().await;
}
