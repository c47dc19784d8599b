//! Web sign-in: one-time sign-in links and the sessions they open. Both are stored by the SHA-256
//! of their secret (the caller hashes; the secret itself is only ever in the email or the cookie),
//! so a copy of the data directory signs nobody in.
//!
//! Invariants: a sign-in link is taken at most once (removed in the same step that reads it) and
//! never after its expiry; a session is served only before its expiry and until it is ended.
//! Expired records are swept whenever a new one is written, so neither tree grows without bound.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::codec::{decode, encode};
use crate::error::StorageResult;

/// An emailed sign-in link, not used yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInLink {
    /// The address it was sent to (lower case): who it signs in.
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSession {
    /// Who signed in (lower case).
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Records past their expiry swept per write at most: a write stays cheap however many expired.
const SWEEP_MAX: usize = 64;

impl Store {
    /// Stores a sign-in link under the hash of its secret (flushed: the email that carries it may
    /// be sent at once).
    pub fn create_sign_in(&self, hash: &[u8; 32], link: &SignInLink) -> StorageResult<()> {
        let _w = self.write_gate();
        sweep::<SignInLink>(&self.t.sign_ins, "sign_ins", link.created_at, |l| {
            l.expires_at
        })?;
        self.t.sign_ins.insert(hash, encode(link)?)?;
        self.flush()?;
        Ok(())
    }

    /// Takes a sign-in link: the link if it exists and has not expired, and in any case it is gone
    /// afterwards (a link works once).
    pub fn take_sign_in(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StorageResult<Option<SignInLink>> {
        let _w = self.write_gate();
        let Some(raw) = self.t.sign_ins.remove(hash)? else {
            return Ok(None);
        };
        self.flush()?;
        let link: SignInLink = decode("sign_ins", &raw)?;
        Ok((link.expires_at > now).then_some(link))
    }

    /// How many sign-in links to `email` were created since `since` and are still unused.
    pub fn pending_sign_ins(&self, email: &str, since: DateTime<Utc>) -> StorageResult<usize> {
        let mut n = 0;
        for v in self.t.sign_ins.iter().values() {
            let link: SignInLink = decode("sign_ins", &v?)?;
            if link.email == email && link.created_at >= since {
                n += 1;
            }
        }
        Ok(n)
    }

    pub fn create_session(&self, hash: &[u8; 32], session: &WebSession) -> StorageResult<()> {
        let _w = self.write_gate();
        sweep::<WebSession>(
            &self.t.web_sessions,
            "web_sessions",
            session.created_at,
            |s| s.expires_at,
        )?;
        self.t.web_sessions.insert(hash, encode(session)?)?;
        self.flush()?;
        Ok(())
    }

    /// The session with this hash, unless it has expired or ended.
    pub fn session(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StorageResult<Option<WebSession>> {
        match self.t.web_sessions.get(hash)? {
            Some(v) => {
                let s: WebSession = decode("web_sessions", &v)?;
                Ok((s.expires_at > now).then_some(s))
            }
            None => Ok(None),
        }
    }

    /// Ends a session (signing out); `false` if there was none.
    pub fn end_session(&self, hash: &[u8; 32]) -> StorageResult<bool> {
        let _w = self.write_gate();
        let gone = self.t.web_sessions.remove(hash)?.is_some();
        self.flush()?;
        Ok(gone)
    }
}

/// Removes up to [`SWEEP_MAX`] records whose expiry has passed.
fn sweep<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    now: DateTime<Utc>,
    expires_at: impl Fn(&T) -> DateTime<Utc>,
) -> StorageResult<()> {
    let mut expired = Vec::new();
    for kv in tree.iter() {
        let (k, v) = kv?;
        // A record that no longer decodes is of no use to anybody either.
        if decode::<T>(name, &v).map_or(true, |r| expires_at(&r) <= now) {
            expired.push(k);
            if expired.len() == SWEEP_MAX {
                break;
            }
        }
    }
    for k in expired {
        tree.remove(k)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap() + Duration::minutes(min)
    }

    #[test]
    fn a_sign_in_link_works_once_and_not_after_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let link = |h: u8, created: i64| {
            let l = SignInLink {
                email: "ann@example.com".into(),
                created_at: at(created),
                expires_at: at(created + 15),
            };
            store.create_sign_in(&[h; 32], &l).unwrap();
            l
        };
        let first = link(1, 0);
        link(2, 0);
        assert_eq!(store.pending_sign_ins("ann@example.com", at(0)).unwrap(), 2);
        assert_eq!(store.take_sign_in(&[1; 32], at(5)).unwrap(), Some(first));
        assert_eq!(store.take_sign_in(&[1; 32], at(5)).unwrap(), None, "used");
        assert_eq!(
            store.take_sign_in(&[2; 32], at(15)).unwrap(),
            None,
            "expired"
        );
        assert_eq!(
            store.take_sign_in(&[9; 32], at(0)).unwrap(),
            None,
            "unknown"
        );
        // Expired links are swept when the next one is written.
        link(3, 0);
        link(4, 60);
        assert_eq!(store.pending_sign_ins("ann@example.com", at(0)).unwrap(), 1);
    }

    #[test]
    fn a_session_lasts_until_it_expires_or_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = WebSession {
            email: "ann@example.com".into(),
            created_at: at(0),
            expires_at: at(60),
        };
        store.create_session(&[1; 32], &s).unwrap();
        assert_eq!(store.session(&[1; 32], at(59)).unwrap(), Some(s.clone()));
        assert_eq!(store.session(&[1; 32], at(60)).unwrap(), None);
        assert!(store.end_session(&[1; 32]).unwrap());
        assert_eq!(store.session(&[1; 32], at(1)).unwrap(), None);
        assert!(!store.end_session(&[1; 32]).unwrap());
    }
}
