//! The Discord channel end to end: the real serenity client (REST and gateway) against the fake
//! Discord on 127.0.0.1.
//!
//! Each test starts a `FakeDiscord`, a `DiscordChannel` pointed at it and a scripted sink standing
//! in for the app, and waits on notifications (a posted message, a received event, a gateway
//! counter), never on sleeps. Every test is bounded by `within`. The only real waits are the ones
//! the code under test takes: the `retry_after` of a 429 (half a second here), a bucket's reset,
//! serenity's heartbeat interval (200 ms where heartbeats are the point) and its own pause before
//! it identifies again after op 9 or a zombied connection (up to 5 s).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Actor, Addr, Context, Handler, ResponseFuture};
use bots::bus::{
    ChatAnswer, ChatEvent, ChatReceiveError, ChatReceived, ChatSendError, Digest, DigestLine,
    DigestSection, Outgoing, OutgoingBody,
};
use bots::channel::ChatChannel;
use bots::discord::fake::{Endpoint, FAKE_BOT_ID, FakeDiscord, FakeUser, Fault, Limits, Slash};
use bots::discord::{DiscordChannel, DiscordConfig, DiscordTuning, MAX_CONTENT_LEN};
use chrono::NaiveDate;
use tokio::sync::watch;

async fn within<T>(test: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(40), test)
        .await
        .expect("the test took longer than 40 s")
}

/// What the scripted app answers to the next event.
#[derive(Debug, Clone)]
enum Script {
    Reply(Option<String>),
    Transient,
}

struct Sink {
    seen: Arc<Mutex<Vec<ChatReceived>>>,
    count: watch::Sender<usize>,
    script: Arc<Mutex<VecDeque<Script>>>,
}

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<ChatReceived> for Sink {
    type Result = ResponseFuture<Result<ChatAnswer, ChatReceiveError>>;

    fn handle(&mut self, msg: ChatReceived, _: &mut Self::Context) -> Self::Result {
        let next = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Script::Reply(None));
        if let Script::Reply(_) = next {
            let n = {
                let mut seen = self.seen.lock().unwrap();
                seen.push(msg);
                seen.len()
            };
            self.count.send_replace(n);
        }
        Box::pin(async move {
            match next {
                Script::Reply(reply) => Ok(ChatAnswer { reply }),
                Script::Transient => Err(ChatReceiveError::Transient("storage busy".into())),
            }
        })
    }
}

/// The app's side: what it took, in order.
struct App {
    addr: Addr<Sink>,
    seen: Arc<Mutex<Vec<ChatReceived>>>,
    count: watch::Receiver<usize>,
}

impl App {
    fn start(script: Vec<Script>) -> App {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (count, rx) = watch::channel(0);
        let addr = Sink {
            seen: seen.clone(),
            count,
            script: Arc::new(Mutex::new(VecDeque::from(script))),
        }
        .start();
        App {
            addr,
            seen,
            count: rx,
        }
    }

    async fn wait(&mut self, n: usize) -> Vec<ChatReceived> {
        self.count.wait_for(|c| *c >= n).await.unwrap();
        self.seen.lock().unwrap().clone()
    }

    fn seen(&self) -> Vec<ChatReceived> {
        self.seen.lock().unwrap().clone()
    }
}

fn config(fake: &FakeDiscord) -> DiscordConfig {
    DiscordConfig {
        token: fake.token().to_owned(),
        api_url: Some(fake.api_url().to_owned()),
        tuning: DiscordTuning {
            max_attempts: 3,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(10),
            rate_limit_patience: Duration::from_secs(5),
            ..DiscordTuning::default()
        },
    }
}

/// A fake, the channel connected to it (READY seen, commands registered) and the app.
async fn setup(limits: Limits) -> (FakeDiscord, Arc<DiscordChannel>, App) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let fake = FakeDiscord::with_limits(limits).await.unwrap();
    let app = App::start(Vec::new());
    let channel = DiscordChannel::new(&config(&fake), app.addr.clone().recipient())
        .unwrap()
        .start();
    fake.wait_gateway(|s| s.identifies == 1).await;
    channel
        .commands_registered()
        .wait_for(|r| *r)
        .await
        .unwrap();
    (fake, channel, app)
}

fn ada() -> FakeUser {
    FakeUser::new(80351110224678912, "Ada")
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
}

fn prompt(key: &str, to: &str) -> Outgoing {
    Outgoing {
        key: key.into(),
        to: to.into(),
        body: OutgoingBody::Prompt {
            day: day(),
            text: "What did you get done today? Reply with one line per thing.".into(),
        },
        reply_to: None,
        answer_via: None,
    }
}

fn notice(key: &str, to: &str, text: &str, reply_to: Option<String>) -> Outgoing {
    Outgoing {
        key: key.into(),
        to: to.into(),
        body: OutgoingBody::Notice { text: text.into() },
        reply_to,
        answer_via: None,
    }
}

#[actix_rt::test]
async fn commands_are_registered_and_a_dm_prompt_is_answered_by_a_dm_reply() {
    within(async {
        let (fake, channel, mut app) = setup(Limits::default()).await;
        let names: Vec<String> = fake
            .commands()
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["done", "undo", "pause", "resume", "link"]);

        let to = format!("user:{}", ada().id);
        let sent = channel
            .send(prompt("prompt:1:2026-11-24:discord", &to))
            .await
            .unwrap();
        let posted = fake.posted();
        assert_eq!(posted.len(), 1);
        assert_eq!(posted[0].recipient, Some(ada().id));
        assert_eq!(posted[0].channel_id, fake.dm_channel_of(ada().id));
        assert_eq!(
            posted[0].body["allowed_mentions"],
            serde_json::json!({"parse": []})
        );
        assert!(
            posted[0]
                .content
                .starts_with("What did you get done today?")
        );
        assert_eq!(sent.message_ids, vec![posted[0].id.to_string()]);
        // Sent once while running: the same key answers as before without posting again.
        let again = channel
            .send(prompt("prompt:1:2026-11-24:discord", &to))
            .await
            .unwrap();
        assert_eq!(again, sent);
        assert_eq!(fake.posted().len(), 1);

        let reply = fake.dm(&ada(), "shipped the release\nfixed #42", Some(posted[0].id));
        let got = app.wait(1).await;
        let r = &got[0];
        assert_eq!(r.channel, "discord");
        assert_eq!(r.event, ChatEvent::Message);
        assert_eq!(
            (r.message_id.clone(), r.update_id.clone()),
            (reply.to_string(), reply.to_string())
        );
        assert_eq!(r.chat_id, to);
        assert_eq!(r.user_id, ada().id.to_string());
        assert_eq!(r.user_name, "Ada");
        assert!(r.private);
        assert_eq!(r.text, "shipped the release\nfixed #42");
        assert_eq!(r.reply_to, Some(posted[0].id.to_string()));
        // The answer the app queues goes back as a reply to that message, in the same DM.
        channel
            .send(notice(
                "reply:discord:1",
                &r.chat_id,
                "Got it: 2 dones",
                Some(r.message_id.clone()),
            ))
            .await
            .unwrap();
        let posted = fake.posted();
        assert_eq!(posted[1].channel_id, posted[0].channel_id);
        assert_eq!(
            posted[1].body["message_reference"]["message_id"],
            reply.to_string()
        );
    })
    .await;
}

#[actix_rt::test]
async fn edits_and_deletions_follow_the_message_and_bots_are_ignored() {
    within(async {
        let (fake, _channel, mut app) = setup(Limits::default()).await;
        // Another bot, and donebot itself, writing in a DM: never the app's business.
        fake.dm(&FakeUser::bot(90000000000000001, "otherbot"), "beep", None);
        fake.dm(
            &FakeUser::bot(FAKE_BOT_ID, "donebot"),
            "What did you get done?",
            None,
        );
        let id = fake.dm(&ada(), "shipped", None);
        fake.edit(id, "shipped the release");
        fake.delete(id);
        let got = app.wait(3).await;
        let events: Vec<_> = got
            .iter()
            .map(|r| (r.event, r.message_id.clone(), r.text.clone()))
            .collect();
        assert_eq!(
            events,
            vec![
                (ChatEvent::Message, id.to_string(), "shipped".to_owned()),
                (
                    ChatEvent::Edit,
                    id.to_string(),
                    "shipped the release".to_owned()
                ),
                (ChatEvent::Delete, id.to_string(), String::new()),
            ]
        );
        assert!(got.iter().all(
            |r| r.user_id == ada().id.to_string() && r.chat_id == format!("user:{}", ada().id)
        ));
        // One more message proves nothing else was on its way.
        fake.dm(&ada(), "later", None);
        assert_eq!(app.wait(4).await.len(), 4);
        assert_eq!(app.seen()[3].text, "later");
    })
    .await;
}

#[actix_rt::test]
async fn a_dropped_connection_resumes_and_nothing_is_lost_or_repeated() {
    within(async {
        let (fake, _channel, mut app) = setup(Limits::default()).await;
        fake.dm(&ada(), "one", None);
        app.wait(1).await;
        // The next RESUME replays what the client already handled, too: it must not count twice.
        fake.replay_extra_on_resume(3);
        fake.drop_connection();
        // Written while the connection is down: in the session's log, replayed on RESUME.
        fake.dm(&ada(), "two", None);
        let id = fake.dm(&ada(), "three", None);
        fake.edit(id, "three, edited");
        let stats = fake.wait_gateway(|s| s.resumes == 1).await;
        assert_eq!(stats.identifies, 1, "resumed, not identified again");
        app.wait(4).await;
        fake.dm(&ada(), "four", None);
        let got = app.wait(5).await;
        let texts: Vec<&str> = got.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "three", "three, edited", "four"]);
        assert_eq!(app.seen().len(), 5);
    })
    .await;
}

#[actix_rt::test]
async fn op_7_reconnect_resumes_and_op_9_identifies_again() {
    within(async {
        let (fake, _channel, mut app) = setup(Limits::default()).await;
        fake.request_reconnect();
        fake.wait_gateway(|s| s.resumes == 1).await;
        fake.dm(&ada(), "after op 7", None);
        assert_eq!(app.wait(1).await[0].text, "after op 7");

        // Not resumable: the session is gone; serenity identifies again (after its pause).
        fake.invalidate_session(false);
        fake.dm(&ada(), "after op 9", None);
        let stats = fake.wait_gateway(|s| s.identifies == 2).await;
        assert_eq!(stats.resumes, 1);
        assert_eq!(app.wait(2).await[1].text, "after op 9");
    })
    .await;
}

#[actix_rt::test]
async fn heartbeats_are_sent_and_acknowledged() {
    within(async {
        let fake = FakeDiscord::start().await.unwrap();
        fake.set_heartbeat_interval(Duration::from_millis(200));
        let app = App::start(Vec::new());
        let _channel = DiscordChannel::new(&config(&fake), app.addr.clone().recipient())
            .unwrap()
            .start();
        let stats = fake.wait_gateway(|s| s.heartbeats >= 3).await;
        // Every heartbeat was acknowledged: the client never had to reconnect.
        assert_eq!(
            (stats.connections, stats.identifies, stats.resumes),
            (1, 1, 0)
        );
    })
    .await;
}

#[actix_rt::test]
async fn a_slash_command_is_acknowledged_then_answered_once() {
    within(async {
        let fake = FakeDiscord::start().await.unwrap();
        let mut app = App::start(vec![Script::Reply(Some("Recorded: shipped it".into()))]);
        let channel = DiscordChannel::new(&config(&fake), app.addr.clone().recipient())
            .unwrap()
            .start();
        fake.wait_gateway(|s| s.identifies == 1).await;

        // The app answers in its reply: the channel follows up at once.
        let id = fake.slash(&ada(), &Slash::new("done", &[("text", "shipped it")]));
        let got = app.wait(1).await;
        assert_eq!(got[0].text, "/done shipped it");
        assert_eq!(got[0].update_id, id.to_string());
        assert_eq!(got[0].chat_id, format!("user:{}", ada().id));
        let follow_ups = fake.wait_follow_ups(1).await;
        assert_eq!(follow_ups[0].content, "Recorded: shipped it");
        assert_eq!(follow_ups[0].interaction, Some(id));
        assert_eq!(follow_ups[0].body["flags"].as_u64().unwrap() & 64, 64);
        let callbacks = fake.callbacks();
        assert_eq!(
            callbacks,
            vec![(id, serde_json::json!({"type": 5, "data": {"flags": 64}}))]
        );

        // The app answers through its outbox (as donebot does): the reply to the interaction
        // becomes its follow-up, once, however often the outbox asks.
        let id = fake.slash(&ada(), &Slash::new("undo", &[]));
        let got = app.wait(2).await;
        assert_eq!(got[1].text, "/undo");
        let reply = notice(
            "reply:discord:77",
            &got[1].chat_id,
            "Removed: shipped it",
            Some(got[1].message_id.clone()),
        );
        let first = channel.send(reply.clone()).await.unwrap();
        let second = channel.send(reply).await.unwrap();
        assert_eq!(first, second);
        let follow_ups = fake.follow_ups();
        assert_eq!(follow_ups.len(), 2);
        assert_eq!(
            (follow_ups[1].interaction, follow_ups[1].content.as_str()),
            (Some(id), "Removed: shipped it")
        );
        assert!(fake.posted().is_empty(), "nothing went to the DM");
        assert_eq!(fake.callbacks().len(), 2);

        // A replayed INTERACTION_CREATE is not acknowledged nor handed over again.
        fake.replay_extra_on_resume(2);
        fake.drop_connection();
        fake.wait_gateway(|s| s.resumes == 1).await;
        fake.slash(&ada(), &Slash::new("pause", &[("until", "2026-12-24")]));
        let got = app.wait(3).await;
        assert_eq!(got[2].text, "/pause until 2026-12-24");
        assert_eq!(fake.callbacks().len(), 3);
        assert_eq!(app.seen().len(), 3);
    })
    .await;
}

#[actix_rt::test]
async fn link_codes_reach_the_app_as_start_commands() {
    within(async {
        let (fake, _channel, mut app) = setup(Limits::default()).await;
        fake.dm(&ada(), "ABCD2EFGH3IJKL4MNOP5QRST", None);
        fake.slash(
            &ada(),
            &Slash::new("link", &[("code", "abcd2efgh3ijkl4mnop5qrsu")]),
        );
        let got = app.wait(2).await;
        let mut texts: Vec<&str> = got.iter().map(|r| r.text.as_str()).collect();
        texts.sort();
        assert_eq!(
            texts,
            [
                "/start abcd2efgh3ijkl4mnop5qrst",
                "/start abcd2efgh3ijkl4mnop5qrsu"
            ]
        );
        assert!(
            got.iter()
                .all(|r| r.chat_id == format!("user:{}", ada().id))
        );
    })
    .await;
}

#[actix_rt::test]
async fn a_transient_answer_of_the_app_is_retried_and_counted_once() {
    within(async {
        let fake = FakeDiscord::start().await.unwrap();
        let mut app = App::start(vec![Script::Transient, Script::Transient]);
        let _channel = DiscordChannel::new(&config(&fake), app.addr.clone().recipient())
            .unwrap()
            .start();
        fake.wait_gateway(|s| s.identifies == 1).await;
        fake.dm(&ada(), "shipped", None);
        fake.dm(&ada(), "and more", None);
        let got = app.wait(2).await;
        let mut texts: Vec<&str> = got.iter().map(|r| r.text.as_str()).collect();
        texts.sort();
        assert_eq!(texts, ["and more", "shipped"]);
    })
    .await;
}

#[actix_rt::test]
async fn rate_limits_are_honoured_per_route_and_globally() {
    within(async {
        let (fake, channel, _app) = setup(Limits {
            route_limit: 2,
            route_window: Duration::from_millis(800),
            ..Limits::default()
        })
        .await;
        let to = format!("user:{}", ada().id);
        // A 429 on one route: the retry waits Discord's retry_after.
        fake.fail_next(
            Endpoint::Messages,
            Fault::RateLimited {
                retry_after: 0.5,
                global: false,
            },
        );
        channel.send(prompt("p1", &to)).await.unwrap();
        let messages: Vec<_> = fake
            .requests()
            .into_iter()
            .filter(|r| r.endpoint == Endpoint::Messages)
            .collect();
        assert_eq!(
            messages.iter().map(|r| r.status).collect::<Vec<_>>(),
            [429, 200]
        );
        assert!(messages[1].at - messages[0].at >= Duration::from_millis(500));

        // The bucket's headers: two sends per 0.8 s to a channel; the third waits for the reset
        // rather than meeting a 429.
        let before = fake.requests().len();
        let (a, b, c) = tokio::join!(
            channel.send(prompt("p2", &to)),
            channel.send(prompt("p3", &to)),
            channel.send(prompt("p4", &to)),
        );
        for r in [a, b, c] {
            r.unwrap();
        }
        assert_eq!(fake.too_many_requests(), 0);
        let times: Vec<_> = fake.requests()[before..].iter().map(|r| r.at).collect();
        assert_eq!(times.len(), 3);
        assert!(
            times[2] - times[0] >= Duration::from_millis(700),
            "{:?}",
            times[2] - times[0]
        );

        // A global 429 holds every route, this one's and another's.
        let other = FakeUser::new(80351110224678913, "Grace");
        fake.fail_next(
            Endpoint::DmChannels,
            Fault::RateLimited {
                retry_after: 0.5,
                global: true,
            },
        );
        channel
            .send(prompt("p9", &format!("user:{}", other.id)))
            .await
            .unwrap();
        let dm: Vec<_> = fake
            .requests()
            .into_iter()
            .filter(|r| r.endpoint == Endpoint::DmChannels)
            .collect();
        assert_eq!(
            dm.iter().map(|r| r.status).collect::<Vec<_>>(),
            [200, 429, 200]
        );
        assert!(dm[2].at - dm[1].at >= Duration::from_millis(500));

        // Beyond the patience: the outbox is told when to try again.
        fake.fail_next(
            Endpoint::Messages,
            Fault::RateLimited {
                retry_after: 60.0,
                global: false,
            },
        );
        let err = channel.send(prompt("p10", &to)).await.unwrap_err();
        assert_eq!(
            err,
            ChatSendError::RateLimited {
                retry_after_secs: 60
            }
        );
    })
    .await;
}

#[actix_rt::test]
async fn discord_errors_map_to_the_outbox_answers() {
    within(async {
        let (fake, channel, _app) = setup(Limits::default()).await;
        fake.close_dms(ada().id);
        let err = channel
            .send(prompt("p1", &format!("user:{}", ada().id)))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ChatSendError::Blocked(ref why) if why.contains("50007")),
            "{err:?}"
        );
        // Final: asking again answers the same without a call.
        let calls = fake.requests().len();
        assert_eq!(
            channel
                .send(prompt("p1", &format!("user:{}", ada().id)))
                .await
                .unwrap_err(),
            err
        );
        assert_eq!(fake.requests().len(), calls);

        let err = channel
            .send(notice("n1", "1180000000000009999", "hi", None))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ChatSendError::Blocked(ref why) if why.contains("10003")),
            "{err:?}"
        );

        let digest_channel = fake.add_channel().to_string();
        fake.fail_next(Endpoint::Messages, Fault::ServerError(502));
        fake.fail_next(Endpoint::Messages, Fault::Drop);
        channel
            .send(notice("n2", &digest_channel, "after two failures", None))
            .await
            .unwrap();
        for _ in 0..3 {
            fake.fail_next(Endpoint::Messages, Fault::ServerError(503));
        }
        let err = channel
            .send(notice("n3", &digest_channel, "down", None))
            .await
            .unwrap_err();
        assert!(matches!(err, ChatSendError::Transient(_)), "{err:?}");
        let err = channel
            .send(notice("n4", "C024BE91L", "x", None))
            .await
            .unwrap_err();
        assert!(matches!(err, ChatSendError::Permanent(_)), "{err:?}");
    })
    .await;
}

#[actix_rt::test]
async fn a_digest_is_split_within_the_limits_and_pings_nobody() {
    within(async {
        let (fake, channel, _app) = setup(Limits {
            route_limit: 50,
            ..Limits::default()
        })
        .await;
        let to = fake.add_channel().to_string();
        let digest = Digest {
            team: "core".into(),
            from: day(),
            to: day(),
            title: "What Core got done on Tuesday, November 24".into(),
            sections: (0..40)
                .map(|i| DigestSection {
                    member: format!("Member {i}"),
                    lines: (0..3)
                        .map(|j| DigestLine {
                            kind: "done".into(),
                            text: format!(
                                "@everyone <@&1234> **shipped** thing {i}.{j} {}",
                                "x".repeat(60)
                            ),
                        })
                        .collect(),
                })
                .collect(),
            quiet: vec!["Bob".into()],
        };
        let sent = channel
            .send(Outgoing {
                key: "digest:core:2026-11-24:discord".into(),
                to: to.clone(),
                body: OutgoingBody::Digest(digest),
                reply_to: None,
                answer_via: None,
            })
            .await
            .unwrap();
        let posted = fake.posted();
        assert!(posted.len() > 2, "{}", posted.len());
        assert_eq!(sent.message_ids.len(), posted.len());
        for p in &posted {
            assert_eq!(p.channel_id.to_string(), to);
            assert!(p.content.chars().count() <= MAX_CONTENT_LEN);
            assert_eq!(p.body["allowed_mentions"], serde_json::json!({"parse": []}));
            assert!(
                !p.content.replace("\\@everyone", "").contains("@everyone"),
                "{}",
                p.content
            );
            assert!(
                !p.content.replace("\\<\\@&1234\\>", "").contains("<@&"),
                "{}",
                p.content
            );
        }
        let all: String = posted
            .iter()
            .map(|p| p.content.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(all.matches("• \\@everyone").count(), 120);
        assert!(all.ends_with("**No answer from**\n• Bob"));
    })
    .await;
}

#[actix_rt::test]
async fn an_answer_whose_interaction_token_is_refused_goes_to_the_dm() {
    within(async {
        let (fake, channel, mut app) = setup(Limits::default()).await;
        let id = fake.slash(&ada(), &Slash::new("resume", &[]));
        let got = app.wait(1).await;
        assert_eq!(got[0].text, "/resume");
        fake.wait_for(|f| f.callbacks().len() == 1).await;
        fake.fail_next(
            Endpoint::FollowUp,
            Fault::Error {
                status: 404,
                code: 10015,
                message: "Unknown Webhook".into(),
            },
        );
        let reply = notice(
            "reply:discord:9",
            &got[0].chat_id,
            "Prompts are back on.",
            Some(id.to_string()),
        );
        channel.send(reply).await.unwrap();
        assert!(fake.follow_ups().is_empty());
        let posted = fake.posted();
        assert_eq!(posted.len(), 1);
        assert_eq!(posted[0].recipient, Some(ada().id));
        assert_eq!(posted[0].content, "Prompts are back on.");
        assert!(posted[0].body.get("message_reference").is_none());
    })
    .await;
}

#[actix_rt::test]
async fn a_slash_command_in_a_server_channel_is_answered_privately() {
    within(async {
        let fake = FakeDiscord::start().await.unwrap();
        let mut app = App::start(vec![Script::Reply(Some("Recorded: reviewed".into()))]);
        let _channel = DiscordChannel::new(&config(&fake), app.addr.clone().recipient())
            .unwrap()
            .start();
        fake.wait_gateway(|s| s.identifies == 1).await;
        let server_channel = fake.add_channel();
        let mut command = Slash::new("done", &[("text", "reviewed @here's PRs")]);
        command.in_guild = true;
        let id = fake.slash(&ada(), &command);
        let got = app.wait(1).await;
        assert!(!got[0].private);
        // The member is addressed by their DM, never by the server channel.
        assert_eq!(got[0].chat_id, format!("user:{}", ada().id));
        assert_eq!(got[0].text, "/done reviewed @here's PRs");
        let follow_ups = fake.wait_follow_ups(1).await;
        assert_eq!(follow_ups[0].interaction, Some(id));
        assert!(fake.posted().iter().all(|p| p.channel_id != server_channel));
    })
    .await;
}

#[actix_rt::test]
async fn a_connection_whose_heartbeats_are_not_acknowledged_is_replaced() {
    within(async {
        let fake = FakeDiscord::start().await.unwrap();
        fake.set_heartbeat_interval(Duration::from_millis(200));
        let mut app = App::start(Vec::new());
        let _channel = DiscordChannel::new(&config(&fake), app.addr.clone().recipient())
            .unwrap()
            .start();
        fake.wait_gateway(|s| s.identifies == 1).await;
        fake.stop_acking_heartbeats();
        // serenity gives the zombied connection up and starts the shard again (a new IDENTIFY,
        // after its pause between shard starts), rather than resuming.
        let stats = fake
            .wait_gateway(|s| s.connections == 2 && s.identifies == 2)
            .await;
        assert_eq!(stats.resumes, 0);
        fake.dm(&ada(), "still here", None);
        assert_eq!(app.wait(1).await[0].text, "still here");
    })
    .await;
}
