//! Members hear back by email. A short reply that is a command in the member's own words
//! ("unsubscribe please", "pause till Friday", "pause until next friday") is applied and
//! answered; a pause until a past or unreadable day changes nothing and says why; words that look
//! like a command but are not understood are answered with what is understood, at most once a
//! day; none of these replies becomes a done.

mod common;

use common::{DOMAIN, Donebot, Mail, NEW_YORK, eml_files, local, reply_mail};
use donebot::events::Event;
use serde_json::json;
use storage::OutboxKind;

const ADA: &str = "ada@example.org";

/// The answers donebot wrote to Ada so far, oldest first.
fn answers(d: &Donebot) -> Vec<Mail> {
    eml_files(&d.server.app.settings.eml_dir())
        .into_iter()
        .filter(|m| m.header("X-Donebot-Kind").as_deref() == Some("confirmation"))
        .collect()
}

struct Ada {
    reply_to: String,
    sent: u32,
}

impl Ada {
    /// Ada replies `typed` to her prompt; the inbound outcome.
    async fn says(&mut self, d: &mut Donebot, typed: &str) -> Result<String, String> {
        self.sent += 1;
        let raw = reply_mail(
            "Ada Lovelace <ada@example.org>",
            &self.reply_to,
            &format!("ada-{}@mail.example.org", self.sent),
            typed,
            "Wed, 9 Dec 2026 19:00:00 -0500",
        );
        let id = d.post_inbound(ADA, &self.reply_to, raw).await;
        d.inbound_outcome(id).await
    }
}

async fn answered(d: &mut Donebot) -> Mail {
    d.wait_for("an answer written", |e| match e {
        Event::EmailSent {
            kind: OutboxKind::Confirmation,
            ..
        } => Some(()),
        _ => None,
    })
    .await;
    answers(d).pop().expect("an answer")
}

#[actix_rt::test]
async fn commands_in_a_members_words_are_applied_and_answered() {
    let dir = tempfile::tempdir().unwrap();
    // Wednesday 9 December 2026, noon in New York.
    let mut d = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-12-09", 12, 0)).await;
    let team = d.create_team("Engines", "America/New_York").await;
    let ada = d.add_member(team, "Ada Lovelace", ADA).await;
    let path = format!("/api/v1/teams/{team}/prompts");
    assert_eq!(d.post(&path, None).await, (200, json!({ "sent": 1 })));
    let day = "2026-12-09".parse().unwrap();
    let prompt = d
        .server
        .app
        .store
        .prompt_for_day(ada, day)
        .unwrap()
        .unwrap();
    let token = d.server.app.signer.reply_token(prompt.id, ada, day);
    let mut me = Ada {
        reply_to: format!("reply+{token}@{DOMAIN}"),
        sent: 0,
    };
    let paused_until = |m: serde_json::Value| (m["state"].clone(), m["paused_until"].clone());

    // "Pause till Friday": through this Friday, said exactly.
    let now_paused = Ok(format!("member {ada} is now paused"));
    assert_eq!(me.says(&mut d, "Pause till Friday").await, now_paused);
    assert_eq!(
        paused_until(d.member(team, ada).await),
        (json!("paused"), json!("2026-12-11"))
    );
    let mail = answered(&mut d).await;
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some(
            "donebot: You will get no email from donebot (no daily question, no digest) through Friday 11 December 2026 (2026-12-11)"
        )
    );
    assert!(
        mail.text().contains("no daily question, no digest"),
        "{}",
        mail.text()
    );

    // "pause until next friday": the Friday of next week.
    assert_eq!(me.says(&mut d, "pause until next friday").await, now_paused);
    assert_eq!(
        paused_until(d.member(team, ada).await),
        (json!("paused"), json!("2026-12-18"))
    );
    answered(&mut d).await;

    // A day already past: refused, answered, nothing changed.
    assert_eq!(
        me.says(&mut d, "pause until 2026-12-01").await,
        Ok("pause until 2026-12-01 refused (the day has passed); answered".into())
    );
    assert_eq!(
        paused_until(d.member(team, ada).await),
        (json!("paused"), json!("2026-12-18"))
    );
    let mail = answered(&mut d).await;
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("donebot: Nothing changed: Tuesday 1 December 2026 (2026-12-01) has already passed")
    );
    assert!(
        mail.text().contains("\"pause until 2026-12-16\""),
        "{}",
        mail.text()
    );

    // A day that cannot be read: a question back.
    assert_eq!(
        me.says(&mut d, "pause until the cows come home").await,
        Ok("pause not applied: cannot read \"cows come home\" as a day; asked".into())
    );
    let mail = answered(&mut d).await;
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some(
            "donebot: Until when? Nothing changed: donebot could not read \"cows come home\" as a day"
        )
    );

    // Not understood: the list of what is, once a day only.
    assert_eq!(
        me.says(&mut d, "/frobnicate").await,
        Ok("command not understood; answered".into())
    );
    let mail = answered(&mut d).await;
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("donebot: Nothing changed: donebot did not understand \"/frobnicate\"")
    );
    assert!(
        mail.text().contains("\"pause until friday\""),
        "{}",
        mail.text()
    );
    let before = answers(&d).len();
    assert_eq!(
        me.says(&mut d, "unsubscribe Bob").await,
        Ok("command not understood; already answered today".into())
    );

    // "unsubscribe please": unsubscribed, and told so.
    assert_eq!(
        me.says(&mut d, "unsubscribe please").await,
        Ok(format!("member {ada} is now unsubscribed"))
    );
    assert_eq!(d.member(team, ada).await["state"], json!("unsubscribed"));
    let mail = answered(&mut d).await;
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("donebot: You are unsubscribed: donebot sends you nothing more")
    );
    // The second "not understood" wrote nothing; the unsubscribe answer is the only new one.
    assert_eq!(answers(&d).len(), before + 1);

    // None of these replies was recorded as a done.
    assert_eq!(
        d.dones(team, "2026-12-09").await,
        Vec::<serde_json::Value>::new()
    );
    d.stop().await;
}
