//! The web pages as a browser without JavaScript uses them: cookies kept, forms sent with the
//! CSRF token of the page they are on, redirects not followed (so a test sees each `303`).

use std::collections::BTreeMap;
use std::path::Path;

use donebot::events::Event;
use storage::OutboxKind;

use super::{Donebot, Mail};

/// One page as answered.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
}

impl Page {
    /// The CSRF token of the page's forms.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("a form with a CSRF token on this page:\n{}", self.body))
            + "name=\"csrf\" value=\"".len();
        let end = self.body[at..].find('"').expect("the value ends");
        self.body[at..at + end].to_string()
    }

    pub fn contains(&self, text: &str) -> bool {
        self.body.contains(text)
    }
}

/// A visitor with a cookie jar.
pub struct WebUser {
    http: reqwest::Client,
    base: String,
    pub cookies: BTreeMap<String, String>,
    /// The CSRF token of the last page seen (forms are sent from it).
    csrf: Option<String>,
}

impl WebUser {
    pub fn new(db: &Donebot) -> WebUser {
        WebUser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(super::WAIT)
                .build()
                .unwrap(),
            base: db.url(""),
            cookies: BTreeMap::new(),
            csrf: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, res: reqwest::Response) -> Page {
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let set_cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let body = res.text().await.unwrap();
        let page = Page {
            status,
            body,
            location,
            set_cookies,
        };
        if page.body.contains("name=\"csrf\"") {
            self.csrf = Some(page.csrf());
        }
        page
    }

    /// `path` is relative to the server, or a whole URL on it.
    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let res = self
            .http
            .get(self.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(res).await
    }

    /// Sends a form with the CSRF token of the last page seen.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self
            .csrf
            .clone()
            .expect("a page with a form was seen first");
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend_from_slice(fields);
        self.post_raw(path, &form).await
    }

    /// Sends exactly these fields (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let res = self
            .http
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .form(fields)
            .send()
            .await
            .unwrap();
        self.read(res).await
    }
}

/// Asks for a sign-in link for `email` on the sign-in page and returns it, read from the `.eml`
/// file the outbox wrote into `data` (the test server has no SMTP relay).
pub async fn ask_for_link(
    db: &mut Donebot,
    user: &mut WebUser,
    data: &Path,
    email: &str,
) -> String {
    user.get("/").await;
    let answer = user.post("/sign-in", &[("email", email)]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.contains("Check your email"), "{}", answer.body);
    let outbox = sign_in_email_sent(db).await;
    link_in_eml(db, data, outbox)
}

/// Waits until the outbox has sent (here: written) the next sign-in email; its outbox id.
pub async fn sign_in_email_sent(db: &mut Donebot) -> u64 {
    db.wait_for("the sign-in email", |e| match e {
        Event::EmailSent {
            outbox,
            kind: OutboxKind::SignIn,
        } => Some(*outbox),
        _ => None,
    })
    .await
}

/// The sign-in link in the `.eml` file of outbox message `outbox`.
pub fn link_in_eml(db: &Donebot, data: &Path, outbox: u64) -> String {
    let message_id = db
        .server
        .app
        .store
        .outbox_message(outbox)
        .unwrap()
        .message_id;
    let dir = data.join("outbox-eml");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(&message_id))
        .unwrap_or_else(|| panic!("an .eml file for {message_id} in {}", dir.display()));
    let mail = Mail::new(std::fs::read(file).unwrap(), vec![]);
    let text = mail.text();
    text.split_whitespace()
        .find(|w| w.contains("/sign-in/"))
        .unwrap_or_else(|| panic!("a sign-in link in:\n{text}"))
        .to_string()
}

/// A visitor signed in as `email` through the form, the emailed link and its button.
pub async fn sign_in(db: &mut Donebot, data: &Path, email: &str) -> WebUser {
    let mut user = WebUser::new(db);
    let link = ask_for_link(db, &mut user, data, email).await;
    let confirm = user.get(&link).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let signed = user.post(&link, &[]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert!(user.cookies.contains_key("donebot_session"));
    user
}
