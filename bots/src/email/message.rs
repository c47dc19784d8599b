//! Outgoing mail as bytes: turns an [`OutgoingEmail`] (what donebot wants to say) into RFC 5322
//! bytes and the SMTP envelope that goes with them, written in one pass by [`super::mime`]'s
//! encoders (lettre parses the addresses and, when configured, makes the DKIM signature).
//!
//! This module owns the shape of every message donebot sends: `text/plain` alone, or
//! `multipart/alternative` with the text part first and the HTML part second; UTF-8 bodies in
//! 7bit, quoted-printable or base64, whichever is shortest and fits; donebot's own headers
//! (`Auto-Submitted`, `List-Unsubscribe`, ...) added verbatim, folded at spaces when long. It does
//! not send anything (that is [`super::send`]) and it reads no clock: `Date` and `Message-ID`
//! come from the caller, so the same [`OutgoingEmail`] always builds the same bytes (the MIME
//! boundary is derived from the Message-ID; only a DKIM signature's timestamp varies).
//!
//! Invariant: [`BuiltEmail::raw`] uses CRLF line endings and ends with CRLF, so a transport can hand
//! it to an SMTP server unchanged and the server stores exactly these bytes.

use chrono::{DateTime, Utc};
use lettre::Address;
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};

use super::mime;

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
    /// The plain-text body; always present and always the first alternative. Line ends may be
    /// `\n` or CRLF (they are written as CRLF). A text ending in a line break reads back exactly.
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

/// Encodes `email`. Deterministic: the same [`OutgoingEmail`] always gives the same bytes.
pub fn build(email: &OutgoingEmail) -> Result<BuiltEmail, MessageError> {
    build_signed(email, None)
}

/// Encodes `email` and, with a DKIM configuration, signs it (a `DKIM-Signature` header over
/// From, Subject, To and Date, relaxed body canonicalization).
///
/// The bytes are written here in one pass (lettre's builder cost about 40 % of the outbox's CPU
/// per message): `From`, `To`, `Subject`, `Date`, `Message-ID`, `Reply-To`, `In-Reply-To`,
/// `References`, the custom headers in order, `MIME-Version`, then the body as a single
/// `text/plain` part or `multipart/alternative` (text, then HTML). Each text body is 7bit when it
/// is short-lined ASCII, else quoted-printable, or base64 when that is shorter.
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
    let reply_to = email
        .reply_to
        .as_deref()
        .map(|r| mailbox("reply_to", r))
        .transpose()?;
    if let Some(parent) = &email.in_reply_to {
        check_message_id("in_reply_to", parent)?;
    }
    for (name, value) in &email.headers {
        check_custom_header(name, value)?;
    }
    let envelope_from = match &email.return_path {
        Some(path) => mailbox("return_path", path)?.email.to_string(),
        None => from.email.to_string(),
    };
    let envelope_to = vec![to.email.to_string()];

    let html_len = email.html.as_ref().map_or(0, String::len);
    let mut raw = Vec::with_capacity(1024 + (email.text.len() + html_len) * 11 / 10);
    write_mailbox(&mut raw, "From", &from);
    write_mailbox(&mut raw, "To", &to);
    write_unstructured(&mut raw, "Subject", &email.subject);
    raw.extend_from_slice(b"Date: ");
    mime::date(email.date, &mut raw);
    raw.extend_from_slice(b"\r\n");
    write_id(&mut raw, "Message-ID", &email.message_id);
    if let Some(reply_to) = &reply_to {
        write_mailbox(&mut raw, "Reply-To", reply_to);
    }
    if let Some(parent) = &email.in_reply_to {
        write_id(&mut raw, "In-Reply-To", parent);
        write_id(&mut raw, "References", parent);
    }
    for (name, value) in &email.headers {
        write_unstructured(&mut raw, name, value);
    }
    raw.extend_from_slice(b"MIME-Version: 1.0\r\n");
    match &email.html {
        None => {
            // The text's own final line break ends the body; one is added when it has none.
            let encoding = mime::Encoding::choose(&email.text);
            write_part_headers(&mut raw, "text/plain", encoding);
            raw.extend_from_slice(b"\r\n");
            write_body(&mut raw, &email.text, encoding);
        }
        Some(html) => {
            let boundary = boundary(email);
            raw.extend_from_slice(b"Content-Type: multipart/alternative;\r\n boundary=\"");
            raw.extend_from_slice(boundary.as_bytes());
            raw.extend_from_slice(b"\"\r\n\r\n");
            for (mime_type, text) in [("text/plain", &email.text), ("text/html", html)] {
                raw.extend_from_slice(b"--");
                raw.extend_from_slice(boundary.as_bytes());
                raw.extend_from_slice(b"\r\n");
                let encoding = match mime::Encoding::choose(text) {
                    // Quoted-printable and base64 cannot contain the boundary (it has "=_").
                    mime::Encoding::SevenBit if text.contains(boundary.as_str()) => {
                        mime::Encoding::QuotedPrintable
                    }
                    encoding => encoding,
                };
                write_part_headers(&mut raw, mime_type, encoding);
                raw.extend_from_slice(b"\r\n");
                // The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1): a text
                // that ends with a line break keeps it.
                write_body(&mut raw, text, encoding);
                raw.extend_from_slice(b"\r\n");
            }
            raw.extend_from_slice(b"--");
            raw.extend_from_slice(boundary.as_bytes());
            raw.extend_from_slice(b"--\r\n");
        }
    }
    if !raw.ends_with(b"\r\n") {
        raw.extend_from_slice(b"\r\n");
    }
    if let Some(dkim) = dkim {
        raw = sign(raw, &from, &envelope_from, &envelope_to, dkim)?;
    }
    Ok(BuiltEmail {
        envelope_from,
        envelope_to,
        raw,
    })
}

/// `<local@domain>`; the id was checked to be printable ASCII.
fn write_id(out: &mut Vec<u8>, name: &str, id: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": <");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b">\r\n");
}

/// `Name <address>`: the name as an atom, a quoted string or encoded words, whichever it needs.
fn write_mailbox(out: &mut Vec<u8>, name: &str, mailbox: &Mailbox) {
    let mut field = mime::Field::start(out, name);
    let address: &str = mailbox.email.as_ref();
    match mailbox
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        None => field.word(address.as_bytes()),
        Some(display) => {
            // A single atom bare (`donebot`), anything else quoted (`"Ada Lovelace"`), as
            // lettre wrote them; encoded words for what is not printable ASCII.
            if mime::atoms(display) && !display.contains(' ') {
                field.word(display.as_bytes());
            } else if display.bytes().all(|b| (b' '..=b'~').contains(&b)) && display.len() < 900 {
                let mut quoted = Vec::with_capacity(display.len() + 4);
                mime::quoted(display, &mut quoted);
                field.word(&quoted);
            } else {
                field.encoded_words(display);
            }
            let mut angle = Vec::with_capacity(address.len() + 2);
            angle.push(b'<');
            angle.extend_from_slice(address.as_bytes());
            angle.push(b'>');
            field.word(&angle);
        }
    }
    field.end();
}

/// An unstructured field: as it is when [`mime::plain_unstructured`] allows, else as encoded
/// words (custom headers were checked to be writable as they are).
fn write_unstructured(out: &mut Vec<u8>, name: &str, value: &str) {
    let mut field = mime::Field::start(out, name);
    if mime::plain_unstructured(name, value) {
        field.unstructured(value);
    } else {
        field.encoded_words(value);
    }
    field.end();
}

fn write_part_headers(out: &mut Vec<u8>, mime_type: &str, encoding: mime::Encoding) {
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(mime_type.as_bytes());
    out.extend_from_slice(b"; charset=utf-8\r\nContent-Transfer-Encoding: ");
    out.extend_from_slice(encoding.name().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn write_body(out: &mut Vec<u8>, text: &str, encoding: mime::Encoding) {
    match encoding {
        mime::Encoding::SevenBit => mime::seven_bit(text, out),
        mime::Encoding::QuotedPrintable => mime::quoted_printable(text, out),
        mime::Encoding::Base64 => mime::base64_body(text, out),
    }
}

/// The multipart boundary: `=_` (which neither quoted-printable nor base64 ever writes) and a
/// digest of the Message-ID, so the same email always gives the same bytes and nobody who does
/// not know the (random) Message-ID can put the boundary in a text on purpose.
fn boundary(email: &OutgoingEmail) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(email.message_id.as_bytes());
    let mut b = String::with_capacity(2 + 32);
    b.push_str("=_");
    b.push_str(&data_encoding::HEXLOWER.encode(&digest[..16]));
    b
}

/// Signs the written message with lettre's DKIM signer: the headers written above are handed to
/// it as they are (pre-encoded, in order), the body as raw bytes, and its output (the same
/// headers, lettre's top-level `Content-Transfer-Encoding`, then `DKIM-Signature`) replaces the
/// message. Only with DKIM configured; the plain path never allocates a lettre message.
fn sign(
    raw: Vec<u8>,
    from: &Mailbox,
    envelope_from: &str,
    envelope_to: &[String],
    dkim: &DkimConfig,
) -> Result<Vec<u8>, MessageError> {
    use lettre::address::Envelope;
    use lettre::message::{Body, header::ContentTransferEncoding};
    let build = |e: &dyn std::fmt::Display| MessageError::Build(e.to_string());
    // Everything up to the first empty line: the message headers and, for a single part, the
    // part's Content-Type and Content-Transfer-Encoding.
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .ok_or_else(|| build(&"no header block"))?;
    let header_block = std::str::from_utf8(&raw[..split]).map_err(|e| build(&e))?;
    let body = &raw[split + 2..];
    let mut builder = Message::builder();
    let mut transfer = ContentTransferEncoding::SevenBit;
    for field in fields(header_block) {
        let (name, value) = field.split_once(':').ok_or_else(|| build(&"no colon"))?;
        let encoded = value.strip_prefix(' ').unwrap_or(value);
        if name.eq_ignore_ascii_case("Content-Transfer-Encoding") {
            // lettre writes the top-level one itself from the body's encoding.
            transfer = match encoded {
                "quoted-printable" => ContentTransferEncoding::QuotedPrintable,
                "base64" => ContentTransferEncoding::Base64,
                _ => ContentTransferEncoding::SevenBit,
            };
            continue;
        }
        // lettre parses the raw value of From (to count the senders); give it one it can read.
        let raw_value = if name.eq_ignore_ascii_case("From") {
            from.to_lettre().to_string()
        } else {
            encoded.replace("\r\n", "")
        };
        let name = HeaderName::new_from_ascii(name.to_owned()).map_err(|e| build(&e))?;
        builder = builder.raw_header(HeaderValue::dangerous_new_pre_encoded(
            name,
            raw_value,
            encoded.to_owned(),
        ));
    }
    let parse = |a: &str| a.parse().map_err(|e| build(&e));
    let envelope = Envelope::new(
        Some(parse(envelope_from)?),
        envelope_to
            .iter()
            .map(|a| parse(a))
            .collect::<Result<_, _>>()?,
    )
    .map_err(|e| build(&e))?;
    let mut message = builder
        .envelope(envelope)
        .body(Body::dangerous_pre_encoded(body.to_vec(), transfer))
        .map_err(|e| build(&e))?;
    message.sign(dkim);
    Ok(message.formatted())
}

/// The fields of a header block (each with its folds, without the final CRLF).
fn fields(block: &str) -> impl Iterator<Item = &str> {
    let mut rest = block;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = 0;
        loop {
            match rest[end..].find("\r\n") {
                Some(n) => {
                    end += n + 2;
                    if !rest[end..].starts_with([' ', '\t']) {
                        break;
                    }
                }
                None => {
                    end = rest.len();
                    break;
                }
            }
        }
        let (field, tail) = rest.split_at(end);
        rest = tail;
        Some(field.strip_suffix("\r\n").unwrap_or(field))
    })
}

/// A mailbox as given: `address`, `<address>`, `Display Name <address>` or
/// `"Display Name" <address>`. The address is checked by lettre's [`Address`] parser (RFC 5321
/// local part and domain); the display name is rewritten on output as atoms, a quoted string or
/// encoded words, so any text without line breaks or angle brackets is accepted for it.
struct Mailbox {
    name: Option<String>,
    email: Address,
}

impl Mailbox {
    /// The same mailbox as lettre's type (for the DKIM signer).
    fn to_lettre(&self) -> lettre::message::Mailbox {
        lettre::message::Mailbox::new(self.name.clone(), self.email.clone())
    }
}

fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, MessageError> {
    let invalid = |reason: String| MessageError::InvalidAddress {
        field,
        value: value.to_owned(),
        reason,
    };
    let v = value.trim();
    let (name, address) = match v.strip_suffix('>') {
        Some(head) => {
            let open = head
                .rfind('<')
                .ok_or_else(|| invalid("'>' without '<'".to_owned()))?;
            (
                Some(display_name(head[..open].trim()).map_err(invalid)?),
                &head[open + 1..],
            )
        }
        None => (None, v),
    };
    if address.contains(['<', '>']) || address.chars().any(char::is_whitespace) {
        return Err(invalid(
            "an address has no spaces or angle brackets".to_owned(),
        ));
    }
    let email = address
        .parse::<Address>()
        .map_err(|e| invalid(e.to_string()))?;
    Ok(Mailbox {
        name: name.filter(|n| !n.is_empty()),
        email,
    })
}

/// A display name without its quotes (and their backslash escapes).
fn display_name(raw: &str) -> Result<String, String> {
    if raw.chars().any(|c| c.is_control()) {
        return Err("the display name has control characters".to_owned());
    }
    let Some(inner) = raw.strip_prefix('"') else {
        return if raw.contains(['"', '<', '>']) {
            Err("a display name with '\"', '<' or '>' must be quoted".to_owned())
        } else {
            Ok(raw.to_owned())
        };
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or_else(|| "an unterminated quoted display name".to_owned())?;
    let mut name = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => name.push(chars.next().ok_or("a quoted name ends with '\\'")?),
            '"' => return Err("an unescaped '\"' in a quoted display name".to_owned()),
            c => name.push(c),
        }
    }
    Ok(name)
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

fn check_custom_header(name: &str, value: &str) -> Result<(), MessageError> {
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
    if name.is_empty() || name.len() > 76 {
        return Err(invalid("name must be 1 to 76 ASCII characters"));
    }
    if value.contains(['\r', '\n']) {
        return Err(invalid("value must be a single line"));
    }
    // A structured value (a list of URLs, an id) must reach the reader as it is: refuse what
    // would have to be encoded instead.
    if value.is_ascii() && !mime::plain_unstructured(name, value) {
        return Err(invalid(
            "value must be printable, without encoded words or words longer than a line",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            from: "donebot <donebot@example.com>".to_owned(),
            to: "\"Zoë Müller-Lüdenscheidt, Jr.\" <zoe@example.org>".to_owned(),
            reply_to: Some("\"Platform team\" <reply+tok3n@example.com>".to_owned()),
            subject: "What did you get done today? (Platform team with a long name, Fri Dec 4) ✅"
                .to_owned(),
            text: "Hi Zoë,\n\nReply to this email.\n.\n..leading dots\ntrailing space \n"
                .to_owned(),
            html: Some("<p>Hi Zoë,</p><p>Reply to this email.</p>".repeat(5)),
            message_id: "prompt.abc@example.com".to_owned(),
            in_reply_to: None,
            return_path: Some("bounce+xyz@example.com".to_owned()),
            headers: vec![
                ("Auto-Submitted".into(), "auto-generated".into()),
                (
                    "List-Unsubscribe".into(),
                    "<https://donebot.example.com/unsubscribe/abcdefghijklmnopqrstuvwxyz234567>"
                        .into(),
                ),
                (
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into(),
                ),
            ],
            date: Utc.with_ymd_and_hms(2026, 12, 4, 17, 0, 0).unwrap(),
        }
    }

    fn header(parsed: &mailparse::ParsedMail, name: &str) -> Option<String> {
        parsed
            .headers
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case(name))
            .map(|h| h.get_value())
    }

    #[test]
    fn names_and_subjects_read_back_whatever_they_contain() {
        let e = email();
        let built = build(&e).unwrap();
        assert!(built.raw.is_ascii());
        let raw = std::str::from_utf8(&built.raw).unwrap();
        let (head, _) = raw.split_once("\r\n\r\n").unwrap();
        // Folded at 78 columns, but for a single word longer than that (the unsubscribe URL).
        assert!(
            head.lines()
                .all(|l| l.len() <= 78 || l.starts_with("List-Unsubscribe: <")),
            "{head}"
        );
        let parsed = mailparse::parse_mail(&built.raw).unwrap();
        assert_eq!(header(&parsed, "Subject").unwrap(), e.subject);
        let to = mailparse::addrparse_header(
            parsed
                .headers
                .iter()
                .find(|h| h.get_key_ref() == "To")
                .unwrap(),
        )
        .unwrap();
        match &to[0] {
            mailparse::MailAddr::Single(s) => {
                assert_eq!(
                    s.display_name.as_deref(),
                    Some("Zoë Müller-Lüdenscheidt, Jr.")
                );
                assert_eq!(s.addr, "zoe@example.org");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            header(&parsed, "Reply-To").unwrap(),
            "\"Platform team\" <reply+tok3n@example.com>"
        );
        assert_eq!(header(&parsed, "List-Unsubscribe").unwrap(), e.headers[1].1);
        assert_eq!(built.envelope_from, "bounce+xyz@example.com");
        assert_eq!(built.envelope_to, ["zoe@example.org"]);
        // Both parts decode to the texts, line ends as CRLF.
        assert_eq!(
            parsed.subparts[0].get_body().unwrap(),
            e.text.replace('\n', "\r\n")
        );
        assert_eq!(parsed.subparts[1].get_body().unwrap(), e.html.unwrap());
        // The same email gives the same bytes.
        assert_eq!(build(&email()).unwrap(), built);
    }

    #[test]
    fn quoted_names_keep_their_specials_and_reject_line_breaks() {
        let mut e = email();
        e.to = r#""Doe, \"JD\" Jane" <jane@example.org>"#.to_owned();
        let built = build(&e).unwrap();
        let raw = String::from_utf8(built.raw).unwrap();
        assert!(
            raw.contains(r#"To: "Doe, \"JD\" Jane" <jane@example.org>"#),
            "{raw}"
        );
        for bad in [
            "Evil\r\nBcc: x@y.org <a@b.org>",
            "\"unterminated <a@b.org>",
            "a@b.org>",
            "<a b@c.org>",
            "Name <>",
        ] {
            e.to = bad.to_owned();
            assert!(
                matches!(
                    build(&e),
                    Err(MessageError::InvalidAddress { field: "to", .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn text_only_bodies_end_with_one_line_break() {
        let mut e = email();
        e.html = None;
        for (text, body) in [
            ("one\ntwo\n", "one\r\ntwo\r\n"),
            ("one\r\ntwo", "one\r\ntwo\r\n"),
        ] {
            e.text = text.to_owned();
            let raw = build(&e).unwrap().raw;
            let raw = String::from_utf8(raw).unwrap();
            assert!(raw.ends_with(&format!("\r\n\r\n{body}")), "{raw:?}");
            assert!(raw.contains("Content-Transfer-Encoding: 7bit\r\n"));
        }
    }

    #[test]
    fn a_signed_message_keeps_the_unsigned_bytes_under_its_signature() {
        let key = data_encoding::BASE64.encode(&[7u8; 32]);
        let key = DkimSigningKey::new(&key, DkimSigningAlgorithm::Ed25519).unwrap();
        let config = DkimConfig::default_config("donebot".into(), "example.com".into(), key);
        let plain = build(&email()).unwrap();
        let signed = build_signed(&email(), Some(&config)).unwrap();
        let split = |raw: &[u8]| {
            let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            (
                String::from_utf8(raw[..at + 2].to_vec()).unwrap(),
                raw[at + 4..].to_vec(),
            )
        };
        let (plain_head, plain_body) = split(&plain.raw);
        let (signed_head, signed_body) = split(&signed.raw);
        assert_eq!(signed_body, plain_body);
        for field in fields(&plain_head) {
            assert!(signed_head.contains(field), "{field} in {signed_head}");
        }
        assert!(signed_head.contains("DKIM-Signature: "));
        assert_eq!(signed.envelope_from, plain.envelope_from);
    }
}
