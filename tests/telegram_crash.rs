//! Crash safety of chat messages in the real binary: a team's digest that met only 5xx answers
//! from the Bot API is owed durably; after a SIGKILL (while a send is in flight, unanswered) and a
//! restart it arrives, exactly once. Slow by nature: teloxide waits 10 s after every 5xx answer.

mod common;

use bots::telegram::fake::{FAKE_TOKEN, FakeTelegram, Fault};
use chrono::Utc;
use common::NEW_YORK;
use common::process::{Serve, ok};

#[tokio::test]
async fn a_digest_after_5xx_answers_and_a_sigkill_arrives_once_after_the_restart() {
    let fake = FakeTelegram::start().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_arg = data.to_str().unwrap();
    let cwd = tmp.path();
    ok(
        cwd,
        &[
            "team",
            "add",
            "Engines",
            "--tz",
            "America/New_York",
            "--data",
            data_arg,
        ],
    );
    ok(
        cwd,
        &[
            "member",
            "add",
            "Engines",
            "ada@example.org",
            "--name",
            "Ada",
            "--data",
            data_arg,
        ],
    );
    let token = ok(cwd, &["token", "create", "--admin", "--data", data_arg])
        .last_word()
        .to_string();
    let env = [
        ("DONEBOT_TELEGRAM__TOKEN", FAKE_TOKEN),
        ("DONEBOT_TELEGRAM__API_URL", fake.api_url()),
        ("DONEBOT_TELEGRAM__BACKOFF_MS", "1"),
        ("DONEBOT_OUTBOX__FIRST_RETRY_SECONDS", "1"),
    ];
    // Every send fails with a 5xx until the test says otherwise.
    fake.fail_next("sendMessage", 1_000_000, Fault::ServerError(502));
    let server = Serve::start_with(&data, &env);
    let http = reqwest::Client::builder()
        .timeout(common::WAIT)
        .build()
        .unwrap();
    let api = |path: &str| format!("http://{}/api/v1/teams/Engines{path}", server.web);
    let resp = http
        .patch(api(""))
        .bearer_auth(&token)
        .json(&serde_json::json!({"telegram_chat_id": -100_123}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let today = Utc::now().with_timezone(&NEW_YORK).date_naive();
    let resp = http
        .post(api("/digests"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"date": today.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Refused, and tried again (teloxide waits 10 s after each 5xx answer): the SIGKILL comes
    // while the digest is in flight, owed and unanswered.
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        fake.wait_calls("sendMessage", 2),
    )
    .await
    .expect("the digest is tried again");
    assert!(fake.sent().is_empty());
    server.kill();

    fake.clear_faults();
    let server = Serve::start_with(&data, &env);
    let digest = tokio::time::timeout(common::WAIT, fake.wait_sent(1))
        .await
        .expect("the digest arrives after the restart");
    assert_eq!(digest[0].chat_id, "-100123");
    assert!(
        digest[0].text.contains("What Engines got done"),
        "{}",
        digest[0].text
    );
    // A graceful stop drains the outbox: nothing else was owed to the group.
    assert_eq!(server.terminate().code(), Some(0));
    let to_group: Vec<_> = fake
        .sent()
        .into_iter()
        .filter(|m| m.chat_id == "-100123")
        .collect();
    assert_eq!(to_group.len(), 1, "exactly once: {to_group:#?}");
    let store = storage::Store::open(&data).unwrap();
    let chat: Vec<_> = store
        .outbox_list(None, 100)
        .unwrap()
        .into_iter()
        .filter(|m| m.channel == storage::Channel::Telegram)
        .collect();
    assert_eq!(chat.len(), 1);
    assert!(
        matches!(chat[0].state, storage::OutboxState::Sent { .. }),
        "{:?}",
        chat[0]
    );
}
