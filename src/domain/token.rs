//! Reply tokens and signed links: unguessable, stateless, checked by HMAC-SHA256.
//!
//! A reply token names a prompt and is tied to its member and day: `base32(prompt id ‖ mac[..10])`
//! where the mac covers the prompt id, member id and day. Without the server's key nobody can make
//! one for another prompt; the key lives in the database (`meta/secret.hmac`).
//! Link tokens (unsubscribe, pause) work the same way over `(action, member id)`.

use chrono::NaiveDate;
use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const MAC_LEN: usize = 10;

#[derive(Clone)]
pub struct Signer {
    /// HMAC-SHA256 with the key already absorbed: each token clones it instead of hashing the
    /// key's two pads again (that was a third of a prompt's rendering).
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    pub fn new(key: Vec<u8>) -> Signer {
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed = <Hmac<Sha256>>::new_from_slice(&key).expect("HMAC takes any key length");
        Signer { keyed }
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        let mut mac = self.keyed.clone();
        for p in parts {
            mac.update(&(p.len() as u32).to_be_bytes());
            mac.update(p);
        }
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    fn seal(&self, id: u64, parts: &[&[u8]]) -> String {
        let mut bytes = id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.mac(parts));
        BASE32_NOPAD.encode(&bytes).to_ascii_lowercase()
    }

    /// The id inside a token and its mac, if the token is well-formed (not yet verified).
    fn open(token: &str) -> Option<(u64, [u8; MAC_LEN])> {
        let bytes = BASE32_NOPAD
            .decode(token.to_ascii_uppercase().as_bytes())
            .ok()?;
        if bytes.len() != 8 + MAC_LEN {
            return None;
        }
        let id = u64::from_be_bytes(bytes[..8].try_into().ok()?);
        let mac = bytes[8..].try_into().ok()?;
        Some((id, mac))
    }

    pub fn reply_token(&self, prompt: u64, member: u64, day: NaiveDate) -> String {
        self.seal(
            prompt,
            &[
                b"reply",
                &prompt.to_be_bytes(),
                &member.to_be_bytes(),
                day.to_string().as_bytes(),
            ],
        )
    }

    /// The prompt id a reply token claims; check it with [`Signer::verify_reply`] against the prompt.
    pub fn reply_token_prompt(token: &str) -> Option<u64> {
        Self::open(token).map(|(id, _)| id)
    }

    pub fn verify_reply(&self, token: &str, member: u64, day: NaiveDate) -> bool {
        match Self::open(token) {
            Some((prompt, mac)) => {
                let want = self.mac(&[
                    b"reply",
                    &prompt.to_be_bytes(),
                    &member.to_be_bytes(),
                    day.to_string().as_bytes(),
                ]);
                constant_time_eq(&want, &mac)
            }
            None => false,
        }
    }

    /// A token for a one-click link (`unsubscribe`, `pause`) for a member.
    pub fn link_token(&self, action: &str, member: u64) -> String {
        self.seal(member, &[b"link", action.as_bytes(), &member.to_be_bytes()])
    }

    /// The member a link token is for, if it is genuine for this action.
    pub fn verify_link(&self, action: &str, token: &str) -> Option<u64> {
        let (member, mac) = Self::open(token)?;
        let want = self.mac(&[b"link", action.as_bytes(), &member.to_be_bytes()]);
        constant_time_eq(&want, &mac).then_some(member)
    }
}

impl Signer {
    /// A tag of `data` for `purpose` (a cookie, a form's CSRF token): without the key nobody can
    /// make one, and a tag for one purpose is no good for another.
    pub fn tag(&self, purpose: &str, data: &[u8]) -> String {
        BASE32_NOPAD
            .encode(&self.mac(&[b"tag", purpose.as_bytes(), data]))
            .to_ascii_lowercase()
    }

    /// Whether `tag` is [`Signer::tag`] of `data` for `purpose` (in constant time).
    pub fn verify_tag(&self, purpose: &str, data: &[u8], tag: &str) -> bool {
        constant_time_eq(self.tag(purpose, data).as_bytes(), tag.as_bytes())
    }
}

/// Compares secrets without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn reply_tokens_verify_only_for_their_member_day_and_key() {
        let s = Signer::new(b"k1".to_vec());
        let t = s.reply_token(17, 3, day(9));
        assert_eq!(Signer::reply_token_prompt(&t), Some(17));
        assert!(s.verify_reply(&t, 3, day(9)));
        assert!(
            s.verify_reply(&t.to_ascii_uppercase(), 3, day(9)),
            "case-insensitive, as mail addresses are"
        );
        assert!(!s.verify_reply(&t, 4, day(9)));
        assert!(!s.verify_reply(&t, 3, day(10)));
        assert!(!Signer::new(b"k2".to_vec()).verify_reply(&t, 3, day(9)));
        let mut forged = t.clone();
        forged.replace_range(0..1, if t.starts_with('a') { "b" } else { "a" });
        assert!(!s.verify_reply(&forged, 3, day(9)));
        assert!(!s.verify_reply("not-a-token", 3, day(9)));
    }

    #[test]
    fn link_tokens_are_bound_to_their_action() {
        let s = Signer::new(b"k".to_vec());
        let t = s.link_token("unsubscribe", 5);
        assert_eq!(s.verify_link("unsubscribe", &t), Some(5));
        assert_eq!(s.verify_link("pause", &t), None);
    }
}
