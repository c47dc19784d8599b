//! Slack's request signatures: `X-Slack-Signature: v0=<hex HMAC-SHA256>` over
//! `v0:{X-Slack-Request-Timestamp}:{raw body}`, keyed with the app's signing secret.
//!
//! Owns: checking a request (events and slash commands alike) before anything in it is read, and
//! computing a signature (the fake Events API sender and the benchmark sign exactly like Slack). It
//! is not the HTTP route: the caller passes the two header values, the raw body and the current time
//! (a parameter, so the app's clock decides what "stale" means and tests can move it).
//!
//! Invariants: the body is authenticated byte for byte as received (never re-serialised); the MAC is
//! compared in constant time (`hmac`'s `verify_slice`); a timestamp more than [`MAX_SKEW_SECS`] away
//! from now is refused whatever the signature, so a captured request cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The request header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// The request header carrying the Unix time the request was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// Five minutes either way, as Slack recommends.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

const VERSION: &str = "v0";

/// Why a request was refused (answer `401`; nothing in it was looked at).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no X-Slack-Request-Timestamp header")]
    MissingTimestamp,
    #[error("X-Slack-Request-Timestamp is not a Unix time in seconds")]
    MalformedTimestamp,
    #[error("the request was signed {skew_secs} s away from now (more than 5 minutes): a replay?")]
    Stale { skew_secs: i64 },
    #[error("no X-Slack-Signature header")]
    MissingSignature,
    #[error("X-Slack-Signature is not \"v0=\" and 64 hexadecimal digits")]
    MalformedSignature,
    #[error("X-Slack-Signature does not match the body (wrong signing secret, or altered)")]
    Mismatch,
}

/// The signing secret, kept out of `Debug` output.
#[derive(Clone)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl SigningSecret {
    pub fn new(secret: &str) -> Self {
        SigningSecret(secret.as_bytes().to_vec())
    }

    fn mac(&self, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC-SHA256 takes a key of any length");
        mac.update(VERSION.as_bytes());
        mac.update(b":");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac
    }

    /// The `X-Slack-Signature` value Slack would send for `body` signed at `timestamp`.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let tag = self
            .mac(&timestamp.to_string(), body)
            .finalize()
            .into_bytes();
        format!("{VERSION}={}", hex::encode(tag))
    }

    /// Checks a request Slack signed; `now` is the current Unix time in seconds.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?.trim();
        let signed_at: i64 = timestamp
            .parse()
            .map_err(|_| SignatureError::MalformedTimestamp)?;
        let skew_secs = now.saturating_sub(signed_at);
        if skew_secs.saturating_abs() > MAX_SKEW_SECS {
            return Err(SignatureError::Stale { skew_secs });
        }
        let signature = signature.ok_or(SignatureError::MissingSignature)?.trim();
        let given = signature
            .strip_prefix("v0=")
            .filter(|hex| hex.len() == 64)
            .and_then(|hex| hex::decode(hex).ok())
            .ok_or(SignatureError::MalformedSignature)?;
        self.mac(timestamp, body)
            .verify_slice(&given)
            .map_err(|_| SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of api.slack.com/authentication/verifying-requests-from-slack.
    const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_TIMESTAMP: i64 = 1531420618;
    const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOC_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn signs_like_slack_documents() {
        let secret = SigningSecret::new(DOC_SECRET);
        assert_eq!(
            secret.sign(DOC_TIMESTAMP, DOC_BODY.as_bytes()),
            DOC_SIGNATURE
        );
        secret
            .verify(
                Some("1531420618"),
                Some(DOC_SIGNATURE),
                DOC_BODY.as_bytes(),
                DOC_TIMESTAMP + 10,
            )
            .unwrap();
    }

    #[test]
    fn an_altered_body_or_another_secret_is_a_mismatch() {
        let secret = SigningSecret::new(DOC_SECRET);
        let ts = Some("1531420618");
        let mut body = DOC_BODY.as_bytes().to_vec();
        body[10] ^= 1;
        assert_eq!(
            secret.verify(ts, Some(DOC_SIGNATURE), &body, DOC_TIMESTAMP),
            Err(SignatureError::Mismatch)
        );
        let other = SigningSecret::new("00000000000000000000000000000000");
        assert_eq!(
            other.verify(ts, Some(DOC_SIGNATURE), DOC_BODY.as_bytes(), DOC_TIMESTAMP),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is part of what is signed: a fresh timestamp on an old signature fails.
        let fresh = (DOC_TIMESTAMP + 1).to_string();
        assert_eq!(
            secret.verify(
                Some(&fresh),
                Some(DOC_SIGNATURE),
                DOC_BODY.as_bytes(),
                DOC_TIMESTAMP
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_timestamp_window_is_five_minutes_either_way() {
        let secret = SigningSecret::new(DOC_SECRET);
        let body = DOC_BODY.as_bytes();
        let check = |now: i64| secret.verify(Some("1531420618"), Some(DOC_SIGNATURE), body, now);
        check(DOC_TIMESTAMP + 300).unwrap();
        check(DOC_TIMESTAMP - 300).unwrap();
        assert_eq!(
            check(DOC_TIMESTAMP + 301),
            Err(SignatureError::Stale { skew_secs: 301 })
        );
        assert_eq!(
            check(DOC_TIMESTAMP - 301),
            Err(SignatureError::Stale { skew_secs: -301 })
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_named() {
        let secret = SigningSecret::new(DOC_SECRET);
        let body = DOC_BODY.as_bytes();
        let now = DOC_TIMESTAMP;
        assert_eq!(
            secret.verify(None, Some(DOC_SIGNATURE), body, now),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            secret.verify(Some("soon"), Some(DOC_SIGNATURE), body, now),
            Err(SignatureError::MalformedTimestamp)
        );
        assert_eq!(
            secret.verify(Some("1531420618"), None, body, now),
            Err(SignatureError::MissingSignature)
        );
        for bad in [
            "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "v0=a2114d57",
            "v0=zz114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        ] {
            assert_eq!(
                secret.verify(Some("1531420618"), Some(bad), body, now),
                Err(SignatureError::MalformedSignature),
                "{bad}"
            );
        }
        assert_eq!(
            secret.verify(
                Some("-99999999999999999999"),
                Some(DOC_SIGNATURE),
                body,
                now
            ),
            Err(SignatureError::MalformedTimestamp)
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        assert!(!format!("{:?}", SigningSecret::new(DOC_SECRET)).contains(DOC_SECRET));
    }
}
