//! The web pages in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver, with the fantoccini client). A member signs in by the link read from the `.eml`
//! file the outbox wrote, sees the feed, adds a done and finds it by search, changes the team's
//! schedule; another team's page is refused. Screenshots of the pages go to
//! `target/tmp/screenshots/` (README.md shows copies from such a run).
//!
//! Chromium and chromedriver are installed by `scripts/setup-test-deps.sh` (which `.ci/run` runs).

mod common;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::web::{link_in_eml, sign_in_email_sent};
use common::{Donebot, NEW_YORK, WAIT, local};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use storage::Role;

/// chromedriver, started on a free loopback port and killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let program = ["chromedriver", "/usr/bin/chromedriver"]
            .into_iter()
            .find(|p| {
                std::process::Command::new(p)
                    .arg("--version")
                    .output()
                    .is_ok()
            })
            .expect("chromedriver is installed (run scripts/setup-test-deps.sh)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(program)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // It says when it listens; a thread reads its output to the end (so it never blocks on a
        // full pipe) and tells when that line came.
        let stdout = child.stdout.take().unwrap();
        let (ready, is_ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("started successfully") {
                    let _ = ready.send(());
                }
            }
        });
        is_ready
            .recv_timeout(WAIT)
            .expect("chromedriver is ready in time");
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn browser(&self) -> Client {
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("chromium is installed (run scripts/setup-test-deps.sh)");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1100,900", "--no-first-run", "--disable-extensions"],
            },
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits until the page's heading is `title` (after a click that navigates).
async fn wait_title(c: &Client, title: &str) {
    let xpath = format!("//h1[normalize-space()='{title}']");
    wait_for(c, &xpath, &format!("page titled {title:?}")).await;
}

/// Waits for the notice a form leaves on the page it leads back to: the title is the same as
/// before the form was sent, so only the notice tells that the new page is there.
async fn wait_notice(c: &Client, text: &str) {
    let xpath = format!("//p[@role='status' and normalize-space()='{text}']");
    wait_for(c, &xpath, &format!("notice {text:?}")).await;
}

/// Waits for an element; if it does not come, fails with the page's source.
async fn wait_for(c: &Client, xpath: &str, what: &str) {
    if let Err(e) = c
        .wait()
        .at_most(WAIT)
        .every(Duration::from_millis(20))
        .for_element(Locator::XPath(xpath))
        .await
    {
        let source = c.source().await.unwrap_or_default();
        panic!("no {what} ({e}):\n{source}");
    }
}

async fn fill(c: &Client, css: &str, text: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[actix_rt::test]
async fn a_member_signs_in_adds_a_done_finds_it_and_changes_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Donebot::start(dir.path(), None, local(NEW_YORK, "2026-03-10", 10, 0)).await;
    let core = db.create_team("Core", "America/New_York").await;
    let ops = db.create_team("Ops", "America/New_York").await;
    let ann = db.add_member(core, "Ann Lee", "ann@example.com").await;
    let carl = db.add_member(core, "Carl Diaz", "carl@example.com").await;
    db.add_member(ops, "Bob Stone", "bob@example.com").await;
    donebot::ops::set_role(&db.server.app.store, ann, Role::Admin).unwrap();
    // Carl's work of yesterday and today, for the feed.
    let app = &db.server.app;
    let carl = app.store.member(carl).unwrap();
    for (day, text) in [
        (
            "2026-03-09",
            "Migrated the billing cron to the new scheduler\nReviewed Ann's #search PR",
        ),
        ("2026-03-10", "Blocker: staging database is out of disk"),
    ] {
        let origin = donebot::commands::done::Origin {
            channel: storage::Channel::Web,
            message_key: Some(format!("seed:{day}")),
            answers: None,
            day: Some(day.parse().unwrap()),
            edit: false,
        };
        donebot::commands::done::run(&app.ctx, &app.actors, &carl, text, origin)
            .await
            .unwrap();
    }

    let driver = Driver::start().await;
    let c = driver.browser().await;

    c.goto(&db.url("/")).await.unwrap();
    wait_title(&c, "Sign in").await;
    screenshot(&c, "sign-in").await;
    fill(&c, "#email", "ann@example.com").await;
    click(&c, "form[action='/sign-in'] button").await;
    wait_title(&c, "Check your email").await;

    let outbox = sign_in_email_sent(&mut db).await;
    let link = link_in_eml(&db, dir.path(), outbox);
    c.goto(&link).await.unwrap();
    wait_title(&c, "Sign in").await;
    click(&c, "main form button").await;
    wait_title(&c, "Your teams").await;

    c.find(Locator::LinkText("Core"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_title(&c, "Core").await;
    fill(
        &c,
        "#text",
        "Shipped the browser test\nFixed the #search ranking",
    )
    .await;
    click(&c, "form[action$='/dones'] button").await;
    wait_notice(&c, "Added.").await;
    let feed = c.source().await.unwrap();
    assert!(
        feed.contains("Shipped the browser test") && feed.contains("Fixed the #search ranking")
    );
    screenshot(&c, "feed").await;

    db.server.app.search.wait_caught_up(WAIT).unwrap();
    c.goto(&db.url(&format!("/teams/{core}/search")))
        .await
        .unwrap();
    wait_title(&c, "Search Core").await;
    fill(&c, "#q", "browser").await;
    click(&c, "main form[role='search'] button").await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//p[normalize-space()='1 found']"))
        .await
        .expect("one result");
    let results = c
        .find(Locator::Id("results"))
        .await
        .unwrap()
        .html(false)
        .await
        .unwrap();
    assert!(results.contains("<b>browser</b>"), "{results}");
    screenshot(&c, "search").await;

    c.goto(&db.url(&format!("/teams/{core}/settings")))
        .await
        .unwrap();
    wait_title(&c, "Core settings").await;
    fill(&c, "#prompt_cron", "30 17 * * 1-5").await;
    click(&c, "form[action$='/settings'] button").await;
    wait_notice(&c, "Settings saved.").await;
    assert_eq!(
        db.server.app.store.team(core).unwrap().prompt_cron,
        "30 17 * * 1-5"
    );
    screenshot(&c, "settings").await;

    c.goto(&db.url(&format!("/teams/{ops}"))).await.unwrap();
    wait_title(&c, "Not allowed").await;
    let refused = c.source().await.unwrap();
    assert!(refused.contains("not a member of this team"));
    assert!(!refused.contains("Bob Stone"));

    c.goto(&db.url("/me")).await.unwrap();
    wait_title(&c, "My settings").await;
    screenshot(&c, "my-settings").await;

    c.close().await.unwrap();
    db.stop().await;
}
