//! Digests and prompts make sense in time: nobody is "no answer" for a day before they joined, and
//! the API refuses a prompt or digest for a day that has not started yet.

mod common;

use common::{Donebot, Mail, NEW_YORK, eml_files, local};
use donebot::events::Event;
use serde_json::json;
use storage::OutboxKind;

fn digests(d: &Donebot) -> Vec<Mail> {
    eml_files(&d.server.app.settings.eml_dir())
        .into_iter()
        .filter(|m| m.header("X-Donebot-Kind").as_deref() == Some("digest"))
        .collect()
}

async fn digest_of(d: &mut Donebot, team: u64, date: &str) -> String {
    let before = digests(d).len();
    let (status, v) = d
        .post(
            &format!("/api/v1/teams/{team}/digests"),
            Some(json!({ "date": date })),
        )
        .await;
    assert_eq!((status, v), (200, json!({ "sent": 1 })));
    d.wait_for("a digest", |e| match e {
        Event::EmailSent {
            kind: OutboxKind::Digest,
            ..
        } => Some(()),
        _ => None,
    })
    .await;
    let all = digests(d);
    assert_eq!(all.len(), before + 1);
    all[before].text()
}

#[actix_rt::test]
async fn no_answer_only_from_members_who_were_asked_and_no_future_days() {
    let dir = tempfile::tempdir().unwrap();
    // Wednesday 9 December 2026 at noon in New York: Ada joins.
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-12-09", 12, 0)).await;
    let team = d.create_team("Core", "America/New_York").await;
    d.add_member(team, "Ada", "ada@example.org").await;

    // Tuesday: before she joined, nobody was asked.
    let text = digest_of(&mut d, team, "2026-12-08").await;
    assert!(!text.contains("No answer from"), "{text}");
    // Wednesday: she is asked this evening.
    let text = digest_of(&mut d, team, "2026-12-09").await;
    assert!(text.contains("No answer from: Ada\r\n"), "{text}");

    // Thursday has not started yet anywhere in the team.
    for what in ["prompts", "digests"] {
        let (status, v) = d
            .post(
                &format!("/api/v1/teams/{team}/{what}"),
                Some(json!({ "date": "2026-12-10" })),
            )
            .await;
        assert_eq!(status, 400, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.ends_with(
                "for 2026-12-10: that day has not started yet for Core (today is 2026-12-09)"
            ),
            "{message}"
        );
    }
    d.stop().await;
}
