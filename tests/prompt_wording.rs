//! The prompt says when the digest comes: "Tomorrow morning" on a day before a workday, "On Monday
//! morning" on a Friday (digests go out on workdays), at the time of day of the digest schedule.

mod common;

use common::{Donebot, NEW_YORK, eml_files, local};
use donebot::events::Event;
use serde_json::json;
use storage::OutboxKind;

/// The default digest schedule: 09:00 on weekdays.
const WEEKDAY_MORNINGS: &str = "0 9 * * 1-5";

/// The text of the prompt of local `date` in New York, for a team whose digest schedule is
/// `digest_cron`.
async fn prompt_text(date: &str, digest_cron: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Donebot::start_with(dir.path(), None, local(NEW_YORK, date, 12, 0), |s| {
        s.digest_cron = digest_cron.to_owned();
    })
    .await;
    let team = d.create_team("Engines", "America/New_York").await;
    d.add_member(team, "Ada", "ada@example.org").await;
    let (status, v) = d.post(&format!("/api/v1/teams/{team}/prompts"), None).await;
    assert_eq!((status, v), (200, json!({ "sent": 1 })));
    d.wait_for("the prompt", |e| match e {
        Event::EmailSent {
            kind: OutboxKind::Prompt,
            ..
        } => Some(()),
        _ => None,
    })
    .await;
    let prompt = eml_files(&d.server.app.settings.eml_dir())
        .into_iter()
        .find(|m| m.header("X-Donebot-Kind").as_deref() == Some("prompt"))
        .expect("the prompt was written");
    d.stop().await;
    prompt.text()
}

#[actix_rt::test]
async fn the_prompt_says_when_the_digest_comes() {
    // Wednesday 9 December 2026.
    let text = prompt_text("2026-12-09", WEEKDAY_MORNINGS).await;
    assert!(
        text.contains("Tomorrow morning everyone in Engines gets a digest."),
        "{text}"
    );
    // Friday 11 December: the next workday is Monday.
    let text = prompt_text("2026-12-11", WEEKDAY_MORNINGS).await;
    assert!(
        text.contains("On Monday morning everyone in Engines gets a digest."),
        "{text}"
    );
    // An evening digest schedule.
    let text = prompt_text("2026-12-11", "0 19 * * 1-5").await;
    assert!(
        text.contains("On Monday evening everyone in Engines gets a digest."),
        "{text}"
    );
}
