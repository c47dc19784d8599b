//! The web pages over HTTP, as a browser without JavaScript uses them: signing in by an emailed
//! link (once, soon expiring, the same answer for unknown addresses), sessions and sign-out, CSRF
//! on every form, and every access rule tried with the forbidden request.
//! (tests/browser.rs drives the same pages in a real Chromium.)

mod common;

use chrono::Duration;
use common::web::{WebUser, ask_for_link, sign_in};
use common::{Donebot, NEW_YORK, local};
use storage::{OutboxKind, Role};

struct World {
    db: Donebot,
    dir: tempfile::TempDir,
    core: u64,
    ops: u64,
    ann: u64,
    carl: u64,
}

/// Core (Ann, its admin, and Carl) and Ops (Bob); root@ is a server admin.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = Donebot::start_with(
        dir.path(),
        None,
        local(NEW_YORK, "2026-03-10", 10, 0),
        |s| s.web_admins = vec!["root@example.com".into()],
    )
    .await;
    let core = db.create_team("Core", "America/New_York").await;
    let ops = db.create_team("Ops", "America/New_York").await;
    let ann = db.add_member(core, "Ann", "ann@example.com").await;
    let carl = db.add_member(core, "Carl", "carl@example.com").await;
    db.add_member(ops, "Bob", "bob@example.com").await;
    donebot::ops::set_role(&db.server.app.store, ann, Role::Admin).unwrap();
    World {
        db,
        dir,
        core,
        ops,
        ann,
        carl,
    }
}

impl World {
    async fn sign_in(&mut self, email: &str) -> WebUser {
        sign_in(&mut self.db, self.dir.path(), email).await
    }

    fn sign_in_mails(&self) -> Vec<Vec<String>> {
        self.db
            .server
            .app
            .store
            .outbox_list(None, 1000)
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == OutboxKind::SignIn)
            .map(|m| m.envelope_to)
            .collect()
    }

    fn done_texts(&self, team: u64) -> Vec<String> {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        self.db
            .server
            .app
            .store
            .team_dones(team, day - Duration::days(30), day)
            .unwrap()
            .into_iter()
            .map(|d| d.text)
            .collect()
    }
}

#[actix_rt::test]
async fn a_sign_in_link_works_once_soon_and_only_for_a_known_address() {
    let mut w = world().await;
    let mut visitor = WebUser::new(&w.db);
    let home = visitor.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.contains("Email me a sign-in link"), "{}", home.body);

    // An unknown address gets the same answer and no email.
    let unknown = visitor
        .post("/sign-in", &[("email", "nobody@example.com")])
        .await;
    assert_eq!(unknown.status, 200);
    assert!(unknown.contains("Check your email"));
    let link = ask_for_link(&mut w.db, &mut visitor, w.dir.path(), "Ann@Example.com").await;
    assert_eq!(
        w.sign_in_mails(),
        vec![vec!["ann@example.com".to_string()]],
        "one sign-in email, to the known address only"
    );
    assert!(link.starts_with(&w.db.url("/sign-in/")), "{link}");

    // Opening the link (as a mail scanner does) changes nothing; its button signs in.
    for _ in 0..2 {
        let page = visitor.get(&link).await;
        assert_eq!(page.status, 200);
        assert!(page.contains("Sign in to donebot"));
    }
    let signed = visitor.post(&link, &[]).await;
    assert_eq!(signed.status, 303);
    assert_eq!(signed.location.as_deref(), Some("/"));
    let cookie = signed
        .set_cookies
        .iter()
        .find(|c| c.starts_with("donebot_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let teams = visitor.get("/").await;
    assert!(
        teams.contains("Your teams") && teams.contains("Core"),
        "{}",
        teams.body
    );
    assert!(!teams.contains("Ops"), "only her own teams: {}", teams.body);

    // Used once: a second visitor cannot use it again.
    let mut other = WebUser::new(&w.db);
    other.get(&link).await;
    let again = other.post(&link, &[]).await;
    assert_eq!(again.status, 404, "{}", again.body);
    assert!(again.contains("expired or was used already"));
    assert!(!other.cookies.contains_key("donebot_session"));

    // A link not used within 15 minutes no longer works.
    let mut late = WebUser::new(&w.db);
    let link = ask_for_link(&mut w.db, &mut late, w.dir.path(), "carl@example.com").await;
    w.db.clock.set(local(NEW_YORK, "2026-03-10", 10, 16));
    late.get(&link).await;
    assert_eq!(late.post(&link, &[]).await.status, 404);

    // Signing out ends the session on the server: the old cookie opens nothing.
    let session = visitor.cookies["donebot_session"].clone();
    visitor.get("/").await;
    let out = visitor.post("/sign-out", &[]).await;
    assert_eq!(out.status, 303);
    assert!(!visitor.cookies.contains_key("donebot_session"));
    let mut replay = WebUser::new(&w.db);
    replay
        .cookies
        .insert("donebot_session".into(), session.clone());
    let page = replay.get(&format!("/teams/{}", w.core)).await;
    assert_eq!(page.status, 303, "a session that ended is no session");

    // A forged cookie (a session secret with a wrong signature) is nobody.
    let (secret, _) = session.split_once('.').unwrap();
    let mut forged = WebUser::new(&w.db);
    forged.cookies.insert(
        "donebot_session".into(),
        format!("{secret}.aaaaaaaaaaaaaaaa"),
    );
    assert_eq!(forged.get(&format!("/teams/{}", w.core)).await.status, 303);
    w.db.stop().await;
}

#[actix_rt::test]
async fn sign_in_emails_to_one_address_are_limited() {
    let mut w = world().await;
    let mut visitor = WebUser::new(&w.db);
    for _ in 0..3 {
        ask_for_link(&mut w.db, &mut visitor, w.dir.path(), "bob@example.com").await;
    }
    // The fourth is answered the same, and sends nothing; Ann's still goes out.
    let page = visitor
        .post("/sign-in", &[("email", "bob@example.com")])
        .await;
    assert!(page.contains("Check your email"));
    ask_for_link(&mut w.db, &mut visitor, w.dir.path(), "ann@example.com").await;
    let to_bob = w
        .sign_in_mails()
        .iter()
        .filter(|to| to[0] == "bob@example.com")
        .count();
    assert_eq!(to_bob, 3);
    w.db.stop().await;
}

/// One client cannot make donebot email member after member: past its share of requests in a
/// window it gets 429 and nothing is sent, whichever address it names.
#[actix_rt::test]
async fn sign_in_requests_from_one_client_are_limited() {
    let mut w = world().await;
    let mut visitor = WebUser::new(&w.db);
    let addresses = ["ann@example.com", "carl@example.com", "bob@example.com"];
    for email in addresses.iter().cycle().take(9) {
        ask_for_link(&mut w.db, &mut visitor, w.dir.path(), email).await;
    }
    // The tenth is within the share (an unknown address: answered, nothing sent).
    let tenth = visitor
        .post("/sign-in", &[("email", "who@example.com")])
        .await;
    assert_eq!(tenth.status, 200, "{}", tenth.body);
    let sent = w.sign_in_mails().len();
    assert_eq!(sent, 9);
    let refused = visitor
        .post("/sign-in", &[("email", "root@example.com")])
        .await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(
        refused.contains("Too many sign-in requests"),
        "{}",
        refused.body
    );
    assert_eq!(w.sign_in_mails().len(), sent, "nothing sent to root@");

    // The next window gives the client its share again.
    w.db.clock.advance(Duration::minutes(10));
    ask_for_link(&mut w.db, &mut visitor, w.dir.path(), "root@example.com").await;
    w.db.stop().await;
}

#[actix_rt::test]
async fn every_form_needs_the_token_of_its_own_session() {
    let mut w = world().await;
    let mut ann = w.sign_in("ann@example.com").await;
    let mut carl = w.sign_in("carl@example.com").await;
    let add = format!("/teams/{}/dones", w.core);
    ann.get(&format!("/teams/{}", w.core)).await;
    let fields = [
        ("nonce", "n1"),
        ("text", "Forged work"),
        ("day", "2026-03-10"),
    ];

    let missing = ann.post_raw(&add, &fields).await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    let mut wrong = vec![("csrf", "0000")];
    wrong.extend_from_slice(&fields);
    assert_eq!(ann.post_raw(&add, &wrong).await.status, 403);
    // Carl's token in Ann's session (what a page of another origin cannot read anyway).
    let carl_page = carl.get(&format!("/teams/{}", w.core)).await;
    let carls = carl_page.csrf();
    let mut borrowed = vec![("csrf", carls.as_str())];
    borrowed.extend_from_slice(&fields);
    let refused = ann.post_raw(&add, &borrowed).await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.contains("did not come from this site"),
        "{}",
        refused.body
    );
    assert!(w.done_texts(w.core).is_empty(), "nothing was recorded");

    // The sign-in form itself needs the token of the page it came from.
    let mut stranger = WebUser::new(&w.db);
    let page = stranger
        .post_raw("/sign-in", &[("csrf", "x"), ("email", "ann@example.com")])
        .await;
    assert_eq!(page.status, 403);
    w.db.stop().await;
}

#[actix_rt::test]
async fn members_see_only_their_teams_and_change_only_their_own_dones() {
    let mut w = world().await;
    let (core, ops) = (w.core, w.ops);
    let mut ann = w.sign_in("ann@example.com").await;
    let mut carl = w.sign_in("carl@example.com").await;
    let mut bob = w.sign_in("bob@example.com").await;

    ann.get(&format!("/teams/{core}")).await;
    let added = ann
        .post(
            &format!("/teams/{core}/dones"),
            &[
                ("nonce", "a1"),
                ("text", "- Shipped the parser\n- Fixed #search bug"),
                ("day", "2026-03-10"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    // The same form sent twice records once.
    ann.post(
        &format!("/teams/{core}/dones"),
        &[
            ("nonce", "a1"),
            ("text", "- Shipped the parser\n- Fixed #search bug"),
            ("day", "2026-03-10"),
        ],
    )
    .await;
    assert_eq!(
        w.done_texts(core),
        ["Shipped the parser", "Fixed #search bug"]
    );
    let feed = ann.get(added.location.as_deref().unwrap()).await;
    assert!(
        feed.contains("Added.") && feed.contains("Shipped the parser"),
        "{}",
        feed.body
    );
    let done =
        w.db.server
            .app
            .store
            .team_dones(
                core,
                chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(),
                chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(),
            )
            .unwrap()[0]
            .id;

    // Bob (Ops) sees nothing of Core, by any page, and cannot write to it.
    for path in [
        format!("/teams/{core}"),
        format!("/teams/{core}/search?q=parser"),
        format!("/teams/{core}/members/{}", w.ann),
        format!("/teams/{core}/settings"),
        format!("/teams/{core}/dones/{done}/edit"),
        "/teams/999999".to_string(),
    ] {
        let page = bob.get(&path).await;
        assert_eq!(page.status, 403, "{path}: {}", page.body);
        assert!(
            !page.contains("Shipped the parser") && !page.contains("Ann"),
            "{path}"
        );
    }
    bob.get(&format!("/teams/{ops}")).await;
    for (path, fields) in [
        (
            format!("/teams/{core}/dones"),
            vec![("nonce", "b1"), ("text", "Sneaky")],
        ),
        (
            format!("/teams/{core}/dones/{done}"),
            vec![("text", "Defaced")],
        ),
        (format!("/teams/{core}/dones/{done}/delete"), vec![]),
        (format!("/teams/{core}/members/{}/remove", w.carl), vec![]),
    ] {
        assert_eq!(bob.post(&path, &fields).await.status, 403, "{path}");
    }

    // Carl sees Core but changes only his own dones, and not the team's settings.
    carl.get(&format!("/teams/{core}")).await;
    assert_eq!(
        carl.get(&format!("/teams/{core}/dones/{done}/edit"))
            .await
            .status,
        403
    );
    assert_eq!(
        carl.post(
            &format!("/teams/{core}/dones/{done}"),
            &[("text", "Carl's now")]
        )
        .await
        .status,
        403
    );
    assert_eq!(
        carl.post(&format!("/teams/{core}/dones/{done}/delete"), &[])
            .await
            .status,
        403
    );
    assert_eq!(
        carl.get(&format!("/teams/{core}/settings")).await.status,
        403
    );
    assert_eq!(
        carl.post(
            &format!("/teams/{core}/settings"),
            &[
                ("timezone", "UTC"),
                ("prompt_cron", "0 9 * * *"),
                ("digest_cron", "0 9 * * *"),
                ("working_days", "mon-fri")
            ],
        )
        .await
        .status,
        403
    );
    assert_eq!(carl.get("/admin").await.status, 403);
    assert_eq!(
        w.done_texts(core),
        ["Shipped the parser", "Fixed #search bug"]
    );

    // Ann, Core's admin, is no admin of Ops.
    assert_eq!(ann.get(&format!("/teams/{ops}/settings")).await.status, 403);

    // Ann removes Carl: his session loses the team at once.
    ann.get(&format!("/teams/{core}/settings")).await;
    let removed = ann
        .post(&format!("/teams/{core}/members/{}/remove", w.carl), &[])
        .await;
    assert_eq!(removed.status, 303);
    assert_eq!(carl.get(&format!("/teams/{core}")).await.status, 403);

    // The server admin sees every team and the queues.
    let mut root = w.sign_in("root@example.com").await;
    let admin = root.get("/admin").await;
    assert_eq!(admin.status, 200, "{}", admin.body);
    assert!(admin.contains("Core") && admin.contains("Ops") && admin.contains("Outbox"));
    assert_eq!(
        root.get(&format!("/teams/{ops}/settings")).await.status,
        200
    );
    w.db.stop().await;
}

#[actix_rt::test]
async fn a_member_edits_and_deletes_their_dones_and_finds_them() {
    let mut w = world().await;
    let core = w.core;
    let mut ann = w.sign_in("ann@example.com").await;
    ann.get(&format!("/teams/{core}")).await;
    ann.post(
        &format!("/teams/{core}/dones"),
        &[
            ("nonce", "x"),
            (
                "text",
                "Reviewed the kafka consumer\nWrote the release notes",
            ),
            ("day", "2026-03-09"),
        ],
    )
    .await;
    // Days that have not begun are refused.
    let future = ann
        .post(
            &format!("/teams/{core}/dones"),
            &[
                ("nonce", "y"),
                ("text", "Tomorrow's work"),
                ("day", "2026-03-11"),
            ],
        )
        .await;
    assert_eq!(future.status, 400);
    assert!(future.contains("in the future"));

    let yesterday = ann.get(&format!("/teams/{core}")).await;
    assert!(yesterday.contains("Yesterday") && yesterday.contains("Reviewed the kafka consumer"));
    let dones =
        w.db.server
            .app
            .store
            .team_dones(
                core,
                chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
                chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
            )
            .unwrap();
    let (kafka, notes) = (dones[0].id, dones[1].id);
    let edit = ann.get(&format!("/teams/{core}/dones/{kafka}/edit")).await;
    assert!(edit.contains("Reviewed the kafka consumer"));
    let saved = ann
        .post(
            &format!("/teams/{core}/dones/{kafka}"),
            &[("text", "Reviewed the kafka consumer #infra")],
        )
        .await;
    assert_eq!(saved.status, 303);
    ann.get(&format!("/teams/{core}/dones/{notes}/edit")).await;
    ann.post(&format!("/teams/{core}/dones/{notes}/delete"), &[])
        .await;
    assert_eq!(w.done_texts(core), ["Reviewed the kafka consumer #infra"]);

    w.db.server.app.search.wait_caught_up(common::WAIT).unwrap();
    let found = ann.get(&format!("/teams/{core}/search?q=kafka")).await;
    assert_eq!(found.status, 200);
    assert!(
        found.contains("1 found") && found.contains("<b>kafka</b>"),
        "{}",
        found.body
    );
    assert!(
        !ann.get(&format!("/teams/{core}/search?q=release"))
            .await
            .contains("Wrote the release notes")
    );

    let history = ann
        .get(&format!("/teams/{core}/members/{}?month=2026-03", w.ann))
        .await;
    assert!(
        history.contains("1 done") && history.contains("Monday 9 March"),
        "{}",
        history.body
    );

    // Her own settings: a pause until a past day is refused; a pause and a resume work.
    let me = ann.get("/me").await;
    assert!(me.contains("Core"));
    let member = format!("/me/{}/state", w.ann);
    let past = ann
        .post(&member, &[("action", "pause"), ("until", "2026-03-01")])
        .await;
    assert_eq!(past.status, 400);
    ann.get("/me").await;
    assert_eq!(
        ann.post(&member, &[("action", "pause"), ("until", "2026-03-20")])
            .await
            .status,
        303
    );
    assert!(
        ann.get("/me?done=paused")
            .await
            .contains("paused through 2026-03-20")
    );
    ann.post(
        &format!("/me/{}", w.ann),
        &[
            ("timezone", "Europe/Berlin"),
            ("days", "1"),
            ("days", "3"),
            ("time", "17:30"),
        ],
    )
    .await;
    let m = w.db.server.app.store.member(w.ann).unwrap();
    assert_eq!(m.timezone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(m.prompt_days, Some(vec![1, 3]));
    assert_eq!(
        m.prompt_time.map(|t| t.to_string()).as_deref(),
        Some("17:30:00")
    );
    w.db.stop().await;
}

#[actix_rt::test]
async fn a_fresh_install_says_what_to_do_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-10", 10, 0)).await;
    let mut visitor = WebUser::new(&db);
    let home = visitor.get("/").await;
    assert!(
        home.contains("First steps") && home.contains("donebot team add"),
        "{}",
        home.body
    );
    assert!(
        home.contains("<label for=\"email\">"),
        "the field has a label"
    );
    let missing = visitor.get("/teams/1/nothing-here").await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.starts_with("<!DOCTYPE html>"),
        "{}",
        missing.body
    );
    db.stop().await;
}
