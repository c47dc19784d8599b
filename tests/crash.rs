//! Crash safety of the real binary: a reply acknowledged with `250` survives a SIGKILL that comes
//! right after the acknowledgement, and after a restart it is recorded exactly once. A graceful stop
//! (SIGTERM) exits 0 and removes `DATA/control.json`.

mod common;

use chrono::{Days, NaiveDate, Utc};
use common::process::{Serve, ok};
use common::{DOMAIN, NEW_YORK, plain_mail, smtp_send};
use storage::Store;

const ADA: &str = "ada@example.org";

/// The dones of team 1 around New York's today, through the running server's API.
async fn dones_now(http: &reqwest::Client, web: &str, token: &str) -> Vec<serde_json::Value> {
    let today = Utc::now().with_timezone(&NEW_YORK).date_naive();
    let (from, to) = (today - Days::new(1), today + Days::new(1));
    let resp = http
        .get(format!(
            "http://{web}/api/v1/teams/Engines/dones?from={from}&to={to}&limit=1000"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut page: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(page["next"], serde_json::Value::Null, "one page holds them");
    serde_json::from_value(page["items"].take()).unwrap()
}

#[tokio::test]
async fn an_acknowledged_reply_survives_sigkill_and_is_recorded_once() {
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
            "member", "add", "Engines", ADA, "--name", "Ada", "--data", data_arg,
        ],
    );
    let token = ok(cwd, &["token", "create", "--admin", "--data", data_arg])
        .last_word()
        .to_string();
    assert!(token.starts_with("dbt_"), "{token}");

    // A reply without a prompt, from Ada's address: it belongs to her local today.
    let server = Serve::start(&data);
    assert!(data.join("control.json").exists());
    let to = format!("donebot@{DOMAIN}");
    let raw = common::authenticated(plain_mail(
        ADA,
        &to,
        "ada-crash@mail.example.org",
        "Survived the crash #ops",
    ));
    assert_eq!(smtp_send(server.smtp_port, ADA, &to, &raw).await, Ok(250));
    server.kill();
    assert!(
        data.join("control.json").exists(),
        "a killed server cannot clean up"
    );

    // Restarted on the same data: the done is there, once.
    let server = Serve::start(&data);
    let http = reqwest::Client::builder()
        .timeout(common::WAIT)
        .build()
        .unwrap();
    let dones = tokio::time::timeout(common::WAIT, async {
        loop {
            let dones = dones_now(&http, &server.web, &token).await;
            if !dones.is_empty() {
                return dones;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the done appears after the restart");
    assert_eq!(dones.len(), 1, "{dones:?}");
    assert_eq!(dones[0]["text"], "Survived the crash #ops");
    assert_eq!(dones[0]["tags"], serde_json::json!(["ops"]));

    // Graceful stop: exit 0, control file gone.
    let status = server.terminate();
    assert_eq!(status.code(), Some(0));
    assert!(!data.join("control.json").exists());

    // On disk: nothing pending, exactly one done, from one inbound record.
    let store = Store::open(&data).unwrap();
    assert_eq!(store.pending_inbound().unwrap(), Vec::<u64>::new());
    assert_eq!(store.inbound_list(false, 10).unwrap().len(), 1);
    let day: NaiveDate = dones[0]["date"].as_str().unwrap().parse().unwrap();
    let team = store.find_team("Engines").unwrap();
    assert_eq!(store.team_dones(team.id, day, day).unwrap().len(), 1);
}
