//! Signed Slack events, accepted and processed end to end: `cargo bench --bench slack_events`.
//!
//! A whole donebot in-process (real clock, loopback, a fresh data directory) with its Slack channel
//! pointed at the fake Slack; a team of `MEMBERS` members, each found in Slack by email as in
//! production. Then `EVENTS` DM messages are posted to `/slack/events` as Slack posts them (signed,
//! one HTTP request each), from `CONCURRENCY` concurrent senders. Two clocks from the first post:
//! - *accepted*: until the last `200` (each only after the event is in the durable chat log);
//! - *processed*: until the chat log is empty and every event's dones are recorded (end to end).
//!
//! Afterwards it checks that exactly one done per event was recorded. Sizes come from the
//! environment (`EVENTS`, `CONCURRENCY`, `MEMBERS`); the figures are medians of `ROUNDS` runs.
//! Bounded: every wait gives up after a minute without progress.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bots::slack::fake::{EventsSender, FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, FakeSlack, FakeUser};
use bots::slack::{SlackConfig, SlackMode, SlackTuning};
use donebot::clock::SystemClock;
use donebot::config::Config;
use donebot::events::Event;
use donebot::server::Server;

const STALL: Duration = Duration::from_secs(60);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Round {
    accepted: Duration,
    processed: Duration,
}

async fn round(events: usize, concurrency: usize, members: usize) -> Round {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let fake = FakeSlack::start().await.expect("the fake Slack starts");
    let mut c = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    c.web.listen = "127.0.0.1:0".into();
    c.inbound_smtp.listen = String::new();
    c.email.domain = "done.example.com".into();
    let mut settings = c.validate("bench").expect("a valid config");
    settings.channels = vec![Arc::new(SlackConfig {
        bot_token: FAKE_BOT_TOKEN.into(),
        signing_secret: FAKE_SIGNING_SECRET.into(),
        api_url: Some(fake.api_url()),
        mode: SlackMode::Events,
        tuning: SlackTuning::default(),
    })];
    let server = Server::start(settings, Arc::new(SystemClock))
        .await
        .expect("donebot starts");
    let mut events_rx = server.app.events.subscribe();
    let app = server.app.clone();
    let team = app.create_team("Bench", "UTC").expect("a team");
    let users: Vec<String> = (0..members).map(|i| format!("U{i:07}")).collect();
    for (i, user) in users.iter().enumerate() {
        let email = format!("m{i}@example.com");
        fake.add_user(FakeUser::new(user, &format!("Member {i}"), &email, "UTC"));
        app.add_member(&team.name, &format!("Member {i}"), &email, None)
            .expect("a member");
    }
    // Every member found in Slack by email before the clocks start.
    let mut linked = 0;
    tokio::time::timeout(STALL, async {
        while linked < members {
            match events_rx.recv().await {
                Ok(Event::AccountsLookedUp { linked: l, .. }) => linked += l.len(),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream: {e}"),
            }
        }
    })
    .await
    .expect("members linked in time");

    let base = format!("http://{}", server.web_addr);
    let start = Instant::now();
    // One sender for all: event ids and message `ts`s are unique, as Slack's are.
    let sender = Arc::new(EventsSender::new(&base));
    let dms: Arc<Vec<String>> = Arc::new(users.iter().map(|u| fake.dm_channel(u)).collect());
    let users = Arc::new(users);
    let mut senders = Vec::new();
    for s in 0..concurrency {
        let (sender, users, fake_dm) = (Arc::clone(&sender), Arc::clone(&users), Arc::clone(&dms));
        senders.push(tokio::spawn(async move {
            let mut i = s;
            while i < events {
                let u = i % users.len();
                let d = sender
                    .message(
                        &fake_dm[u],
                        "im",
                        &users[u],
                        &format!("bench work item {i}"),
                        None,
                    )
                    .await;
                assert_eq!(d.status(), Some(200), "event {i}: {}", d.answer());
                i += concurrency;
            }
        }));
    }
    for s in senders {
        s.await.expect("a sender");
    }
    let accepted = start.elapsed();
    let store = app.store.clone();
    let mut last = (usize::MAX, Instant::now());
    loop {
        let left = store.logged_chats().expect("the chat log").len();
        if left == 0 {
            break;
        }
        if left < last.0 {
            last = (left, Instant::now());
        }
        assert!(
            last.1.elapsed() < STALL,
            "{left} events stuck in the chat log"
        );
        // A benchmark's poll of the log, not a test's wait.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let processed = start.elapsed();
    let today = chrono::Utc::now().date_naive();
    let recorded: usize = [today - chrono::Duration::days(1), today]
        .iter()
        .map(|d| store.team_dones(team.id, *d, *d).expect("dones").len())
        .sum();
    assert_eq!(recorded, events, "one done per event");
    drop(app);
    server.stop().await;
    Round {
        accepted,
        processed,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let events = env("EVENTS", 5_000);
    let concurrency = env("CONCURRENCY", 16);
    let members = env("MEMBERS", 200);
    let rounds = env("ROUNDS", 3).max(1);
    let mut accepted = Vec::new();
    let mut processed = Vec::new();
    for r in 0..rounds {
        let result = actix_rt::System::new().block_on(round(events, concurrency, members));
        let a = events as f64 / result.accepted.as_secs_f64();
        let p = events as f64 / result.processed.as_secs_f64();
        println!(
            "round {}: accepted {events} events in {:.2} s = {a:.0} events/s; processed end to end in {:.2} s = {p:.0} events/s",
            r + 1,
            result.accepted.as_secs_f64(),
            result.processed.as_secs_f64()
        );
        accepted.push(a);
        processed.push(p);
    }
    println!(
        "slack events: {events} signed events, {concurrency} concurrent senders, {members} members: median accepted {:.0} events/s, processed end to end {:.0} events/s",
        median(accepted),
        median(processed)
    );
}
