//! Who is using the web pages, and whether a form really came from them.
//!
//! Signing in: a person gives their email address; if it belongs to a member (or a server admin,
//! `[web] admins`) donebot emails a link holding a random secret, stored only as its SHA-256 and
//! valid for [`SIGN_IN_MINUTES`]; using it (a `POST`, so that mail scanners fetching the link do
//! not spend it) takes it for good and opens a session. An unknown address gets the same answer
//! and no email.
//!
//! A session is a random secret in the `donebot_session` cookie (`HttpOnly`, `SameSite=Lax`,
//! `Secure` behind https), signed with the server's key and stored as its SHA-256 with its expiry;
//! signing out deletes it. Every form carries a CSRF token: a tag of the session's secret (or,
//! before sign-in, of the `donebot_pre` cookie's), checked in constant time on every `POST`.
//!
//! Invariant: a request is a [`Person`]'s only if its cookie's signature verifies *and* the stored
//! session has not ended or expired; what a person may see and change follows from their
//! memberships, read fresh on every request ([`Person::membership`]), so removing a member or
//! demoting an admin takes effect at once.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use data_encoding::BASE32_NOPAD;
use storage::{Member, MemberState, Role, Team};

use crate::app::App;
use crate::error::AppError;
use crate::ops::token_hash;

pub const SESSION_COOKIE: &str = "donebot_session";
const PRE_COOKIE: &str = "donebot_pre";
/// How long a sign-in link works.
pub const SIGN_IN_MINUTES: i64 = 15;
/// Sign-in links to one address per [`SIGN_IN_WINDOW_MINUTES`] at most (unused ones): nobody can
/// flood a member's inbox from the sign-in form.
pub const SIGN_IN_MAX_PENDING: usize = 3;
pub const SIGN_IN_WINDOW_MINUTES: i64 = 60;
/// The longest cookie value read (a session cookie is about 80 bytes).
const MAX_COOKIE: usize = 256;

/// A random secret (256 bits), base32.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    BASE32_NOPAD.encode(&bytes).to_ascii_lowercase()
}

/// The request's visitor: signed in or not, and the key their forms' CSRF tokens are made from.
pub struct Visitor {
    pub person: Option<Person>,
    csrf_key: String,
    /// A new pre-sign-in cookie to set with the answer (none was sent, or it was not ours).
    new_pre: Option<String>,
    secure: bool,
}

/// A signed-in person: an email address, and what the server knows about it.
#[derive(Debug, Clone)]
pub struct Person {
    pub email: String,
    /// Listed in `[web] admins`: manages every team.
    pub server_admin: bool,
    /// The SHA-256 of the session's secret (to sign out).
    pub session: [u8; 32],
}

impl Person {
    /// The person's membership of each team they belong to (not removed), by team name.
    pub fn teams(&self, app: &App) -> Result<Vec<(Team, Member)>, AppError> {
        let mut out = Vec::new();
        for m in app.store.members_by_email(&self.email)? {
            if !matches!(m.state, MemberState::Removed { .. }) {
                out.push((app.store.team(m.team_id)?, m));
            }
        }
        out.sort_by_key(|(team, _)| team.name.to_lowercase());
        Ok(out)
    }

    /// Their membership of `team`, if any (not removed).
    pub fn membership(&self, app: &App, team: u64) -> Result<Option<Member>, AppError> {
        Ok(app
            .store
            .members_by_email(&self.email)?
            .into_iter()
            .find(|m| m.team_id == team && !matches!(m.state, MemberState::Removed { .. })))
    }

    /// What this person may do in `team`: `None` if they may not even see it.
    pub fn access(&self, app: &App, team: u64) -> Result<Option<Access>, AppError> {
        let member = self.membership(app, team)?;
        let admin = self.server_admin || member.as_ref().is_some_and(|m| m.role == Role::Admin);
        Ok(match (member, admin) {
            (None, false) => None,
            (member, admin) => Some(Access { member, admin }),
        })
    }
}

/// A person's rights in one team.
#[derive(Debug, Clone)]
pub struct Access {
    /// Their own membership: whose dones they add and edit (a server admin may have none).
    pub member: Option<Member>,
    /// Manages the team's members and schedules (a team admin, or a server admin).
    pub admin: bool,
}

impl Visitor {
    pub(super) fn read(req: &HttpRequest) -> Result<Visitor, AppError> {
        let app = req
            .app_data::<web::Data<App>>()
            .ok_or_else(|| AppError::Unavailable("no app".into()))?;
        let secure = app.settings.base_url.starts_with("https://");
        let cookies = Cookies::parse(req);
        if let Some(secret) = cookies
            .get(SESSION_COOKIE)
            .and_then(|v| verified(app, "session", v))
        {
            let hash = token_hash(secret);
            if let Some(s) = app.store.session(&hash, app.now())? {
                let server_admin = app.settings.web_admins.contains(&s.email);
                return Ok(Visitor {
                    person: Some(Person {
                        email: s.email,
                        server_admin,
                        session: hash,
                    }),
                    csrf_key: secret.to_owned(),
                    new_pre: None,
                    secure,
                });
            }
        }
        let (csrf_key, new_pre) = match cookies
            .get(PRE_COOKIE)
            .and_then(|v| verified(app, "pre", v))
        {
            Some(secret) => (secret.to_owned(), None),
            None => {
                let secret = new_secret();
                let value = format!("{secret}.{}", app.signer.tag("pre", secret.as_bytes()));
                (secret, Some(value))
            }
        };
        Ok(Visitor {
            person: None,
            csrf_key,
            new_pre,
            secure,
        })
    }

    /// The token every form of this visitor carries (field `csrf`).
    pub fn csrf(&self, app: &App) -> String {
        app.signer.tag("csrf", self.csrf_key.as_bytes())
    }

    /// Refuses a form whose token is not this visitor's (every form reaches its handler through
    /// [`super::pages::Posted`], which calls this).
    pub fn check_csrf(&self, app: &App, token: &str) -> Result<(), AppError> {
        if app
            .signer
            .verify_tag("csrf", self.csrf_key.as_bytes(), token)
        {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "this form has expired or did not come from this site; go back, reload the page and try again".into(),
            ))
        }
    }

    /// The `Set-Cookie` values the answer must carry (a new pre-sign-in cookie).
    pub fn cookies_to_set(&self) -> Option<String> {
        self.new_pre
            .as_deref()
            .map(|v| cookie(PRE_COOKIE, v, Some(SIGN_IN_MINUTES * 60 * 8), self.secure))
    }

    pub fn secure(&self) -> bool {
        self.secure
    }
}

impl FromRequest for Visitor {
    type Error = super::pages::PageError;
    type Future = Ready<Result<Visitor, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Visitor::read(req).map_err(Into::into))
    }
}

/// The secret of a `secret.tag` cookie value, if the tag is ours for `purpose`.
fn verified<'a>(app: &App, purpose: &str, value: &'a str) -> Option<&'a str> {
    let (secret, tag) = value.split_once('.')?;
    app.signer
        .verify_tag(purpose, secret.as_bytes(), tag)
        .then_some(secret)
}

/// A session cookie's value for `secret`.
pub fn session_cookie(app: &App, secret: &str, max_age_secs: i64, secure: bool) -> String {
    let value = format!("{secret}.{}", app.signer.tag("session", secret.as_bytes()));
    cookie(SESSION_COOKIE, &value, Some(max_age_secs), secure)
}

/// A `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    cookie(SESSION_COOKIE, "", Some(0), secure)
}

fn cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The request's cookies (from every `Cookie` header), bounded in size.
struct Cookies<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Cookies<'a> {
    fn parse(req: &'a HttpRequest) -> Cookies<'a> {
        let pairs = req
            .headers()
            .get_all(header::COOKIE)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .filter(|(_, v)| v.len() <= MAX_COOKIE)
            .take(64)
            .collect();
        Cookies(pairs)
    }

    /// The first cookie of that name.
    fn get(&self, name: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_lax_and_secure_behind_https() {
        assert_eq!(
            cookie("a", "b", Some(60), false),
            "a=b; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        assert!(cookie("a", "b", None, true).ends_with("; Secure"));
    }

    #[test]
    fn a_secret_is_256_random_bits() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(
            BASE32_NOPAD
                .decode(a.to_uppercase().as_bytes())
                .unwrap()
                .len(),
            32
        );
    }
}
