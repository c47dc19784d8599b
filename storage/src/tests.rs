use chrono::{DateTime, NaiveDate, TimeZone, Utc, Weekday};

use super::*;

fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 9, h, 0, 0).unwrap()
}

use crate::codec::{id_key, key};
use crate::reopen;

/// A plain done line.
fn line(text: &str) -> NewDone {
    NewDone {
        text: text.into(),
        kind: DoneKind::Done,
        tags: vec![],
        mentions: vec![],
    }
}

/// Prompt `id` of the member for `day()`, sent by email with Message-ID `mid`.
fn email_prompt(id: PromptId, team: TeamId, member: MemberId, mid: &str) -> Prompt {
    Prompt {
        id,
        team_id: team,
        member_id: member,
        day: day(),
        due_at: t(17),
        created_at: t(17),
        deliveries: vec![Delivery {
            channel: Channel::Email,
            outbox_id: None,
            message_id: Some(mid.to_owned()),
        }],
    }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 9).unwrap()
}

fn team(store: &Store, name: &str) -> Team {
    store
        .create_team(Team {
            id: 0,
            name: name.into(),
            timezone: "Europe/Berlin".into(),
            prompt_cron: "0 18 * * 1-5".into(),
            digest_cron: "0 9 * * 1-5".into(),
            working_days: vec![Weekday::Mon, Weekday::Tue],
            holidays: vec![],
            digest_to: DigestDestinations::default(),
            nudge_after_minutes: None,
            quiet_hours: Default::default(),
            created_at: t(0),
        })
        .unwrap()
}

fn member(store: &Store, team: TeamId, email: &str) -> Member {
    store
        .create_member(Member {
            id: 0,
            team_id: team,
            name: "Ada".into(),
            email: email.into(),
            timezone: None,
            identities: Identities::default(),
            prompt_channels: vec![],
            digest_channels: vec![],
            state: MemberState::Active,
            role: Role::Member,
            prompt_days: None,
            prompt_time: None,
            created_at: t(0),
        })
        .unwrap()
}

fn mail(key: &str, due: DateTime<Utc>) -> NewOutboxMessage {
    NewOutboxMessage {
        channel: Channel::Email,
        key: key.into(),
        kind: OutboxKind::Prompt,
        team_id: None,
        member_id: None,
        envelope_from: "bot@example.com".into(),
        envelope_to: vec!["ada@example.com".into()],
        message_id: format!("{key}@example.com"),
        body: b"Subject: hi\r\n\r\nhello\r\n".to_vec(),
        due_at: due,
    }
}

#[test]
fn team_names_and_member_emails_are_unique() {
    let s = Store::temporary().unwrap();
    let a = team(&s, "Core");
    assert!(matches!(
        s.create_team(Team { id: 0, ..a.clone() }),
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(s.find_team("core").unwrap().id, a.id);
    assert_eq!(s.find_team(&a.id.to_string()).unwrap().name, "Core");
    let m = member(&s, a.id, "Ada@Example.com");
    assert!(matches!(
        s.create_member(Member { id: 0, ..m.clone() }),
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(
        s.members_by_email("ada@example.COM").unwrap(),
        vec![m.clone()]
    );
    assert_eq!(s.members_of(a.id).unwrap(), vec![m]);
    let other = team(&s, "Other");
    assert!(s.members_of(other.id).unwrap().is_empty());
}

#[test]
fn a_prompt_is_created_once_per_member_and_day_with_its_outbox_message() {
    let s = Store::temporary().unwrap();
    let tm = team(&s, "Core");
    let m = member(&s, tm.id, "ada@example.com");
    let prompt = |id| email_prompt(id, tm.id, m.id, &format!("prompt{id}@example.com"));
    let id1 = s.new_prompt_id().unwrap();
    let msg1 = NewOutboxMessage {
        message_id: format!("prompt{id1}@example.com"),
        ..mail(&format!("prompt:{id1}:email"), t(17))
    };
    let (p1, created) = s.create_prompt(prompt(id1), &[msg1], t(17)).unwrap();
    assert!(created);
    let outbox_id = p1.deliveries[0].outbox_id.expect("outbox id filled in");
    assert_eq!(
        s.outbox_message(outbox_id).unwrap().state,
        OutboxState::Queued
    );

    let id2 = s.new_prompt_id().unwrap();
    let msg2 = mail(&format!("prompt:{id2}:email"), t(17));
    let (p2, created) = s.create_prompt(prompt(id2), &[msg2], t(17)).unwrap();
    assert!(!created);
    assert_eq!(p2, p1);
    assert_eq!(
        s.outbox_counts().unwrap().queued,
        1,
        "the second prompt enqueued nothing"
    );
    assert_eq!(
        s.prompt_by_message_id(&format!("prompt{id1}@example.com"))
            .unwrap(),
        Some(p1.clone())
    );
    assert_eq!(s.latest_prompt(m.id).unwrap(), Some(p1));
}

/// A prompt's email Message-ID that names the prompt is found without an index entry, and only
/// if the prompt really went out with exactly that Message-ID.
#[test]
fn a_message_id_naming_its_prompt_finds_it_and_nothing_else() {
    let s = Store::temporary().unwrap();
    let tm = team(&s, "Core");
    let m = member(&s, tm.id, "ada@example.com");
    let id = s.new_prompt_id().unwrap();
    let mid = crate::prompt_message_id(id, "k7q2m4x9", "example.com");
    assert_eq!(mid, format!("prompt.{id}.k7q2m4x9@example.com"));
    let prompt = email_prompt(id, tm.id, m.id, &mid);
    let msg = NewOutboxMessage {
        message_id: mid.clone(),
        ..mail(&format!("prompt:{id}:email"), t(17))
    };
    let (p, _) = s.create_prompt(prompt, &[msg], t(17)).unwrap();
    assert!(
        s.t.prompts_by_message_id
            .get(mid.as_bytes())
            .unwrap()
            .is_none(),
        "no index entry"
    );
    assert_eq!(s.prompt_by_message_id(&mid).unwrap(), Some(p));
    for forged in [
        format!("prompt.{id}.k7q2m4x8@example.com"),
        format!("prompt.{id}.k7q2m4x9@example.org"),
        format!("prompt.{}.k7q2m4x9@example.com", id + 1),
        format!("prompt.{id}@example.com"),
        "prompt..k7q2m4x9@example.com".to_owned(),
    ] {
        assert_eq!(s.prompt_by_message_id(&forged).unwrap(), None, "{forged}");
    }
}

#[test]
fn a_reply_is_recorded_once_and_marks_its_inbound_record() {
    let s = Store::temporary().unwrap();
    let tm = team(&s, "Core");
    let m = member(&s, tm.id, "ada@example.com");
    let writer = s.start_inbound_writer().unwrap();
    let mail = NewInbound {
        via: "smtp".into(),
        mail_from: "ada@example.com".into(),
        rcpt_to: vec!["r@x".into()],
        message_id: Some("m1@x".into()),
        raw: b"raw".to_vec(),
        received_at: t(19),
    };
    let acc = writer.accept(mail.clone()).wait().unwrap();
    assert_eq!(acc.raw, b"raw");
    // Durable in the spool, not yet in sled: nothing is pending until it is registered.
    assert!(s.pending_inbound().unwrap().is_empty());
    assert_eq!(
        s.register_inbound(std::slice::from_ref(&acc.entry))
            .unwrap(),
        vec![Registered::Fresh]
    );
    assert_eq!(
        s.register_inbound(std::slice::from_ref(&acc.entry))
            .unwrap(),
        vec![Registered::Known]
    );
    assert_eq!(s.pending_inbound().unwrap(), vec![acc.id()]);
    assert_eq!(s.inbound_body(acc.id()).unwrap(), b"raw");
    let again = writer.accept(mail).wait().unwrap();
    assert_ne!(again.id(), acc.id());
    assert_eq!(
        s.register_inbound(std::slice::from_ref(&again.entry))
            .unwrap(),
        vec![Registered::Duplicate(acc.id())]
    );
    assert!(matches!(
        s.inbound(again.id()).unwrap().state,
        InboundState::Processed { .. }
    ));
    assert_eq!(s.pending_inbound().unwrap(), vec![acc.id()]);

    let lines = vec![
        NewDone {
            text: "shipped #release".into(),
            kind: DoneKind::Done,
            tags: vec!["release".into()],
            mentions: vec![],
        },
        NewDone {
            text: "fix login".into(),
            kind: DoneKind::Goal,
            tags: vec![],
            mentions: vec![],
        },
    ];
    let source = Source {
        channel: Channel::Email,
        message_id: Some("m1@x".into()),
        prompt_id: None,
        inbound_id: Some(acc.id()),
    };
    let first = s
        .record_reply(tm.id, m.id, day(), &lines, &source, t(19))
        .unwrap();
    assert!(matches!(first, RecordOutcome::Recorded(ref ids) if ids.len() == 2));
    let second = s
        .record_reply(tm.id, m.id, day(), &lines, &source, t(20))
        .unwrap();
    assert_eq!(second, RecordOutcome::Duplicate(first.ids().to_vec()));
    assert!(s.pending_inbound().unwrap().is_empty());
    assert!(matches!(
        s.inbound(acc.id()).unwrap().state,
        InboundState::Processed { .. }
    ));

    let dones = s.team_dones(tm.id, day(), day()).unwrap();
    assert_eq!(
        dones.iter().map(|d| d.text.as_str()).collect::<Vec<_>>(),
        ["shipped #release", "fix login"]
    );
    assert!(
        s.team_dones(tm.id, day().succ_opt().unwrap(), day().succ_opt().unwrap())
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.counter("dones.recorded").unwrap(), 2);

    let last = s.last_done_of(m.id).unwrap().unwrap();
    s.update_done(last.id, t(21), |d| d.deleted = true).unwrap();
    assert_eq!(s.team_dones(tm.id, day(), day()).unwrap().len(), 1);
}

/// A member's last done, for `/undo`: one index entry a reply, read newest first, done by done;
/// the entries earlier versions wrote (one a done) read the same.
#[test]
fn the_last_done_of_a_member_walks_replies_back_done_by_done() {
    let s = Store::temporary().unwrap();
    let tm = team(&s, "Core");
    let m = member(&s, tm.id, "ada@example.com");
    let source = |id: &str| Source {
        channel: Channel::Email,
        message_id: Some(id.into()),
        prompt_id: None,
        inbound_id: None,
    };
    let old = s
        .record_reply(
            tm.id,
            m.id,
            day(),
            &[line("old one")],
            &source("a@x"),
            t(18),
        )
        .unwrap();
    // What an earlier version wrote for a reply of two: an entry for each done.
    let legacy = s
        .record_reply(
            tm.id,
            m.id,
            day(),
            &[line("legacy 1"), line("legacy 2")],
            &source("b@x"),
            t(18),
        )
        .unwrap();
    let (l1, l2) = (legacy.ids()[0], legacy.ids()[1]);
    s.t.dones_by_member
        .remove(key(&[&id_key(m.id), &id_key(l1)]))
        .unwrap();
    for id in [l1, l2] {
        s.t.dones_by_member
            .insert(key(&[&id_key(m.id), &id_key(id)]), &[])
            .unwrap();
    }
    let new = s
        .record_reply(
            tm.id,
            m.id,
            day(),
            &[line("a"), line("b"), line("c")],
            &source("c@x"),
            t(19),
        )
        .unwrap();
    assert_eq!(
        s.t.dones_by_member.scan_prefix(id_key(m.id)).count(),
        4,
        "one entry a reply (the legacy reply has two)"
    );
    let mut undone = Vec::new();
    while let Some(d) = s.last_done_of(m.id).unwrap() {
        undone.push(d.text.clone());
        s.update_done(d.id, t(20), |d| d.deleted = true).unwrap();
    }
    assert_eq!(undone, ["c", "b", "a", "legacy 2", "legacy 1", "old one"]);
    assert_eq!((old.ids().len(), new.ids().len()), (1, 3));
}

#[test]
fn outbox_walks_its_states_and_recovers_in_flight_messages() {
    let s = Store::temporary().unwrap();
    let (a, new) = s.enqueue(&mail("a", t(10)), t(9)).unwrap();
    assert!(new);
    assert_eq!(s.enqueue(&mail("a", t(10)), t(9)).unwrap(), (a, false));
    let (b, _) = s.enqueue(&mail("b", t(11)), t(9)).unwrap();
    let (c, _) = s.enqueue(&mail("c", t(12)), t(9)).unwrap();

    assert!(s.claim_due(t(9), 10).unwrap().is_empty(), "nothing due yet");
    assert_eq!(s.next_outbox_due().unwrap(), Some(t(10)));
    let claimed = s.claim_due(t(11), 10).unwrap();
    assert_eq!(
        claimed.iter().map(|(m, _)| m.id).collect::<Vec<_>>(),
        [a, b]
    );
    assert_eq!(claimed[0].1, b"Subject: hi\r\n\r\nhello\r\n");
    assert!(
        s.claim_due(t(11), 10).unwrap().is_empty(),
        "claimed messages are not claimed twice"
    );

    s.mark_sent(a, t(11), "250 ok").unwrap();
    s.mark_deferred(b, t(13), "451 try later").unwrap();
    let counts = s.outbox_counts().unwrap();
    assert_eq!(
        (
            counts.queued,
            counts.sending,
            counts.sent,
            counts.deferred,
            counts.failed
        ),
        (1, 0, 1, 1, 0)
    );

    // c is claimed and its sender stops: the next one's start-up makes it due again.
    assert_eq!(s.claim_due(t(12), 10).unwrap().len(), 1);
    assert_eq!(s.outbox_counts().unwrap().sending, 1);
    assert_eq!(s.recover_outbox(t(14)).unwrap().released, 1);
    let back = s.outbox_message(c).unwrap();
    assert_eq!((back.state, back.attempts), (OutboxState::Queued, 0));

    // Due as it was (before b's retry time), not claimed anew.
    let due = s.claim_due(t(14), 10).unwrap();
    assert_eq!(due.iter().map(|(m, _)| m.id).collect::<Vec<_>>(), [c, b]);
    s.mark_failed(b, t(14), "550 no such user").unwrap();
    assert!(
        s.retry_outbox(a, t(15)).is_err(),
        "a sent message cannot be retried"
    );
    s.retry_outbox(b, t(15)).unwrap();
    assert_eq!(s.outbox_list(Some("queued"), 10).unwrap().len(), 1);
}

#[test]
fn backup_is_a_consistent_copy_that_restores() {
    let s = Store::temporary().unwrap();
    let tm = team(&s, "Core");
    let last = member(&s, tm.id, "ada@example.com");
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap");
    backup_to(&s, &snap, t(1)).unwrap();
    assert!(
        backup_to(&s, &snap, t(1)).is_err(),
        "never overwrites a backup"
    );

    let data = dir.path().join("restored");
    crate::unlocked(|| restore_from(&snap, &data)).unwrap();
    let r = crate::reopen(&data).unwrap();
    assert_eq!(r.teams().unwrap(), vec![tm.clone()]);
    assert_eq!(r.members_of(tm.id).unwrap().len(), 1);
    assert!(
        r.next_id().unwrap() > last.id,
        "ids continue after the restored ones"
    );
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    match Store::open(dir.path()) {
        Err(StorageError::Locked { .. }) => {}
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("expected Locked, got a second handle"),
    }
}

#[test]
fn an_edit_replaces_the_dones_of_its_message() {
    let s = Store::temporary().unwrap();
    let tm = team(&s, "Core");
    let m = member(&s, tm.id, "ada@example.com");
    let source = Source {
        channel: Channel::Telegram,
        message_id: Some("5551:42".into()),
        prompt_id: None,
        inbound_id: None,
    };
    s.record_reply(tm.id, m.id, day(), &[line("a"), line("b")], &source, t(19))
        .unwrap();
    let edited = s
        .replace_reply(tm.id, m.id, day(), &[line("a2")], &source, t(20))
        .unwrap();
    assert!(matches!(edited, RecordOutcome::Recorded(ref ids) if ids.len() == 1));
    let texts: Vec<String> = s
        .team_dones(tm.id, day(), day())
        .unwrap()
        .into_iter()
        .map(|d| d.text)
        .collect();
    assert_eq!(texts, ["a2"]);
    // The edit is now the message's set: a redelivery of it is a duplicate.
    let again = s
        .record_reply(tm.id, m.id, day(), &[line("a2")], &source, t(21))
        .unwrap();
    assert_eq!(again, RecordOutcome::Duplicate(edited.ids().to_vec()));
}

#[test]
fn link_codes_work_once_and_expire() {
    let s = Store::temporary().unwrap();
    let tm = team(&s, "Core");
    let m = member(&s, tm.id, "ada@example.com");
    let code = LinkCode {
        purpose: LinkPurpose::Member { member_id: m.id },
        channel: Channel::Telegram,
        expires_at: t(20),
    };
    s.create_link_code("abc", &code).unwrap();
    let ada = LinkedFrom {
        user_id: "5551",
        chat_id: "5551",
    };
    let Linked::Member(linked) = s.consume_link_code("abc", ada, t(19)).unwrap() else {
        panic!("a member code links a member");
    };
    assert_eq!(
        linked
            .identities
            .account(Channel::Telegram)
            .map(|a| &a.chat_id[..]),
        Some("5551")
    );
    assert!(
        s.consume_link_code("abc", ada, t(19))
            .unwrap_err()
            .is_not_found(),
        "single use"
    );
    assert_eq!(
        s.member_by_identity(Channel::Telegram, "5551")
            .unwrap()
            .map(|m| m.id),
        Some(m.id)
    );
    s.create_link_code("late", &code).unwrap();
    assert!(
        s.consume_link_code("late", ada, t(21))
            .unwrap_err()
            .is_not_found(),
        "expired"
    );
    s.unlink_identity(m.id, Channel::Telegram).unwrap();
    assert_eq!(
        s.member_by_identity(Channel::Telegram, "5551").unwrap(),
        None
    );
    let group = LinkCode {
        purpose: LinkPurpose::TeamChat { team_id: tm.id },
        channel: Channel::Telegram,
        expires_at: t(20),
    };
    s.create_link_code("grp", &group).unwrap();
    let group_chat = LinkedFrom {
        user_id: "5551",
        chat_id: "-100123",
    };
    s.consume_link_code("grp", group_chat, t(19)).unwrap();
    assert_eq!(
        s.team(tm.id).unwrap().digest_to.chat(Channel::Telegram),
        Some("-100123")
    );
    assert!(s.mark_once("x").unwrap());
    assert!(!s.mark_once("x").unwrap());
}

#[test]
fn replies_recorded_together_see_each_other() {
    let s = Store::temporary().unwrap();
    let tm = team(&s, "Core");
    let m = member(&s, tm.id, "ada@example.com");
    let reply = |mid: &str, lines: Vec<NewDone>| NewReply {
        team: tm.id,
        member: m.id,
        day: day(),
        lines,
        source: Source {
            channel: Channel::Email,
            message_id: Some(mid.into()),
            prompt_id: None,
            inbound_id: None,
        },
        replace: false,
        received: None,
    };
    let outcomes = s
        .record_replies(
            &[
                reply("a@x", vec![line("one"), line("two")]),
                reply("b@x", vec![line("three")]),
                // The first message again, in the same batch: recorded once.
                reply("a@x", vec![line("one"), line("two")]),
            ],
            t(19),
        )
        .unwrap();
    assert!(matches!(&outcomes[0], RecordOutcome::Recorded(ids) if ids.len() == 2));
    assert!(matches!(&outcomes[1], RecordOutcome::Recorded(ids) if ids.len() == 1));
    assert_eq!(
        outcomes[2],
        RecordOutcome::Duplicate(outcomes[0].ids().to_vec())
    );
    assert_eq!(s.counter("dones.recorded").unwrap(), 3);
    let texts: Vec<String> = s
        .team_dones(tm.id, day(), day())
        .unwrap()
        .into_iter()
        .map(|d| d.text)
        .collect();
    assert_eq!(texts, ["one", "two", "three"]);
}

#[test]
fn a_slack_account_keeps_its_user_and_its_dm_apart_and_a_broken_one_is_still_recognised() {
    let s = Store::temporary().unwrap();
    let tm = team(&s, "Core");
    let m = member(&s, tm.id, "ada@example.com");
    let code = LinkCode {
        purpose: LinkPurpose::Member { member_id: m.id },
        channel: Channel::Slack,
        expires_at: t(20),
    };
    s.create_link_code("abc", &code).unwrap();
    let from = LinkedFrom {
        user_id: "U024BE7LH",
        chat_id: "D024BE91L",
    };
    s.consume_link_code("abc", from, t(19)).unwrap();
    let found = s.member_by_identity(Channel::Slack, "U024BE7LH").unwrap();
    let account = found
        .as_ref()
        .and_then(|m| m.identities.account(Channel::Slack));
    assert_eq!(account.map(|a| &a.chat_id[..]), Some("D024BE91L"));
    assert_eq!(
        s.member_by_identity(Channel::Slack, "D024BE91L").unwrap(),
        None
    );
    s.mark_account_broken(m.id, Channel::Slack).unwrap();
    let found = s.member_by_identity(Channel::Slack, "U024BE7LH").unwrap();
    assert_eq!(found.as_ref().map(|m| m.id), Some(m.id));
    assert_eq!(
        found.and_then(|m| m.identities.account(Channel::Slack).cloned()),
        None
    );
}

#[test]
fn per_platform_fields_of_older_records_are_migrated_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (team_id, member_id) = {
        let s = Store::open(dir.path()).unwrap();
        let mut tm = team(&s, "Core");
        let mut m = member(&s, tm.id, "ada@example.com");
        // As an older donebot wrote them: one field per platform.
        m.identities.telegram_chat_id = Some(5551);
        m.identities.slack_user_id = Some("U1".into());
        s.t.members
            .insert(
                crate::codec::id_key(m.id),
                crate::codec::encode(&m).unwrap(),
            )
            .unwrap();
        tm.digest_to.telegram_chat_id = Some(-100123);
        s.update_team(&tm).unwrap();
        s.flush().unwrap();
        (tm.id, m.id)
    };
    let s = reopen(dir.path()).unwrap();
    let m = s.member(member_id).unwrap();
    assert_eq!(m.identities.telegram_chat_id, None);
    let tg = m.identities.account(Channel::Telegram).unwrap();
    assert_eq!((&tg.user_id[..], &tg.chat_id[..]), ("5551", "5551"));
    assert!(m.identities.account(Channel::Slack).is_some());
    assert_eq!(
        s.member_by_identity(Channel::Telegram, "5551")
            .unwrap()
            .map(|m| m.id),
        Some(member_id)
    );
    let t = s.team(team_id).unwrap();
    assert_eq!(t.digest_to.telegram_chat_id, None);
    assert_eq!(t.digest_to.chat(Channel::Telegram), Some("-100123"));
    // Idempotent: nothing left to migrate.
    assert_eq!(s.migrate_chat_fields().unwrap(), 0);
}

#[test]
fn channel_names_round_trip_and_bad_ones_are_refused() {
    assert_eq!(
        serde_json::to_string(&Channel::Telegram).unwrap(),
        "\"telegram\""
    );
    let memory: Channel = serde_json::from_str("\"memory\"").unwrap();
    assert_eq!(memory.as_str(), "memory");
    assert!(memory.is_chat() && !Channel::Email.is_chat());
    assert!(serde_json::from_str::<Channel>("\"Tele gram\"").is_err());
    assert!(serde_json::from_str::<Channel>("\"a_name_longer_than_15\"").is_err());
}

#[test]
fn ids_people_read_are_small_and_dense_per_kind_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let core = team(&store, "Core");
        let ops = team(&store, "Ops");
        assert_eq!((core.id, ops.id), (1, 2));
        let ids: Vec<u64> = ["a@x.org", "b@x.org", "c@x.org"]
            .iter()
            .map(|e| member(&store, core.id, e).id)
            .collect();
        assert_eq!(ids, [1, 2, 3], "members count on their own");
        // A team's prompts of an evening reserve their ids at once; the next one follows them.
        assert_eq!(store.new_prompt_ids(3).unwrap(), 1..4);
        assert_eq!(store.new_prompt_id().unwrap(), 4);
        assert!(store.new_prompt_ids(0).unwrap().is_empty());
        store.flush().unwrap();
    }
    // sled's own generator jumps after a reopen; these do not.
    let store = reopen(dir.path()).unwrap();
    assert_eq!(team(&store, "Web").id, 3);
    assert_eq!(member(&store, 3, "d@x.org").id, 4);
    assert_eq!(store.new_prompt_ids(2).unwrap(), 5..7);
}

#[test]
fn dense_ids_start_above_the_ids_of_older_data() {
    let store = Store::temporary().unwrap();
    // A team stored with an id from the old generator, before the counter existed.
    let mut old = team(&store, "Old");
    store.t.meta.remove(IdKind::Team.counter()).unwrap();
    store.t.teams.remove(codec::id_key(old.id)).unwrap();
    old.id = 8_000_002;
    store
        .t
        .teams
        .insert(codec::id_key(old.id), codec::encode(&old).unwrap())
        .unwrap();
    assert_eq!(team(&store, "New").id, 8_000_003);
}

#[test]
fn an_older_database_is_upgraded_and_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let version = |store: &Store| {
        let v = store.t.meta.get("schema_version").unwrap().unwrap();
        u32::from_be_bytes(v.as_ref().try_into().unwrap())
    };
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .t
            .meta
            .insert("schema_version", &1u32.to_be_bytes())
            .unwrap();
        store.flush().unwrap();
    }
    {
        let store = reopen(dir.path()).unwrap();
        assert_eq!(version(&store), codec::SCHEMA_VERSION);
        let newer = codec::SCHEMA_VERSION + 1;
        store
            .t
            .meta
            .insert("schema_version", &newer.to_be_bytes())
            .unwrap();
        store.flush().unwrap();
    }
    assert!(matches!(
        reopen(dir.path()),
        Err(StorageError::SchemaTooNew { .. })
    ));
}
