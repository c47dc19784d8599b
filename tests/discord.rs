//! Discord end to end: donebot with its Discord channel against the fake Discord (the real
//! serenity client on the gateway and REST), on a manual clock. A member links with a code in a
//! DM, gets the prompt by DM, replies there (edits and deletions followed, a dropped gateway
//! connection resumed without loss), and the team's channel gets the digest.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bots::discord::fake::{FakeDiscord, FakeUser, Slash};
use bots::discord::{DiscordConfig, DiscordTuning};
use common::{Donebot, NEW_YORK, WAIT, local};

async fn start(data: &std::path::Path, fake: &FakeDiscord) -> Donebot {
    let config = DiscordConfig {
        token: fake.token().to_owned(),
        api_url: Some(fake.api_url().to_owned()),
        tuning: DiscordTuning {
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(10),
            ..DiscordTuning::default()
        },
    };
    Donebot::start_with(data, None, local(NEW_YORK, "2026-03-09", 12, 0), move |s| {
        s.channels = vec![Arc::new(config.clone())];
    })
    .await
}

/// The team's dones of `day`, sorted, once `want` of them are there (dones are recorded after
/// the gateway's dispatch, so the test waits on the recording, not on time).
async fn dones_when(d: &mut Donebot, team: u64, day: &str, want: &[&str]) -> Vec<String> {
    tokio::time::timeout(WAIT, async {
        loop {
            let mut texts: Vec<String> = d
                .dones(team, day)
                .await
                .iter()
                .map(|x| {
                    assert_eq!(x["source"], "discord", "{x}");
                    x["text"].as_str().unwrap().to_owned()
                })
                .collect();
            texts.sort();
            if texts == want {
                return texts;
            }
            let _ = d.events.recv().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the dones became {want:?}"))
}

#[actix_rt::test]
async fn link_prompt_reply_edit_resume_and_the_digest() {
    let fake = FakeDiscord::start().await.unwrap();
    let ada = FakeUser::new(2001, "ada");
    fake.add_user(&ada);
    let channel = fake.add_channel();
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path(), &fake).await;
    tokio::time::timeout(WAIT, fake.wait_gateway(|s| s.identifies >= 1))
        .await
        .expect("donebot connects to the gateway");
    let team = d.create_team("Core", "America/New_York").await;
    let member = d.add_member(team, "Ada", "ada@example.com").await;

    // Linking: the code from the API, pasted into a DM to the bot.
    let (status, v) = d
        .post(
            &format!("/api/v1/teams/{team}/members/{member}/link-codes"),
            Some(serde_json::json!({"channel": "discord"})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    fake.dm(&ada, v["code"].as_str().unwrap(), None);
    let linked = tokio::time::timeout(WAIT, fake.wait_posted(1))
        .await
        .unwrap();
    assert!(linked[0].content.contains("linked"), "{linked:?}");
    assert_eq!(
        d.member(team, member).await["accounts"][0]["channel"],
        "discord"
    );
    let (status, v) = d
        .patch(
            &format!("/api/v1/teams/{team}"),
            serde_json::json!({"discord_channel_id": channel.to_string()}),
        )
        .await;
    assert_eq!(status, 200, "{v}");

    // The prompt by DM at 18:00; a reply, then an edit of it.
    d.set_clock(local(NEW_YORK, "2026-03-09", 18, 0)).await;
    let prompt = tokio::time::timeout(WAIT, fake.wait_posted(2))
        .await
        .unwrap()[1]
        .clone();
    assert_eq!(prompt.recipient, Some(ada.id), "{prompt:?}");
    assert!(
        prompt.content.contains("What did you get done today?"),
        "{prompt:?}"
    );
    let reply = fake.dm(
        &ada,
        "shipped the discord channel\nfixed @everyone pings",
        Some(prompt.id),
    );
    dones_when(
        &mut d,
        team,
        "2026-03-09",
        &["fixed @everyone pings", "shipped the discord channel"],
    )
    .await;
    fake.edit(reply, "shipped the Discord channel");
    dones_when(&mut d, team, "2026-03-09", &["shipped the Discord channel"]).await;

    // The gateway connection drops mid-conversation: serenity resumes, nothing is lost.
    fake.drop_connection();
    let extra = fake.dm(&ada, "reviewed the resume", None);
    tokio::time::timeout(WAIT, fake.wait_gateway(|s| s.resumes >= 1))
        .await
        .expect("a RESUME");
    dones_when(
        &mut d,
        team,
        "2026-03-09",
        &["reviewed the resume", "shipped the Discord channel"],
    )
    .await;
    // A deleted message takes its dones with it.
    fake.delete(extra);
    dones_when(&mut d, team, "2026-03-09", &["shipped the Discord channel"]).await;

    // A slash command: acknowledged at once (deferred, ephemeral), the done created once, and the
    // app's answer as the interaction's follow-up.
    let interaction = fake.slash(&ada, &Slash::new("done", &[("text", "answered by slash")]));
    dones_when(
        &mut d,
        team,
        "2026-03-09",
        &["answered by slash", "shipped the Discord channel"],
    )
    .await;
    let follow_ups = tokio::time::timeout(WAIT, fake.wait_follow_ups(1))
        .await
        .unwrap();
    assert_eq!(
        follow_ups[0].interaction,
        Some(interaction),
        "{follow_ups:?}"
    );
    assert!(follow_ups[0].content.contains("1 done"), "{follow_ups:?}");
    assert!(
        fake.callbacks()
            .iter()
            .any(|(id, body)| *id == interaction && body["type"] == 5),
        "a deferred ack: {:?}",
        fake.callbacks()
    );

    // The digest next morning in the team's channel, pinging nobody.
    d.set_clock(local(NEW_YORK, "2026-03-10", 9, 0)).await;
    let digest = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(p) = fake.posted().into_iter().find(|p| p.channel_id == channel) {
                return p;
            }
            fake.wait_posted(fake.posted().len() + 1).await;
        }
    })
    .await
    .expect("the digest in the team's channel");
    assert!(digest.content.contains("What Core got done"), "{digest:?}");
    assert!(
        digest.content.contains("shipped the Discord channel"),
        "{digest:?}"
    );
    assert_eq!(
        digest.body["allowed_mentions"]["parse"],
        serde_json::json!([])
    );
    d.stop().await;
}
