//! The bodies of hosted inbound-parse webhooks: SendGrid Inbound Parse (raw mode) and Mailgun
//! routes (MIME mode), turned into the raw message and its envelope.
//!
//! Owns the wire formats (form bodies, the SendGrid envelope JSON, Mailgun's
//! `HMAC-SHA256(key, timestamp ‖ token)` signature and its age). It does not own the shared
//! secrets' configuration, replay memory (the app keeps Mailgun's seen tokens in the database),
//! nor answering: the web layer maps [`WebhookError`] to a status.
//!
//! Invariant: every input is untrusted; nothing here panics, and a signature is compared in
//! constant time.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// At most this many form fields are read from one body.
const MAX_FIELDS: usize = 64;
/// Multipart nesting beyond this is refused before mailparse recurses.
const MAX_MULTIPART: usize = 16;

/// A message delivered by a webhook, with its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub raw: Vec<u8>,
}

/// A verified Mailgun post: its message, and the token to remember against replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailgunPost {
    pub mail: WebhookMail,
    pub token: String,
    pub timestamp: i64,
}

/// Why a webhook body cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("expected multipart/form-data or application/x-www-form-urlencoded, got {0:?}")]
    ContentType(String),
    #[error("bad form body: {0}")]
    Form(String),
    #[error("no `{field}` field: {hint}")]
    Missing {
        field: &'static str,
        hint: &'static str,
    },
    #[error("`envelope` is not JSON: {0}")]
    Envelope(String),
    /// The signature does not match (or token/timestamp missing): the caller answers 401.
    #[error("bad Mailgun signature")]
    Signature,
    /// Too old or too far in the future: the caller answers 401.
    #[error("Mailgun timestamp outside the {0} s window (replay?)")]
    Stale(i64),
}

impl WebhookError {
    /// Whether the sender failed to prove who it is (401), rather than sent a bad body (400).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, WebhookError::Signature | WebhookError::Stale(_))
    }
}

/// SendGrid Inbound Parse in raw mode: the message in `email`, the envelope as JSON in
/// `envelope` (or the `to` field when there is none).
pub fn sendgrid(content_type: &str, body: &[u8]) -> Result<WebhookMail, WebhookError> {
    let fields = form_fields(content_type, body)?;
    let raw = fields.get("email").ok_or(WebhookError::Missing {
        field: "email",
        hint: "enable \"POST the raw, full MIME message\" in SendGrid",
    })?;
    let (mail_from, rcpt_to) = match fields.get("envelope") {
        Some(e) => {
            let env: serde_json::Value =
                serde_json::from_slice(e).map_err(|e| WebhookError::Envelope(e.to_string()))?;
            let to = env["to"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .take(MAX_FIELDS)
                        .collect()
                })
                .unwrap_or_default();
            (env["from"].as_str().unwrap_or_default().to_string(), to)
        }
        None => (
            String::new(),
            fields
                .get("to")
                .map(|t| split_addresses(&String::from_utf8_lossy(t)))
                .unwrap_or_default(),
        ),
    };
    Ok(WebhookMail {
        mail_from,
        rcpt_to,
        raw: raw.clone(),
    })
}

/// A Mailgun route post in MIME mode, verified with the webhook signing `key` and refused when
/// its timestamp is more than `max_age_secs` away from `now`. Replays within the window are the
/// caller's to refuse, by [`MailgunPost::token`].
pub fn mailgun(
    content_type: &str,
    body: &[u8],
    key: &[u8],
    now: i64,
    max_age_secs: i64,
) -> Result<MailgunPost, WebhookError> {
    let fields = form_fields(content_type, body)?;
    let text = |name: &str| {
        fields
            .get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    let (timestamp, token, signature) = (text("timestamp"), text("token"), text("signature"));
    let signature = data_encoding::HEXLOWER_PERMISSIVE
        .decode(signature.trim().as_bytes())
        .map_err(|_| WebhookError::Signature)?;
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).map_err(|_| WebhookError::Signature)?;
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    if token.is_empty() || mac.verify_slice(&signature).is_err() {
        return Err(WebhookError::Signature);
    }
    let ts: i64 = timestamp.parse().map_err(|_| WebhookError::Signature)?;
    if now.abs_diff(ts) > max_age_secs.unsigned_abs() {
        return Err(WebhookError::Stale(max_age_secs));
    }
    let raw = fields.get("body-mime").ok_or(WebhookError::Missing {
        field: "body-mime",
        hint: "forward to a URL ending in \"mime\"",
    })?;
    Ok(MailgunPost {
        mail: WebhookMail {
            mail_from: text("sender"),
            rcpt_to: split_addresses(&text("recipient")),
            raw: raw.clone(),
        },
        token,
        timestamp: ts,
    })
}

/// `a@x, b@y` → `[a@x, b@y]` (at most [`MAX_FIELDS`]).
pub fn split_addresses(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .take(MAX_FIELDS)
        .map(str::to_string)
        .collect()
}

/// The fields of a `multipart/form-data` or `application/x-www-form-urlencoded` body. Form
/// bodies are MIME, so mailparse reads them.
pub fn form_fields(
    content_type: &str,
    body: &[u8],
) -> Result<HashMap<String, Vec<u8>>, WebhookError> {
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| WebhookError::Form(e.to_string()))?;
        return Ok(pairs
            .into_iter()
            .take(MAX_FIELDS)
            .map(|(k, v)| (k, v.into_bytes()))
            .collect());
    }
    if !lower.starts_with("multipart/form-data") || content_type.contains(['\r', '\n']) {
        return Err(WebhookError::ContentType(content_type.to_string()));
    }
    let nested = body
        .windows(10)
        .filter(|w| w.eq_ignore_ascii_case(b"multipart/"))
        .count();
    if nested > MAX_MULTIPART {
        return Err(WebhookError::Form("multipart nested too deep".into()));
    }
    let mut mime = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
    mime.extend_from_slice(body);
    let parsed = mailparse::parse_mail(&mime).map_err(|e| WebhookError::Form(e.to_string()))?;
    let mut fields = HashMap::new();
    for part in parsed.subparts.iter().take(MAX_FIELDS) {
        let disposition = part.get_content_disposition();
        if let Some(name) = disposition.params.get("name") {
            let value = part
                .get_body_raw()
                .map_err(|e| WebhookError::Form(format!("field {name:?}: {e}")))?;
            fields.insert(name.clone(), value);
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multipart(fields: &[(&str, &str)]) -> (String, Vec<u8>) {
        let mut body = String::new();
        for (name, value) in fields {
            body.push_str(&format!(
                "--xYzZY\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str("--xYzZY--\r\n");
        (
            "multipart/form-data; boundary=xYzZY".into(),
            body.into_bytes(),
        )
    }

    fn sign(key: &[u8], ts: &str, token: &str) -> String {
        let mut mac = <Hmac<Sha256>>::new_from_slice(key).unwrap();
        mac.update(ts.as_bytes());
        mac.update(token.as_bytes());
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    }

    #[test]
    fn sendgrid_reads_the_raw_message_and_its_envelope() {
        let env = r#"{"to":["reply+a@d.example"],"from":"ada@example.org"}"#;
        let (ct, body) = multipart(&[("email", "Subject: x\r\n\r\nhi"), ("envelope", env)]);
        let mail = sendgrid(&ct, &body).unwrap();
        assert_eq!(mail.rcpt_to, ["reply+a@d.example"]);
        assert_eq!(mail.mail_from, "ada@example.org");
        assert_eq!(mail.raw, b"Subject: x\r\n\r\nhi");
        let (ct, body) = multipart(&[("envelope", env)]);
        assert!(matches!(
            sendgrid(&ct, &body),
            Err(WebhookError::Missing { field: "email", .. })
        ));
        assert!(matches!(
            sendgrid("text/plain", b"x"),
            Err(WebhookError::ContentType(_))
        ));
    }

    #[test]
    fn mailgun_posts_need_a_fresh_valid_signature() {
        let key = b"0123456789abcdef-key";
        let sig = sign(key, "1000", "tok");
        let good = [
            ("body-mime", "Subject: x\r\n\r\nhi"),
            ("recipient", "reply+a@d.example, b@d.example"),
            ("timestamp", "1000"),
            ("token", "tok"),
            ("signature", sig.as_str()),
        ];
        let (ct, body) = multipart(&good);
        let post = mailgun(&ct, &body, key, 1100, 300).unwrap();
        assert_eq!(post.token, "tok");
        assert_eq!(post.mail.rcpt_to, ["reply+a@d.example", "b@d.example"]);
        assert_eq!(
            mailgun(&ct, &body, key, 1400, 300),
            Err(WebhookError::Stale(300))
        );
        assert_eq!(
            mailgun(&ct, &body, b"another-key-entirely", 1100, 300),
            Err(WebhookError::Signature)
        );
        let mut forged = good;
        forged[3] = ("token", "tok2");
        let (ct, body) = multipart(&forged);
        assert_eq!(
            mailgun(&ct, &body, key, 1100, 300),
            Err(WebhookError::Signature)
        );
    }
}
