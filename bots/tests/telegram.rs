//! The Telegram channel end to end: the real teloxide client against the fake Bot API on 127.0.0.1.
//!
//! Each test starts a `FakeTelegram`, a `TelegramChannel` pointed at it and a scripted sink standing in
//! for the app, and waits on notifications (a sent message, a received update, a confirmed offset),
//! never on sleeps. Every test is bounded by `within`. The only real waits are the ones the code under
//! test takes: a `retry_after: 1` (about a second) and teloxide's fixed 10 s pause after a 5xx answer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::{Actor, Addr, Context, Handler, ResponseFuture};
use bots::bus::{
    ChatAnswer, ChatEvent, ChatKind, ChatReceiveError, ChatReceived, ChatSendError, ChatSent,
    Digest, DigestLine, DigestSection, Outgoing, OutgoingBody,
};
use bots::telegram::fake::{
    FAKE_BOT_USERNAME, FakeTelegram, FakeUser, Fault, IncomingMessage, parse_html,
};
use bots::telegram::{
    MAX_MESSAGE_LEN, TelegramChannel, TelegramConfig, TelegramMode, TelegramTuning, WebhookOutcome,
};
use tokio::sync::watch;

const SECRET: &str = "s3cret_T0ken-for-tests";

async fn within<T>(test: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(40), test)
        .await
        .expect("the test took longer than 40 s")
}

fn config(fake: &FakeTelegram, mode: TelegramMode) -> TelegramConfig {
    TelegramConfig {
        token: fake.token().to_owned(),
        api_url: Some(fake.api_url().to_owned()),
        mode,
        tuning: TelegramTuning {
            max_attempts: 3,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(10),
            rate_limit_patience: Duration::from_secs(5),
            poll_timeout: Duration::from_secs(10),
            max_sends_per_second: None,
        },
    }
}

fn webhook_mode() -> TelegramMode {
    TelegramMode::Webhook {
        url: "https://donebot.example.com/telegram/webhook".into(),
        secret: SECRET.into(),
    }
}

/// What the scripted app answers to the next update.
#[derive(Debug, Clone)]
enum Script {
    Reply(Option<String>),
    Transient,
    /// Never answers: the app "crashed" while processing.
    Hang,
}

/// The app's side of the bus: records every update and answers from a script (default: silence).
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
        let n = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(msg);
            seen.len()
        };
        self.count.send_replace(n);
        let next = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Script::Reply(None));
        Box::pin(async move {
            match next {
                Script::Reply(reply) => Ok(ChatAnswer { reply }),
                Script::Transient => Err(ChatReceiveError::Transient("storage busy".into())),
                Script::Hang => std::future::pending().await,
            }
        })
    }
}

struct App {
    addr: Addr<Sink>,
    seen: Arc<Mutex<Vec<ChatReceived>>>,
    count: watch::Receiver<usize>,
}

impl App {
    fn start(script: Vec<Script>) -> App {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let (count, rx) = watch::channel(0);
        let addr = Sink {
            seen: seen.clone(),
            count,
            script,
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

/// A message as these tests write it: donebot's text and titled sections of user lines.
#[derive(Debug, Clone)]
struct ChatSend {
    key: String,
    chat_id: String,
    kind: ChatKind,
    text: String,
    sections: Vec<ChatSection>,
    reply_to: Option<String>,
}

#[derive(Debug, Clone)]
struct ChatSection {
    title: String,
    lines: Vec<String>,
}

impl ChatSend {
    /// The bus's one outgoing type for it.
    fn outgoing(self) -> Outgoing {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let body = match self.kind {
            ChatKind::Prompt => OutgoingBody::Prompt {
                day,
                text: self.text,
            },
            ChatKind::Notice => OutgoingBody::Notice { text: self.text },
            ChatKind::Digest => OutgoingBody::Digest(Digest {
                team: "Core".into(),
                from: day,
                to: day,
                title: self.text,
                sections: self
                    .sections
                    .into_iter()
                    .map(|s| DigestSection {
                        member: s.title,
                        lines: s
                            .lines
                            .into_iter()
                            .map(|text| DigestLine {
                                kind: "done".into(),
                                text,
                            })
                            .collect(),
                    })
                    .collect(),
                quiet: Vec::new(),
            }),
        };
        Outgoing {
            key: self.key,
            to: self.chat_id,
            body,
            reply_to: self.reply_to,
            answer_via: None,
        }
    }
}

/// The running channel, as these tests call it.
#[derive(Clone)]
struct Chan(Arc<TelegramChannel>);

impl Chan {
    async fn send(&self, m: ChatSend) -> Result<Result<ChatSent, ChatSendError>, String> {
        Ok(self.0.deliver(&m.outgoing()).await)
    }
}

fn start_channel(
    fake: &FakeTelegram,
    mode: TelegramMode,
    app: &App,
) -> (Chan, Option<bots::telegram::TelegramWebhook>) {
    let channel = TelegramChannel::new(&config(fake, mode), app.addr.clone().recipient()).unwrap();
    let webhook = channel.webhook();
    (Chan(channel.start()), webhook)
}

fn prompt(key: &str, chat: i64) -> ChatSend {
    ChatSend {
        key: key.into(),
        chat_id: chat.to_string(),
        kind: ChatKind::Prompt,
        text: "What did you get done today?".into(),
        sections: Vec::new(),
        reply_to: None,
    }
}

fn ada() -> FakeUser {
    FakeUser {
        id: 555,
        first_name: "Ada".into(),
        username: Some("ada".into()),
    }
}

#[actix_rt::test]
async fn a_prompt_goes_out_as_a_private_message_with_force_reply() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let app = App::start(vec![]);
        let (channel, _) = start_channel(&fake, TelegramMode::Polling, &app);

        let sent = channel
            .send(prompt("prompt:1:telegram", 555))
            .await
            .unwrap()
            .unwrap();

        let on_wire = fake.sent();
        assert_eq!(on_wire.len(), 1);
        assert_eq!(sent.message_ids, vec![on_wire[0].message_id.to_string()]);
        assert_eq!(on_wire[0].chat_id, "555");
        assert_eq!(on_wire[0].text, "What did you get done today?");
        assert_eq!(on_wire[0].parse_mode.as_deref(), Some("HTML"));
        let markup = on_wire[0].reply_markup.as_ref().unwrap();
        assert_eq!(markup["force_reply"], true);
        assert_eq!(
            markup["input_field_placeholder"],
            "What did you get done? One per line"
        );
    })
    .await;
}

#[actix_rt::test]
async fn a_digest_escapes_user_text_and_splits_under_4096_characters_at_line_boundaries() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let app = App::start(vec![]);
        let (channel, _) = start_channel(&fake, TelegramMode::Polling, &app);
        let many: Vec<String> = (0..300).map(|i| format!("done {i}: fixed <script>& things")).collect();
        let digest = ChatSend {
            key: "digest:7:2026-11-25:telegram".into(),
            chat_id: "-1001234567890".into(),
            kind: ChatKind::Digest,
            text: "What the team got done yesterday".into(),
            sections: vec![
                ChatSection { title: "Ada <admin>".into(), lines: vec!["<script>alert(1)</script> & co".into()] },
                ChatSection { title: "Bob".into(), lines: many },
            ],
            reply_to: None,
        };

        let sent = channel.send(digest).await.unwrap().unwrap();

        let on_wire = fake.sent();
        assert!(on_wire.len() >= 3, "{} parts", on_wire.len());
        assert_eq!(sent.message_ids.len(), on_wire.len());
        assert!(on_wire[0].text.starts_with(
            "What the team got done yesterday\n\n<b>Ada &lt;admin&gt;</b>\n• &lt;script&gt;alert(1)&lt;/script&gt; &amp; co\n\n<b>Bob</b>\n• done 0: fixed &lt;script&gt;&amp; things\n"
        ));
        let mut dones = 0;
        for part in &on_wire {
            assert_eq!(part.chat_id, "-1001234567890");
            assert!(part.text.encode_utf16().count() <= MAX_MESSAGE_LEN);
            assert!(part.reply_markup.is_none(), "a digest asks for no reply");
            let plain = parse_html(&part.text).unwrap();
            for line in plain.lines().filter(|l| l.starts_with("• done ")) {
                assert!(line.ends_with(": fixed <script>& things"), "cut inside a line: {line}");
                dones += 1;
            }
        }
        assert_eq!(dones, 300);
    })
    .await;
}

#[actix_rt::test]
async fn a_429_is_honoured_then_the_prompt_is_delivered_once() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let app = App::start(vec![]);
        let (channel, _) = start_channel(&fake, TelegramMode::Polling, &app);
        fake.fail_next("sendMessage", 1, Fault::RetryAfter(1));

        let started = Instant::now();
        let sent = channel
            .send(prompt("prompt:2:telegram", 556))
            .await
            .unwrap()
            .unwrap();

        assert!(
            started.elapsed() >= Duration::from_millis(990),
            "retry_after not honoured: {:?}",
            started.elapsed()
        );
        assert_eq!(fake.calls("sendMessage"), 2);
        assert_eq!(fake.sent().len(), 1);
        assert_eq!(sent.message_ids.len(), 1);
    })
    .await;
}

#[actix_rt::test]
async fn a_429_beyond_the_patience_is_rate_limited_without_waiting() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let app = App::start(vec![]);
        let mut config = config(&fake, TelegramMode::Polling);
        config.tuning.rate_limit_patience = Duration::from_secs(3);
        let channel = Chan(
            TelegramChannel::new(&config, app.addr.clone().recipient())
                .unwrap()
                .start(),
        );
        fake.fail_next("sendMessage", 1, Fault::RetryAfter(30));

        let started = Instant::now();
        let err = channel
            .send(prompt("prompt:3:telegram", 557))
            .await
            .unwrap()
            .unwrap_err();

        assert_eq!(
            err,
            ChatSendError::RateLimited {
                retry_after_secs: 30
            }
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(fake.sent().is_empty());
        // Not final: the outbox's later retry with the same key goes out.
        channel
            .send(prompt("prompt:3:telegram", 557))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fake.sent().len(), 1);
    })
    .await;
}

#[actix_rt::test]
async fn a_5xx_is_retried_then_the_prompt_is_delivered_once() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let app = App::start(vec![]);
        let (channel, _) = start_channel(&fake, TelegramMode::Polling, &app);
        // teloxide itself pauses 10 s after any 5xx answer before it reads the body: one fault only.
        fake.fail_next("sendMessage", 1, Fault::ServerError(500));

        let sent = channel
            .send(prompt("prompt:4:telegram", 558))
            .await
            .unwrap()
            .unwrap();

        assert_eq!(fake.calls("sendMessage"), 2);
        assert_eq!(fake.sent().len(), 1);
        assert_eq!(
            sent.message_ids,
            vec![fake.sent()[0].message_id.to_string()]
        );
    })
    .await;
}

#[actix_rt::test]
async fn dropped_connections_are_retried_a_bounded_number_of_times() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let app = App::start(vec![]);
        let (channel, _) = start_channel(&fake, TelegramMode::Polling, &app);
        fake.fail_next("sendMessage", 2, Fault::DropConnection);

        channel
            .send(prompt("prompt:5:telegram", 559))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((fake.calls("sendMessage"), fake.sent().len()), (3, 1));

        fake.fail_next("sendMessage", 3, Fault::DropConnection);
        let err = channel
            .send(prompt("prompt:6:telegram", 559))
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, ChatSendError::Transient(_)), "{err:?}");
        assert_eq!((fake.calls("sendMessage"), fake.sent().len()), (6, 1));
    })
    .await;
}

#[actix_rt::test]
async fn a_digest_cut_short_by_a_transient_failure_resumes_after_the_last_delivered_part() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let app = App::start(vec![]);
        let (channel, _) = start_channel(&fake, TelegramMode::Polling, &app);
        let lines: Vec<String> = (0..600).map(|i| format!("done {i}")).collect();
        let digest = ChatSend {
            key: "digest:8:2026-11-26:telegram".into(),
            chat_id: "-1001234567890".into(),
            kind: ChatKind::Digest,
            text: "Yesterday".into(),
            sections: vec![ChatSection {
                title: "Ada".into(),
                lines,
            }],
            reply_to: None,
        };
        // Part 1 goes out; part 2 fails on every attempt (max_attempts = 3).
        fake.fail_after("sendMessage", 1, 3, Fault::DropConnection);

        let err = channel.send(digest.clone()).await.unwrap().unwrap_err();
        assert!(matches!(err, ChatSendError::Transient(_)), "{err:?}");
        assert_eq!(fake.sent().len(), 1);

        let sent = channel.send(digest).await.unwrap().unwrap();
        let on_wire = fake.sent();
        assert!(on_wire.len() >= 2);
        assert_eq!(
            sent.message_ids,
            on_wire
                .iter()
                .map(|m| m.message_id.to_string())
                .collect::<Vec<_>>()
        );
        let firsts: Vec<&str> = on_wire
            .iter()
            .filter_map(|m| m.text.lines().find(|l| l.starts_with("• ")))
            .collect();
        let mut unique = firsts.clone();
        unique.dedup();
        assert_eq!(firsts, unique, "a delivered part was sent again");
    })
    .await;
}

#[actix_rt::test]
async fn a_blocked_bot_is_blocked_and_a_bad_request_is_permanent_and_both_are_remembered() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let app = App::start(vec![]);
        let (channel, _) = start_channel(&fake, TelegramMode::Polling, &app);
        fake.block(560);

        let err = channel
            .send(prompt("prompt:7:telegram", 560))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&err, ChatSendError::Blocked(why) if why.contains("blocked")),
            "{err:?}"
        );
        let again = channel
            .send(prompt("prompt:7:telegram", 560))
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(again, ChatSendError::Blocked(_)));
        assert_eq!(
            fake.calls("sendMessage"),
            1,
            "a final answer is remembered per key"
        );

        fake.fail_next("sendMessage", 1, Fault::BadRequest("chat not found".into()));
        let err = channel
            .send(prompt("prompt:8:telegram", 561))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&err, ChatSendError::Permanent(why) if why.contains("chat not found")),
            "{err:?}"
        );

        let err = channel
            .send(prompt("prompt:9:telegram", 0).with_chat("not-a-chat"))
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, ChatSendError::Permanent(_)));
        assert!(fake.sent().is_empty());
    })
    .await;
}

trait WithChat {
    fn with_chat(self, chat: &str) -> Self;
}

impl WithChat for ChatSend {
    fn with_chat(mut self, chat: &str) -> Self {
        self.chat_id = chat.into();
        self
    }
}

#[actix_rt::test]
async fn the_same_key_is_sent_once_even_when_asked_concurrently() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let app = App::start(vec![]);
        let (channel, _) = start_channel(&fake, TelegramMode::Polling, &app);

        let (a, b) = tokio::join!(
            channel.send(prompt("prompt:10:telegram", 562)),
            channel.send(prompt("prompt:10:telegram", 562))
        );
        let c = channel.send(prompt("prompt:10:telegram", 562)).await;

        let (a, b, c) = (
            a.unwrap().unwrap(),
            b.unwrap().unwrap(),
            c.unwrap().unwrap(),
        );
        assert_eq!(fake.sent().len(), 1);
        assert_eq!((&a, &b), (&c, &c));
    })
    .await;
}

#[actix_rt::test]
async fn polling_delivers_a_reply_to_the_prompt_and_sends_the_apps_answer() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let mut app = App::start(vec![Script::Reply(Some(
            "Got 2 dones for Tue 25 Nov <3".into(),
        ))]);
        let (channel, _) = start_channel(&fake, TelegramMode::Polling, &app);
        let sent = channel
            .send(prompt("prompt:11:telegram", 555))
            .await
            .unwrap()
            .unwrap();
        let prompt_id: i64 = sent.message_ids[0].parse().unwrap();

        let injected = fake.inject_message(
            IncomingMessage::private(ada(), "shipped the release\nfixed #42")
                .replying_to(prompt_id)
                .at(1764010800),
        );

        let seen = app.wait(1).await;
        let r = &seen[0];
        assert_eq!(r.channel, "telegram");
        assert_eq!(r.update_id, injected.update_id.to_string());
        assert_eq!(r.message_id, injected.message_id.to_string());
        assert_eq!(
            (r.chat_id.as_str(), r.user_id.as_str(), r.user_name.as_str()),
            ("555", "555", "Ada")
        );
        assert_eq!(r.text, "shipped the release\nfixed #42");
        assert_eq!(r.reply_to, Some(prompt_id.to_string()));
        assert!(r.private && r.event == ChatEvent::Message);
        assert_eq!(r.at.timestamp(), 1764010800);

        let on_wire = fake.wait_sent(2).await;
        assert_eq!(on_wire[1].text, "Got 2 dones for Tue 25 Nov &lt;3");
        assert_eq!(
            (on_wire[1].chat_id.as_str(), on_wire[1].reply_to),
            ("555", Some(injected.message_id))
        );
        fake.wait_confirmed(injected.update_id + 1).await;
        assert_eq!(fake.pending_updates(), 0);
    })
    .await;
}

#[actix_rt::test]
async fn an_edit_arrives_as_edited_with_the_original_message_id() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let mut app = App::start(vec![]);
        let (_channel, _) = start_channel(&fake, TelegramMode::Polling, &app);

        let original = fake.inject_message(IncomingMessage::private(ada(), "shipped"));
        let edit = fake.inject_edit(
            original.message_id,
            IncomingMessage::private(ada(), "shipped v2"),
        );

        let seen = app.wait(2).await;
        assert_eq!(
            (seen[0].event, seen[0].text.as_str()),
            (ChatEvent::Message, "shipped")
        );
        assert_eq!(
            (seen[1].event, seen[1].text.as_str()),
            (ChatEvent::Edit, "shipped v2")
        );
        assert_eq!(seen[1].message_id, original.message_id.to_string());
        assert_eq!(seen[1].update_id, edit.update_id.to_string());
        fake.wait_confirmed(edit.update_id + 1).await;
    })
    .await;
}

#[actix_rt::test]
async fn group_commands_addressed_to_us_are_normalised_and_others_are_skipped() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let mut app = App::start(vec![]);
        let (channel, _) = start_channel(&fake, TelegramMode::Polling, &app);
        assert_eq!(channel.0.username().await.unwrap(), FAKE_BOT_USERNAME);

        let other = fake.inject_message(IncomingMessage::in_group(
            -1001234567890,
            ada(),
            "/done@some_other_bot nope",
        ));
        let ours = fake.inject_message(IncomingMessage::in_group(
            -1001234567890,
            ada(),
            &format!("/done@{FAKE_BOT_USERNAME} wrote the docs"),
        ));
        let start = fake.inject_message(IncomingMessage::private(ada(), "/start Ab3_x-9"));

        let seen = app.wait(2).await;
        assert_eq!(seen[0].update_id, ours.update_id.to_string());
        assert_eq!(
            (seen[0].text.as_str(), seen[0].private),
            ("/done wrote the docs", false)
        );
        assert_eq!(
            (seen[1].text.as_str(), seen[1].private),
            ("/start Ab3_x-9", true)
        );
        fake.wait_confirmed(start.update_id + 1).await;
        assert!(other.update_id < ours.update_id);
        assert_eq!(app.seen().len(), 2);
    })
    .await;
}

#[actix_rt::test]
async fn an_update_the_app_defers_is_delivered_again_and_confirmed_only_after_ok() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let mut app = App::start(vec![Script::Transient, Script::Transient]);
        let (_channel, _) = start_channel(&fake, TelegramMode::Polling, &app);

        let first = fake.inject_message(IncomingMessage::private(ada(), "shipped"));
        let seen = app.wait(2).await;
        assert_eq!(seen[0].update_id, seen[1].update_id);
        assert!(
            fake.confirmed_offset() <= first.update_id,
            "confirmed before the app said Ok"
        );
        assert_eq!(fake.pending_updates(), 1);

        let seen = app.wait(3).await;
        assert_eq!(seen[2].update_id, first.update_id.to_string());
        fake.wait_confirmed(first.update_id + 1).await;

        let second = fake.inject_message(IncomingMessage::private(ada(), "and more"));
        let seen = app.wait(4).await;
        assert_eq!(seen[3].update_id, second.update_id.to_string());
        assert_eq!(
            seen.iter()
                .filter(|r| r.update_id == first.update_id.to_string())
                .count(),
            3
        );
    })
    .await;
}

#[actix_rt::test]
async fn a_restart_between_get_updates_and_processing_loses_and_repeats_nothing() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();

        // The first instance takes the update and "crashes" before the app has made it durable.
        let mut crashed_app = App::start(vec![Script::Hang]);
        let (first, _) = start_channel(&fake, TelegramMode::Polling, &crashed_app);
        let update = fake.inject_message(IncomingMessage::private(ada(), "shipped"));
        crashed_app.wait(1).await;
        drop(first);
        assert!(fake.confirmed_offset() <= update.update_id);

        // A new instance against the same API gets it again, and confirms it once recorded.
        let mut app = App::start(vec![]);
        let (second, _) = start_channel(&fake, TelegramMode::Polling, &app);
        let seen = app.wait(1).await;
        assert_eq!(seen[0].update_id, update.update_id.to_string());
        fake.wait_confirmed(update.update_id + 1).await;
        drop(second);

        // A third instance sees only what came after: nothing is repeated.
        let mut after = App::start(vec![]);
        let (_third, _) = start_channel(&fake, TelegramMode::Polling, &after);
        let next = fake.inject_message(IncomingMessage::private(ada(), "and more"));
        let seen = after.wait(1).await;
        assert_eq!(seen[0].update_id, next.update_id.to_string());
        fake.wait_confirmed(next.update_id + 1).await;
        assert_eq!(after.seen().len(), 1);
        assert_eq!(app.seen().len(), 1);
        assert_eq!(crashed_app.seen().len(), 1);
    })
    .await;
}

#[actix_rt::test]
async fn webhook_mode_registers_the_secret_and_refuses_a_wrong_one() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let app = App::start(vec![]);
        let (_channel, webhook) = start_channel(&fake, webhook_mode(), &app);
        let webhook = webhook.unwrap();

        let info = fake.wait_webhook().await;
        assert_eq!(info.url, "https://donebot.example.com/telegram/webhook");
        assert_eq!(info.secret_token.as_deref(), Some(SECRET));
        assert_eq!(
            info.allowed_updates,
            Some(vec!["message".to_owned(), "edited_message".to_owned()])
        );

        let update = fake.inject_message(IncomingMessage::private(ada(), "shipped"));
        assert_eq!(
            webhook.handle(Some("wrong"), &update.body()).await,
            WebhookOutcome::Unauthorized
        );
        assert_eq!(
            webhook.handle(None, &update.body()).await,
            WebhookOutcome::Unauthorized
        );
        assert_eq!(webhook.handle(Some(""), &update.body()).await.status(), 401);
        assert!(app.seen().is_empty());
    })
    .await;
}

#[actix_rt::test]
async fn webhook_mode_delivers_to_the_app_and_answers_by_status() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let mut app = App::start(vec![
            Script::Transient,
            Script::Reply(Some("Recorded 1 done.".into())),
        ]);
        let (_channel, webhook) = start_channel(&fake, webhook_mode(), &app);
        let webhook = webhook.unwrap();
        let update = fake.inject_message(IncomingMessage::private(ada(), "shipped"));

        let deferred = webhook.handle(Some(SECRET), &update.body()).await;
        assert_eq!(deferred.status(), 503, "{deferred:?}");
        let ok = webhook.handle(Some(SECRET), &update.body()).await;
        assert_eq!(ok, WebhookOutcome::Accepted);

        let seen = app.wait(2).await;
        assert_eq!(seen[1].update_id, update.update_id.to_string());
        assert_eq!(seen[1].text, "shipped");
        let on_wire = fake.wait_sent(1).await;
        assert_eq!(
            (on_wire[0].text.as_str(), on_wire[0].reply_to),
            ("Recorded 1 done.", Some(update.message_id))
        );

        assert_eq!(
            webhook.handle(Some(SECRET), b"{not json").await.status(),
            400
        );
        assert_eq!(app.seen().len(), 2);
    })
    .await;
}

#[actix_rt::test]
async fn the_fake_refuses_get_updates_while_a_webhook_is_set() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        let client = reqwest_like_post(
            &fake,
            "setWebhook",
            r#"{"url":"https://x.example/hook","secret_token":"abc"}"#,
        )
        .await;
        assert_eq!(client.0, 200);
        let (status, body) = reqwest_like_post(&fake, "getupdates", "{}").await;
        assert_eq!(status, 409);
        assert!(body.contains("\"error_code\":409"), "{body}");
        let (status, body) = reqwest_like_post(&fake, "deleteWebhook", "{}").await;
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"ok":true,"result":true}"#)
        );
        let (status, _) = reqwest_like_post(&fake, "getUpdates", r#"{"timeout":0}"#).await;
        assert_eq!(status, 200);
        let (status, body) = reqwest_like_post(
            &fake,
            "sendMessage",
            &format!(r#"{{"chat_id":1,"text":"{}"}}"#, "x".repeat(4097)),
        )
        .await;
        assert_eq!((status, body.contains("message is too long")), (400, true));
        let (status, body) = reqwest_like_post(
            &fake,
            "sendMessage",
            r#"{"chat_id":1,"text":"<script>","parse_mode":"HTML"}"#,
        )
        .await;
        assert_eq!((status, body.contains("can't parse entities")), (400, true));
    })
    .await;
}

#[actix_rt::test]
async fn invalid_config_is_refused_with_the_key_named() {
    let app = App::start(vec![]);
    let mut config = TelegramConfig::polling("123:short");
    let err = TelegramChannel::new(&config, app.addr.clone().recipient())
        .err()
        .expect("refused");
    assert!(err.to_string().starts_with("[telegram] token: "), "{err}");
    config.token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw".into();
    config.api_url = Some("telegram.local".into());
    let err = TelegramChannel::new(&config, app.addr.clone().recipient())
        .err()
        .expect("refused");
    assert!(err.to_string().starts_with("[telegram] api_url: "), "{err}");
}

/// A raw HTTP/1.1 POST, to check the fake's wire answers without a client's interpretation.
async fn reqwest_like_post(fake: &FakeTelegram, method: &str, json: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = fake.api_url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /bot{}/{method} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        fake.token(),
        json.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[actix_rt::test]
async fn the_fake_enforces_telegrams_limits_and_a_migrated_group_names_its_new_id() {
    within(async {
        let fake = FakeTelegram::start().await.unwrap();
        fake.enforce_limits(true);
        let app = App::start(vec![]);
        let mut config = config(&fake, TelegramMode::Polling);
        // No patience: a 429 comes straight back, and nothing paces the sends.
        config.tuning.rate_limit_patience = Duration::ZERO;
        let channel = Chan(
            TelegramChannel::new(&config, app.addr.clone().recipient())
                .unwrap()
                .start(),
        );
        channel
            .send(prompt("limits:1", 600))
            .await
            .unwrap()
            .unwrap();
        let err = channel
            .send(prompt("limits:2", 600))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            err,
            ChatSendError::RateLimited {
                retry_after_secs: 1
            }
        );
        assert_eq!(fake.rate_limited(), 1);
        // Another chat is not limited by this one.
        channel
            .send(prompt("limits:3", 601))
            .await
            .unwrap()
            .unwrap();

        fake.migrate(-4001, -1004001);
        let err = channel
            .send(prompt("limits:4", -4001))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            err,
            ChatSendError::Migrated {
                to: "-1004001".into()
            }
        );
    })
    .await;
}
