//! The in-memory chat channel in tests: its messages and linking a member to it.

use bots::bus::{Outgoing, OutgoingBody};
use bots::memory::MemoryHub;

use super::{Donebot, WAIT};

/// The `n`th message the hub got (1-based), once it has.
pub async fn nth(hub: &MemoryHub, n: usize) -> Outgoing {
    let mut sent = tokio::time::timeout(WAIT, hub.wait_sent(n))
        .await
        .unwrap_or_else(|_| panic!("message {n} in time; sent: {:#?}", hub.sent()));
    sent.truncate(n);
    sent.pop().expect("n >= 1")
}

/// What a message says (a digest: its title).
pub fn text(m: &Outgoing) -> String {
    match &m.body {
        OutgoingBody::Prompt { text, .. } | OutgoingBody::Notice { text } => text.clone(),
        OutgoingBody::Digest(d) => d.title.clone(),
    }
}

/// Links `member` to the hub's user `user`, whose DM with the bot is `dm`: a code from the API,
/// like any channel's, sent to the bot; the link answer is the hub's next message.
pub async fn link(d: &Donebot, hub: &MemoryHub, team: u64, member: u64, user: &str, dm: &str) {
    let (status, v) = d
        .post(
            &format!("/api/v1/teams/{team}/members/{member}/link-codes"),
            Some(serde_json::json!({"channel": "memory"})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let code = v["code"].as_str().unwrap().to_string();
    assert_eq!(v["link"], format!("memory://{}/start/{code}", hub.name()));
    let before = hub.sent().len();
    // On this platform the user id and the DM's id differ.
    hub.say(user, dm, &format!("/start {code}")).await.unwrap();
    let answer = nth(hub, before + 1).await;
    assert!(text(&answer).contains("linked"), "{answer:?}");
    assert_eq!(answer.to, dm);
}
