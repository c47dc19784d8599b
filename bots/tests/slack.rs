//! The Slack channel against the fake Slack on 127.0.0.1: the real slack-morphism client for the
//! Web API, and the fake's Events API sender (signing like Slack) against a small receiver that
//! stands in for donebot's routes and checks with [`SlackRequests`].
//!
//! Tests wait on notifications or on the answers of the calls they make, never on sleeps; each is
//! bounded by `within`. The only real waits are the ones the code under test takes: a `Retry-After:
//! 1` (about a second), and an ack timeout of 200 ms in the retry test (the sender's, like Slack's 3 s).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bots::slack::blocks::Section;
use bots::slack::events::{EventsRequest, SlackEvent};
use bots::slack::fake::{
    Delivery, EventsSender, FAKE_BOT_USER_ID, FAKE_SIGNING_SECRET, FakeSlack, FakeUser, Fault,
    RetryPolicy,
};
use bots::slack::{
    SignedHeaders, SlackApiError, SlackChannel, SlackConfig, SlackMode, SlackOutgoing,
    SlackRequests, SlackTuning,
};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

async fn within<T>(test: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("the test took longer than 30 s")
}

fn config(fake: &FakeSlack) -> SlackConfig {
    SlackConfig {
        bot_token: fake.bot_token().to_owned(),
        signing_secret: FAKE_SIGNING_SECRET.to_owned(),
        api_url: Some(fake.api_url()),
        mode: SlackMode::Events,
        tuning: SlackTuning {
            max_attempts: 3,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(10),
            rate_limit_patience: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
        },
    }
}

/// A workspace: Ada and Bob with emails and zones, #team with the bot, #elsewhere without it.
async fn workspace() -> FakeSlack {
    let fake = FakeSlack::start().await.unwrap();
    fake.add_user(FakeUser::new(
        "U0ADA",
        "Ada Lovelace",
        "ada@example.com",
        "Europe/London",
    ));
    fake.add_user(FakeUser::new(
        "U0BOB",
        "Bob Kahn",
        "bob@example.com",
        "America/New_York",
    ));
    fake.add_channel("C0TEAM", "team", true);
    fake.add_channel("C0ELSEWHERE", "elsewhere", false);
    fake
}

fn start(fake: &FakeSlack) -> (SlackChannel, bots::slack::SlackApi) {
    let channel = SlackChannel::new(&config(fake)).unwrap();
    let api = channel.api();
    (channel, api)
}

fn message(key: &str, to: &str, text: &str) -> SlackOutgoing {
    SlackOutgoing {
        key: key.into(),
        to: to.into(),
        text: text.into(),
        sections: Vec::new(),
        reply_to: None,
    }
}

#[actix_rt::test]
async fn a_dm_prompt_opens_the_conversation_once_and_posts_plain_text() {
    within(async {
        let fake = workspace().await;
        let (channel, _) = start(&fake);

        let sent = channel
            .send(&message(
                "prompt:1:slack",
                "U0ADA",
                "What did you get done today?",
            ))
            .await
            .unwrap();
        channel
            .send(&message("prompt:2:slack", "U0ADA", "And today?"))
            .await
            .unwrap();

        let posted = fake.posted();
        assert_eq!(posted.len(), 2);
        assert_eq!(posted[0].channel, fake.dm_channel("U0ADA"));
        assert_eq!(posted[0].text, "What did you get done today?");
        assert_eq!(posted[0].blocks, None);
        assert_eq!(
            sent,
            vec![format!("{}:{}", posted[0].channel, posted[0].ts)]
        );
        assert_eq!(fake.calls("conversations.open"), 1, "the DM is opened once");
    })
    .await;
}

#[actix_rt::test]
async fn a_channel_prompt_is_threaded_into_by_a_reply_to_its_id() {
    within(async {
        let fake = workspace().await;
        let (channel, _) = start(&fake);

        let prompt = channel
            .send(&message(
                "prompt:3:slack",
                "C0TEAM",
                "What did you get done today? Reply in this thread",
            ))
            .await
            .unwrap();
        let mut notice = message("reply:Ev1", "C0TEAM", "Recorded 2 dones.");
        notice.reply_to = Some(prompt[0].clone());
        channel.send(&notice).await.unwrap();

        let posted = fake.posted();
        assert_eq!(posted[0].channel, "C0TEAM");
        assert_eq!(posted[0].thread_ts, None);
        assert_eq!(posted[1].thread_ts.as_deref(), Some(posted[0].ts.as_str()));
        assert_eq!(prompt, vec![format!("C0TEAM:{}", posted[0].ts)]);
    })
    .await;
}

#[actix_rt::test]
async fn a_large_digest_is_split_into_messages_the_fake_accepts_with_every_line_once_and_escaped() {
    within(async {
        let fake = workspace().await;
        let (channel, _) = start(&fake);
        let sections: Vec<Section> = (0..70)
            .map(|m| Section {
                title: format!("Member <{m}>"),
                lines: (0..30)
                    .map(|i| format!("done {m}/{i}: <@U0BOB> & <!channel>"))
                    .collect(),
            })
            .collect();
        let mut digest = message(
            "digest:7:2026-11-25:slack",
            "C0TEAM",
            "What the team got done yesterday",
        );
        digest.sections = sections;

        let sent = channel.send(&digest).await.unwrap();

        let posted = fake.posted();
        assert!(posted.len() >= 2, "{} messages", posted.len());
        assert_eq!(sent.len(), posted.len());
        let mut lines = Vec::new();
        for (i, post) in posted.iter().enumerate() {
            assert_eq!(post.channel, "C0TEAM");
            assert!(post.text.starts_with("What the team got done yesterday"));
            assert!(
                post.text
                    .ends_with(&format!("({}/{})", i + 1, posted.len()))
            );
            let blocks = post.blocks.as_ref().unwrap().as_array().unwrap();
            assert!(blocks.len() <= 50);
            for block in blocks {
                assert_eq!(block["text"]["verbatim"], true);
            }
            for text in post.section_texts() {
                assert!(text.encode_utf16().count() <= 3000);
                assert!(
                    !text.contains("<@") && !text.contains("<!"),
                    "a mention got through: {text}"
                );
                lines.extend(
                    text.lines()
                        .filter(|l| l.starts_with("• done "))
                        .map(str::to_owned),
                );
            }
        }
        assert_eq!(
            posted[0].section_texts()[0],
            "What the team got done yesterday"
        );
        assert_eq!(
            posted[0].section_texts()[1].lines().next(),
            Some("*Member &lt;0&gt;*")
        );
        assert_eq!(lines.len(), 70 * 30);
        assert!(
            lines
                .iter()
                .all(|l| l.ends_with(": &lt;@U0BOB&gt; &amp; &lt;!channel&gt;"))
        );
    })
    .await;
}

#[actix_rt::test]
async fn a_429_retry_after_is_honoured_then_the_message_is_posted_once() {
    within(async {
        let fake = workspace().await;
        let (channel, _) = start(&fake);
        fake.fail_next("chat.postMessage", 1, Fault::RateLimited { retry_after: 1 });

        let started = Instant::now();
        channel
            .send(&message(
                "prompt:4:slack",
                "C0TEAM",
                "What did you get done?",
            ))
            .await
            .unwrap();

        assert!(
            started.elapsed() >= Duration::from_millis(990),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            (fake.calls("chat.postMessage"), fake.posted().len()),
            (2, 1)
        );
    })
    .await;
}

#[actix_rt::test]
async fn a_429_beyond_the_patience_is_transient_with_slacks_retry_after_and_no_wait() {
    within(async {
        let fake = workspace().await;
        let (channel, api) = start(&fake);
        fake.fail_next(
            "chat.postMessage",
            2,
            Fault::RateLimited { retry_after: 30 },
        );

        let started = Instant::now();
        let post = bots::slack::blocks::SlackPost {
            text: "hi".into(),
            blocks: Vec::new(),
        };
        let err = api.post_message("C0TEAM", &post, None).await.unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        assert!(err.is_transient());
        let err = channel
            .send(&message("prompt:5:slack", "C0TEAM", "hi"))
            .await
            .unwrap_err();
        assert!(matches!(err, SlackApiError::Transient { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(fake.posted().is_empty());

        // Not final: the outbox's later retry with the same key goes out.
        channel
            .send(&message("prompt:5:slack", "C0TEAM", "hi"))
            .await
            .unwrap();
        assert_eq!(fake.posted().len(), 1);
    })
    .await;
}

#[actix_rt::test]
async fn ok_false_errors_become_broken_links_or_rejections_and_are_remembered_per_key() {
    within(async {
        let fake = workspace().await;
        let (channel, _) = start(&fake);
        fake.add_channel("C0OLD", "old", true);
        fake.archive("C0OLD");

        for (chat, code) in [
            ("C0ELSEWHERE", "not_in_channel"),
            ("C0GONE", "channel_not_found"),
            ("C0OLD", "is_archived"),
        ] {
            let err = channel
                .send(&message(&format!("digest:{chat}"), chat, "x"))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, SlackApiError::Broken(why) if why == code),
                "{chat}: {err:?}"
            );
        }
        fake.fail_next(
            "chat.postMessage",
            1,
            Fault::Error("account_inactive".into()),
        );
        let err = channel
            .send(&message("prompt:6:slack", "U0ADA", "x"))
            .await
            .unwrap_err();
        assert!(matches!(&err, SlackApiError::Broken(why) if why == "account_inactive"));

        fake.fail_next("chat.postMessage", 1, Fault::Error("invalid_blocks".into()));
        let calls = fake.calls("chat.postMessage");
        for _ in 0..2 {
            let err = channel
                .send(&message("prompt:7:slack", "C0TEAM", "x"))
                .await
                .unwrap_err();
            assert!(matches!(&err, SlackApiError::Permanent(why) if why == "invalid_blocks"));
        }
        assert_eq!(
            fake.calls("chat.postMessage"),
            calls + 1,
            "a final answer is remembered per key"
        );
    })
    .await;
}

#[actix_rt::test]
async fn transient_failures_are_retried_a_bounded_number_of_times() {
    within(async {
        let fake = workspace().await;
        let (channel, _) = start(&fake);
        fake.fail_next("chat.postMessage", 1, Fault::DropConnection);
        fake.fail_next("chat.postMessage", 1, Fault::ServerError(503));

        channel
            .send(&message("prompt:8:slack", "C0TEAM", "x"))
            .await
            .unwrap();
        assert_eq!(
            (fake.calls("chat.postMessage"), fake.posted().len()),
            (3, 1)
        );

        fake.fail_next("chat.postMessage", 3, Fault::Error("internal_error".into()));
        let err = channel
            .send(&message("prompt:9:slack", "C0TEAM", "x"))
            .await
            .unwrap_err();
        assert!(matches!(err, SlackApiError::Transient { .. }), "{err:?}");
        assert_eq!(
            (fake.calls("chat.postMessage"), fake.posted().len()),
            (6, 1)
        );
    })
    .await;
}

#[actix_rt::test]
async fn a_digest_cut_short_resumes_after_the_last_posted_message() {
    within(async {
        let fake = workspace().await;
        let (channel, _) = start(&fake);
        let mut digest = message("digest:8:2026-11-26:slack", "C0TEAM", "Yesterday");
        digest.sections = (0..120)
            .map(|m| Section {
                title: format!("M{m}"),
                lines: vec![format!("done by {m}")],
            })
            .collect();
        // Message 1 goes out; message 2 fails on every attempt (max_attempts = 3).
        fake.fail_after("chat.postMessage", 1, 3, Fault::ServerError(502));

        let err = channel.send(&digest).await.unwrap_err();
        assert!(matches!(err, SlackApiError::Transient { .. }), "{err:?}");
        assert_eq!(fake.posted().len(), 1);

        let sent = channel.send(&digest).await.unwrap();
        let posted = fake.posted();
        assert_eq!(
            posted.len(),
            3,
            "121 sections make 3 messages of at most 50 blocks"
        );
        assert_eq!(
            sent,
            posted
                .iter()
                .map(|p| format!("{}:{}", p.channel, p.ts))
                .collect::<Vec<_>>()
        );
        let firsts: Vec<String> = posted
            .iter()
            .map(|p| p.section_texts()[0].clone())
            .collect();
        assert_eq!(firsts[0], "Yesterday");
        assert_ne!(firsts[1], firsts[2], "a posted message was posted again");
    })
    .await;
}

#[actix_rt::test]
async fn members_are_found_by_email_with_their_zone() {
    within(async {
        let fake = workspace().await;
        let (_, api) = start(&fake);

        let ada = api
            .lookup_by_email("ADA@example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ada.id, "U0ADA");
        assert_eq!(ada.tz.as_deref(), Some("Europe/London"));
        assert_eq!(ada.email.as_deref(), Some("ada@example.com"));
        assert!(!ada.deleted && !ada.is_bot);
        assert_eq!(
            api.lookup_by_email("nobody@example.com").await.unwrap(),
            None
        );

        let bob = api.user_info("U0BOB").await.unwrap();
        assert_eq!(
            (bob.name.as_str(), bob.tz.as_deref()),
            ("bob.kahn", Some("America/New_York"))
        );
        assert_eq!(
            api.user_info("U0NOONE").await.unwrap_err(),
            SlackApiError::Broken("user_not_found".into())
        );

        fake.deactivate("U0BOB");
        assert!(api.user_info("U0BOB").await.unwrap().deleted);
        assert_eq!(
            api.open_dm("U0BOB").await.unwrap_err(),
            SlackApiError::Broken("user_disabled".into())
        );

        let me = api.auth_test().await.unwrap();
        assert_eq!(me.user_id, FAKE_BOT_USER_ID);
    })
    .await;
}

#[actix_rt::test]
async fn a_wrong_token_is_a_permanent_rejection() {
    within(async {
        let fake = workspace().await;
        let mut config = config(&fake);
        config.bot_token = "xoxb-not-the-right-one".into();
        let api = SlackChannel::new(&config).unwrap().api();
        assert_eq!(
            api.auth_test().await.unwrap_err(),
            SlackApiError::Permanent("invalid_auth".into())
        );
    })
    .await;
}

#[actix_rt::test]
async fn ephemeral_answers_and_response_urls_are_recorded_and_limited_to_five() {
    within(async {
        let fake = workspace().await;
        let (_, api) = start(&fake);

        api.post_ephemeral("C0TEAM", "U0ADA", "Recorded: shipped")
            .await
            .unwrap();
        let url = fake.response_url("1234/abcd");
        for i in 0..5 {
            api.respond(&url, &format!("answer {i}")).await.unwrap();
        }
        let err = api.respond(&url, "a sixth").await.unwrap_err();
        assert!(matches!(err, SlackApiError::Permanent(_)), "{err:?}");

        let seen = fake.wait_ephemerals(6).await;
        assert_eq!(seen[0].user.as_deref(), Some("U0ADA"));
        assert_eq!(
            (seen[0].to.as_str(), seen[0].text.as_str()),
            ("C0TEAM", "Recorded: shipped")
        );
        assert_eq!(seen[5].text, "answer 4");
        assert!(
            seen[1..]
                .iter()
                .all(|e| e.to == "/commands/T0DONEBOT/1234/abcd")
        );
    })
    .await;
}

/// What the receiver standing in for donebot answers to the next request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Never answer (donebot stuck): Slack gives up after its ack timeout.
    Hang,
}

/// One request the receiver checked.
#[derive(Debug, Clone)]
struct Received {
    retry: Option<(String, String)>,
    outcome: Result<EventsRequest, u16>,
}

/// donebot's two routes in miniature: check with `SlackRequests`, record, answer from a script.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Received>>>,
    count: watch::Receiver<usize>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start(now: i64) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let (count_tx, count) = watch::channel(0);
        let count_tx = Arc::new(count_tx);
        let checks = SlackRequests::new(FAKE_SIGNING_SECRET);
        let (seen2, script2) = (seen.clone(), script.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (seen, script, count_tx, checks) = (
                    seen2.clone(),
                    script2.clone(),
                    count_tx.clone(),
                    checks.clone(),
                );
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (seen, script, count_tx, checks) = (
                            seen.clone(),
                            script.clone(),
                            count_tx.clone(),
                            checks.clone(),
                        );
                        async move {
                            let header = |name: &str| {
                                request
                                    .headers()
                                    .get(name)
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned)
                            };
                            let (ts, sig) = (
                                header("X-Slack-Request-Timestamp"),
                                header("X-Slack-Signature"),
                            );
                            let retry =
                                header("X-Slack-Retry-Num").zip(header("X-Slack-Retry-Reason"));
                            let path = request.uri().path().to_owned();
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            let headers = SignedHeaders {
                                timestamp: ts.as_deref(),
                                signature: sig.as_deref(),
                            };
                            let (outcome, answer) = if path == "/slack/commands" {
                                match checks.command(headers, &body, now) {
                                    Ok(c) => (
                                        Ok(EventsRequest::Other {
                                            kind: format!("command {}", c.text),
                                        }),
                                        c.user_id,
                                    ),
                                    Err(e) => (Err(e.status()), String::new()),
                                }
                            } else {
                                match checks.event(headers, &body, now) {
                                    Ok(EventsRequest::UrlVerification { challenge }) => (
                                        Ok(EventsRequest::UrlVerification {
                                            challenge: challenge.clone(),
                                        }),
                                        challenge,
                                    ),
                                    Ok(request) => (Ok(request), String::new()),
                                    Err(e) => (Err(e.status()), String::new()),
                                }
                            };
                            let refused = outcome.as_ref().err().copied();
                            let n = {
                                let mut seen = seen.lock().unwrap();
                                seen.push(Received { retry, outcome });
                                seen.len()
                            };
                            count_tx.send_replace(n);
                            let reply = script
                                .lock()
                                .unwrap()
                                .pop_front()
                                .unwrap_or(Reply::Status(200));
                            let status = match (refused, reply) {
                                (Some(status), _) => status,
                                (None, Reply::Status(status)) => status,
                                (None, Reply::Hang) => std::future::pending().await,
                            };
                            let mut response = Response::new(Full::new(Bytes::from(answer)));
                            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            url,
            seen,
            count,
            script,
            task,
        }
    }

    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    async fn wait(&mut self, n: usize) -> Vec<Received> {
        self.count.wait_for(|c| *c >= n).await.unwrap();
        self.seen.lock().unwrap().clone()
    }
}

const NOW: i64 = 1_764_010_800;

fn callback_event(received: &Received) -> SlackEvent {
    match &received.outcome {
        Ok(EventsRequest::Callback(c)) => c.event.clone(),
        other => panic!("{other:?}"),
    }
}

#[actix_rt::test]
async fn signed_events_are_verified_and_read_like_slack_sends_them() {
    within(async {
        let mut receiver = Receiver::start(NOW).await;
        let sender = EventsSender::new(&receiver.url).with_clock(|| NOW);

        let challenge = sender
            .url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
            .await;
        assert_eq!(
            (challenge.status(), challenge.answer()),
            (
                Some(200),
                "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
            )
        );
        let dm = sender.dm("U0ADA", "shipped the release").await;
        let reply = sender
            .thread_reply("C0TEAM", "1764010700.000100", "U0BOB", "fixed #42")
            .await;
        let reply_ts = reply.ts.clone().unwrap();
        sender
            .edit(
                "C0TEAM",
                &reply_ts,
                "U0BOB",
                ("fixed #42", "fixed #43"),
                Some("1764010700.000100"),
            )
            .await;
        sender
            .delete("C0TEAM", &reply_ts, "U0BOB", "fixed #43")
            .await;
        sender.bot_message("C0TEAM", "another app's note").await;
        sender
            .own_message("C0TEAM", "What did you get done today?")
            .await;
        sender.channel_join("C0TEAM", "U0EVE").await;

        let seen = receiver.wait(8).await;
        assert!(dm.acknowledged() && dm.attempts.len() == 1);
        let SlackEvent::Posted(p) = callback_event(&seen[1]) else {
            panic!("{:?}", seen[1])
        };
        assert_eq!(
            (p.channel.as_str(), p.user.as_str(), p.text.as_str()),
            ("D0ADA", "U0ADA", "shipped the release")
        );
        assert_eq!(Some(p.ts), dm.ts);
        let SlackEvent::Posted(p) = callback_event(&seen[2]) else {
            panic!("{:?}", seen[2])
        };
        assert_eq!(p.thread_ts.as_deref(), Some("1764010700.000100"));
        let SlackEvent::Edited(e) = callback_event(&seen[3]) else {
            panic!("{:?}", seen[3])
        };
        assert_eq!(
            (e.ts.as_str(), e.text.as_str()),
            (reply_ts.as_str(), "fixed #43")
        );
        let SlackEvent::Deleted(d) = callback_event(&seen[4]) else {
            panic!("{:?}", seen[4])
        };
        assert_eq!(d.ts, reply_ts);
        for ignored in &seen[5..8] {
            assert!(
                matches!(callback_event(ignored), SlackEvent::Ignored(_)),
                "{ignored:?}"
            );
        }
        assert!(seen.iter().all(|r| r.retry.is_none()));
    })
    .await;
}

#[actix_rt::test]
async fn forged_and_stale_requests_are_refused_and_slack_retries_them() {
    within(async {
        let mut receiver = Receiver::start(NOW).await;
        let forged = EventsSender::new(&receiver.url)
            .with_clock(|| NOW)
            .with_secret("00000000000000000000000000000000");
        let stale = EventsSender::new(&receiver.url)
            .with_clock(|| NOW - 301)
            .with_policy(RetryPolicy::once());

        let d: Delivery = forged.dm("U0ADA", "forged").await;
        assert_eq!(
            d.attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
            vec![Some(401); 4]
        );
        assert!(!d.acknowledged());
        let d = stale.dm("U0ADA", "replayed").await;
        assert_eq!(d.status(), Some(401));
        let unsigned = forged
            .post_with("/slack/events", "application/json", b"{}", None, None, None)
            .await;
        assert_eq!(unsigned.status, Some(401));
        let command = stale
            .command("U0ADA", "ada", "D0ADA", "undo", "http://127.0.0.1:9/x")
            .await;
        assert_eq!(command.status(), Some(401));

        let seen = receiver.wait(7).await;
        assert!(seen.iter().all(|r| r.outcome == Err(401)), "{seen:?}");
    })
    .await;
}

#[actix_rt::test]
async fn an_unacknowledged_event_is_retried_with_the_same_body_and_slacks_retry_headers() {
    within(async {
        let mut receiver = Receiver::start(NOW).await;
        let sender = EventsSender::new(&receiver.url)
            .with_clock(|| NOW)
            .with_policy(RetryPolicy {
                ack_timeout: Duration::from_millis(200),
                delays: vec![Duration::ZERO; 3],
            });
        receiver.script([Reply::Status(500), Reply::Hang, Reply::Status(200)]);

        let d = sender.dm("U0ADA", "shipped").await;

        assert!(d.acknowledged());
        assert_eq!(
            d.attempts.iter().map(|a| a.retry_num).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        let seen = receiver.wait(3).await;
        assert_eq!(seen[0].retry, None);
        assert_eq!(seen[1].retry, Some(("1".into(), "http_error".into())));
        assert_eq!(seen[2].retry, Some(("2".into(), "http_timeout".into())));
        let ids: Vec<String> = seen
            .iter()
            .map(|r| match &r.outcome {
                Ok(EventsRequest::Callback(c)) => c.event_id.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            ids,
            vec![d.event_id.clone().unwrap(); 3],
            "every retry carries the same event_id"
        );
    })
    .await;
}

#[actix_rt::test]
async fn a_slash_command_is_signed_as_a_form_and_read() {
    within(async {
        let mut receiver = Receiver::start(NOW).await;
        let sender = EventsSender::new(&receiver.url).with_clock(|| NOW);

        let d = sender
            .command(
                "U0ADA",
                "ada",
                "D0ADA",
                "pause until 2026-12-24",
                "http://127.0.0.1:9/commands/T/1",
            )
            .await;

        assert_eq!((d.status(), d.answer()), (Some(200), "U0ADA"));
        let seen = receiver.wait(1).await;
        assert_eq!(
            seen[0].outcome,
            Ok(EventsRequest::Other {
                kind: "command pause until 2026-12-24".into()
            })
        );
    })
    .await;
}

/// An app that takes what it is handed only once released: a slow disk under the chat log.
struct SlowApp {
    released: watch::Receiver<bool>,
    taken: Arc<Mutex<Vec<bots::bus::ChatReceived>>>,
}

impl actix::Actor for SlowApp {
    type Context = actix::Context<Self>;
}

impl actix::Handler<bots::bus::ChatReceived> for SlowApp {
    type Result = actix::ResponseFuture<Result<bots::bus::ChatAnswer, bots::bus::ChatReceiveError>>;

    fn handle(&mut self, msg: bots::bus::ChatReceived, _: &mut Self::Context) -> Self::Result {
        let mut released = self.released.clone();
        let taken = Arc::clone(&self.taken);
        Box::pin(async move {
            let _ = released.wait_for(|r| *r).await;
            taken.lock().unwrap().push(msg);
            Ok(bots::bus::ChatAnswer::default())
        })
    }
}

/// `/slack/commands` through the channel seam, as the app mounts it, signed at `now`.
fn slash_command<'a>(
    route: &'a bots::channel::Route,
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> impl std::future::Future<Output = bots::channel::HttpResponse> + use<'a> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("command", "/done")
        .append_pair("text", text)
        .append_pair("user_id", "U0ADA")
        .append_pair("user_name", "ada")
        .append_pair("team_id", "T0DONEBOT")
        .append_pair("channel_id", "C0CORE")
        .append_pair("response_url", "http://127.0.0.1:9/commands/r1")
        .append_pair("trigger_id", "1.4242.fake")
        .finish()
        .into_bytes();
    let signature =
        bots::slack::signing::SigningSecret::new(FAKE_SIGNING_SECRET).sign(now.timestamp(), &body);
    route.handler.handle(bots::channel::HttpRequest {
        headers: vec![
            (
                "x-slack-request-timestamp".into(),
                now.timestamp().to_string(),
            ),
            ("x-slack-signature".into(), signature),
        ],
        body,
        now,
    })
}

#[actix_rt::test]
async fn a_slash_command_is_answered_within_the_deadline_while_the_app_is_slow() {
    use actix::Actor;
    // Virtual time: the deadline passes without a real wait.
    tokio::time::pause();
    let (release, released) = watch::channel(false);
    let taken = Arc::new(Mutex::new(Vec::new()));
    let inbox = SlowApp {
        released,
        taken: Arc::clone(&taken),
    }
    .start()
    .recipient();
    let table = serde_json::json!({
        "bot_token": "xoxb-17-4242-abc",
        "signing_secret": FAKE_SIGNING_SECRET,
        "api_url": "http://127.0.0.1:9",
    });
    let config = (bots::slack::SPEC.configure)(Some(&table))
        .unwrap()
        .expect("on");
    let channel = config.start(inbox).unwrap();
    let route = channel
        .routes()
        .into_iter()
        .find(|r| r.path == "/slack/commands")
        .expect("the commands route");

    let now = chrono::Utc::now();
    let asked = tokio::time::Instant::now();
    let answer = slash_command(&route, "wrote the deadline test", now).await;
    // Slack waits 3 s for the answer.
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body["response_type"], "ephemeral",
        "{:?}",
        answer.body
    );
    assert!(
        answer.body["text"]
            .as_str()
            .unwrap()
            .contains("working on it"),
        "{:?}",
        answer.body
    );
    assert!(taken.lock().unwrap().is_empty(), "not taken yet");

    // The hand-over went on: once the app is ready it gets the command, once, with the way back.
    release.send_replace(true);
    within(async {
        while taken.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let got = taken.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, "/done wrote the deadline test");
    assert!(got[0].deferred);
    assert_eq!(
        got[0].answer_via.as_deref(),
        Some("http://127.0.0.1:9/commands/r1")
    );

    // An app that takes it at once: an empty 200, the answer comes through the response_url.
    let answer = slash_command(&route, "undo", now).await;
    assert_eq!(
        (answer.status, &answer.body),
        (200, &serde_json::Value::Null)
    );
    assert_eq!(taken.lock().unwrap().last().unwrap().text, "/undo");
}
