//! Outgoing mail as bytes: turns an [`OutgoingEmail`] (what donebot wants to say) into RFC 5322
//! bytes and the SMTP envelope that goes with them, using lettre's builder.
//!
//! This module owns the shape of every message donebot sends: `text/plain` alone, or
//! `multipart/alternative` with the text part first and the HTML part second; UTF-8 bodies in
//! whichever transfer encoding lettre picks; donebot's own headers (`Auto-Submitted`,
//! `List-Unsubscribe`, ...) added verbatim. It does not send anything (that is [`super::send`])
//! and it reads no clock: `Date` and `Message-ID` come from the caller, so the same
//! [`OutgoingEmail`] always builds the same headers (only the MIME boundary is random).
//!
//! Invariant: [`BuiltEmail::raw`] uses CRLF line endings and ends with CRLF, so a transport can hand
//! it to an SMTP server unchanged and the server stores exactly these bytes.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

/// An email donebot wants to send, before it is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// `From`, and the envelope sender: `donebot <donebot@example.com>` or a bare address.
    pub from: String,
    /// `To`, and the single envelope recipient.
    pub to: String,
    /// `Reply-To`, e.g. the per-prompt reply address carrying a reply token.
    pub reply_to: Option<String>,
    pub subject: String,
    /// The plain-text body; always present and always the first alternative. A text ending in a
    /// line break reads back exactly (lettre terminates a lone part with CRLF itself).
    pub text: String,
    /// An HTML alternative; with it the message is `multipart/alternative`.
    pub html: Option<String>,
    /// `local@domain`, without the angle brackets.
    pub message_id: String,
    /// The id (without angle brackets) this message answers; also written as `References`.
    pub in_reply_to: Option<String>,
    /// The envelope sender (`MAIL FROM`) when it is not the bare address of `from`: donebot's
    /// VERP address `bounce+TOKEN@domain`, so that bounces prove what they answer.
    pub return_path: Option<String>,
    /// Extra headers written verbatim, in order: `Auto-Submitted`, `Precedence`,
    /// `List-Unsubscribe`, `List-Unsubscribe-Post`, `List-Id`, `X-Donebot-Kind`, ...
    pub headers: Vec<(String, String)>,
    /// The `Date` header (second precision on the wire).
    pub date: DateTime<Utc>,
}

/// An encoded message and its SMTP envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltEmail {
    /// `MAIL FROM`: the bare address of `from`.
    pub envelope_from: String,
    /// `RCPT TO`: the bare address of `to`.
    pub envelope_to: Vec<String>,
    /// RFC 5322 bytes, CRLF line endings, ending with CRLF.
    pub raw: Vec<u8>,
}

/// Why an [`OutgoingEmail`] could not be encoded; each variant names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("{field}: invalid address {value:?}: {reason}")]
    InvalidAddress {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("{field}: invalid message id {value:?} (expected local@domain, without <>)")]
    InvalidMessageId { field: &'static str, value: String },
    #[error("subject: must be a single line")]
    MultilineSubject,
    #[error("header {name:?}: {reason}")]
    InvalidHeader { name: String, reason: &'static str },
    #[error("cannot build the message: {0}")]
    Build(String),
}

/// Headers this module writes itself; a custom header may not replace them.
const RESERVED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Bcc",
    "Reply-To",
    "Sender",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

pub use lettre::message::dkim::{DkimConfig, DkimSigningAlgorithm, DkimSigningKey};

/// Encodes `email`. Deterministic except for the multipart boundary.
pub fn build(email: &OutgoingEmail) -> Result<BuiltEmail, MessageError> {
    build_signed(email, None)
}

/// Encodes `email` and, with a DKIM configuration, signs it (a `DKIM-Signature` header over
/// From, Subject, To and Date, relaxed body canonicalization).
pub fn build_signed(
    email: &OutgoingEmail,
    dkim: Option<&DkimConfig>,
) -> Result<BuiltEmail, MessageError> {
    let from = mailbox("from", &email.from)?;
    let to = mailbox("to", &email.to)?;
    check_message_id("message_id", &email.message_id)?;
    if email.subject.contains(['\r', '\n']) {
        return Err(MessageError::MultilineSubject);
    }

    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.as_str())
        .date(SystemTime::from(email.date))
        .message_id(Some(format!("<{}>", email.message_id)));
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(mailbox("reply_to", reply_to)?);
    }
    if let Some(parent) = &email.in_reply_to {
        check_message_id("in_reply_to", parent)?;
        builder = builder
            .in_reply_to(format!("<{parent}>"))
            .references(format!("<{parent}>"));
    }
    for (name, value) in &email.headers {
        builder = builder.raw_header(custom_header(name, value)?);
    }

    let mut message = match &email.html {
        // lettre ends a single part with CRLF itself; drop the text's own final line break so
        // the body reads back exactly as given.
        None => builder.singlepart(SinglePart::plain(
            email
                .text
                .strip_suffix("\r\n")
                .or_else(|| email.text.strip_suffix('\n'))
                .unwrap_or(&email.text)
                .to_owned(),
        )),
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            html.clone(),
        )),
    }
    .map_err(|e| MessageError::Build(e.to_string()))?;
    if let Some(dkim) = dkim {
        message.sign(dkim);
    }

    let envelope = message.envelope();
    let envelope_from = match &email.return_path {
        Some(path) => mailbox("return_path", path)?.email.to_string(),
        None => envelope.from().map(ToString::to_string).unwrap_or_default(),
    };
    let envelope_to = envelope.to().iter().map(ToString::to_string).collect();
    let mut raw = message.formatted();
    if !raw.ends_with(b"\r\n") {
        raw.extend_from_slice(b"\r\n");
    }
    Ok(BuiltEmail {
        envelope_from,
        envelope_to,
        raw,
    })
}

fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, MessageError> {
    value
        .parse::<Mailbox>()
        .map_err(|e| MessageError::InvalidAddress {
            field,
            value: value.to_owned(),
            reason: e.to_string(),
        })
}

/// A message id is `local@domain` in printable ASCII, with no brackets or whitespace.
fn check_message_id(field: &'static str, id: &str) -> Result<(), MessageError> {
    let printable = id
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    let shaped = id
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    if printable && shaped {
        Ok(())
    } else {
        Err(MessageError::InvalidMessageId {
            field,
            value: id.to_owned(),
        })
    }
}

fn custom_header(name: &str, value: &str) -> Result<HeaderValue, MessageError> {
    let invalid = |reason| MessageError::InvalidHeader {
        name: name.to_owned(),
        reason,
    };
    if RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return Err(invalid(
            "set by the message builder; use the matching field",
        ));
    }
    if !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(invalid("name must be printable ASCII without ':'"));
    }
    if value.contains(['\r', '\n']) {
        return Err(invalid("value must be a single line"));
    }
    let name = HeaderName::new_from_ascii(name.to_owned())
        .map_err(|_| invalid("name must be 1 to 76 ASCII characters"))?;
    Ok(HeaderValue::new(name, value.to_owned()))
}
