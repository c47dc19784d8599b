//! Inbound mail: raw RFC 5322 bytes to a [`ParsedMail`] that the rest of donebot can act on.
//!
//! Owns MIME walking (which part is the body: text/plain over HTML in an alternative, attachments
//! and forwarded `message/rfc822` parts ignored), charset and transfer decoding (through
//! mailparse and the `charset` crate), `format=flowed` unwrapping, the addressing headers, and the
//! classification of auto-replies and bounces, which must never become dones. Trimming quoted text
//! and signatures is [`super::trim`]'s job, HTML rendering is [`super::html`]'s.
//!
//! Invariant: no input makes [`parse`] panic or take more than linear time; nesting is bounded
//! before mailparse recurses, so hostile MIME cannot exhaust the stack.

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use mailparse::{MailAddr, MailHeader, addrparse_header, msgidparse};

use super::{html, trim};

/// Deepest MIME nesting we let mailparse recurse into; real mail stays well below 10.
const MAX_MULTIPART: usize = 256;

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The header block could not be parsed at all.
    #[error("not a readable email message: {0}")]
    Malformed(String),
    /// The body holds NUL bytes or similar: it is binary, not a reply someone typed.
    #[error("input looks binary (NUL byte at offset {offset}); expected an email message or text")]
    Binary { offset: usize },
    /// MIME nesting deeper than any mail client produces.
    #[error("MIME structure nested more than {MAX_MULTIPART} levels deep; refusing to parse")]
    TooDeep,
}

/// Why a message is machine-generated; such messages never become dones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoKind {
    /// `Auto-Submitted:` other than `no` (RFC 3834).
    AutoSubmitted,
    /// `X-Autoreply`, `X-Autorespond`, or `Precedence: bulk|junk|auto_reply|list`.
    AutoReplyHeader,
    /// A subject such as "Out of office" or "Automatische Antwort".
    OutOfOffice,
    /// A delivery status notification (`multipart/report; report-type=delivery-status`, or a
    /// failure notice from MAILER-DAEMON/postmaster).
    Bounce,
}

/// What donebot needs from one inbound message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedMail {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To ids without angle brackets.
    pub in_reply_to: Vec<String>,
    /// References ids without angle brackets, oldest first.
    pub references: Vec<String>,
    /// Bare sender address, lowercased.
    pub from: Option<String>,
    /// Sender display name, if given.
    pub from_name: Option<String>,
    /// Bare addresses from To and Cc, lowercased.
    pub to: Vec<String>,
    /// Subject with encoded words decoded.
    pub subject: String,
    pub date: Option<DateTime<FixedOffset>>,
    /// `Some` if the message is an auto-reply or a bounce.
    pub auto: Option<AutoKind>,
    /// The body as text (see the module doc for which part).
    pub text: String,
}

impl ParsedMail {
    /// What the person typed: [`Self::text`] without quotes and signatures.
    pub fn reply_text(&self) -> String {
        trim::trim_reply(&self.text)
    }
}

/// Header lookups by name: mailparse's own (`MailHeaderMap`) decode every header's name from
/// Latin-1 at every lookup; these compare the raw bytes, which for an ASCII name is the same
/// test (a byte above 127 decodes to a character that equals no ASCII one, in any case). Names
/// are ASCII literals.
trait HeaderNames<'a> {
    fn first_header(&self, name: &str) -> Option<&MailHeader<'a>>;
    fn all_headers<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s MailHeader<'a>>
    where
        'a: 's;
    fn first_value(&self, name: &str) -> Option<String> {
        self.first_header(name).map(MailHeader::get_value)
    }
}

impl<'a> HeaderNames<'a> for [MailHeader<'a>] {
    fn first_header(&self, name: &str) -> Option<&MailHeader<'a>> {
        self.iter()
            .find(|h| h.get_key_raw().eq_ignore_ascii_case(name.as_bytes()))
    }

    fn all_headers<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s MailHeader<'a>>
    where
        'a: 's,
    {
        self.iter()
            .filter(move |h| h.get_key_raw().eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// Parses one raw message.
pub fn parse(raw: &[u8]) -> Result<ParsedMail, ParseError> {
    if count_multipart(raw) > MAX_MULTIPART {
        return Err(ParseError::TooDeep);
    }
    let mail = mailparse::parse_mail(raw).map_err(|e| ParseError::Malformed(e.to_string()))?;
    let headers = &mail.headers;
    let (from, from_name) = headers
        .first_header("From")
        .and_then(|h| addrparse_header(h).ok())
        .and_then(|list| first_single(&list))
        .map_or((None, None), |(addr, name)| (Some(addr), name));
    let mut to = Vec::new();
    for h in headers.all_headers("To").chain(headers.all_headers("Cc")) {
        if let Ok(list) = addrparse_header(h) {
            collect_addrs(&list, &mut to);
        }
    }
    let ids = |key: &str| -> Vec<String> {
        headers
            .first_value(key)
            .and_then(|v| msgidparse(&v).ok())
            .map(|l| {
                l.iter()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let subject = headers
        .first_value("Subject")
        .unwrap_or_default()
        .trim()
        .to_string();
    let text = body_text(&mail, 0).unwrap_or_default();
    if let Some(offset) = text.find('\0') {
        return Err(ParseError::Binary { offset });
    }
    let auto = classify(&mail, from.as_deref(), &subject);
    Ok(ParsedMail {
        message_id: ids("Message-ID").into_iter().next(),
        in_reply_to: ids("In-Reply-To"),
        references: ids("References"),
        from,
        from_name,
        to,
        date: headers.first_value("Date").and_then(|d| parse_date(&d)),
        subject,
        auto,
        text,
    })
}

/// The Message-ID header of a raw message, without brackets: the first `Message-ID` field of
/// the header block (its name in any case, a folded value unfolded). It runs for every message
/// before its `250`, so it scans the header lines for that one field instead of parsing them all;
/// a line that is no header field ends the header block, as a blank line does.
pub fn header_message_id(raw: &[u8]) -> Option<String> {
    let mut value: Option<Vec<u8>> = None;
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let folded = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        match value.as_mut() {
            // A line break and the whitespace after it are one space, as mailparse reads them.
            Some(v) if folded => {
                v.push(b' ');
                v.extend_from_slice(line.trim_ascii_start());
                continue;
            }
            Some(_) => break,
            // The rest of another field.
            None if folded => continue,
            None => {}
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            // The blank line after the headers, or no header at all.
            return None;
        };
        if line[..colon]
            .trim_ascii_end()
            .eq_ignore_ascii_case(b"Message-ID")
        {
            value = Some(line[colon + 1..].to_vec());
        }
    }
    let value = value?;
    let id = String::from_utf8_lossy(&value)
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string();
    (!id.is_empty()).then_some(id)
}

/// Counts `multipart/` occurrences (ASCII case-insensitive): an upper bound on nesting depth.
fn count_multipart(raw: &[u8]) -> usize {
    raw.windows(10)
        .filter(|w| w.eq_ignore_ascii_case(b"multipart/"))
        .count()
}

fn first_single(list: &mailparse::MailAddrList) -> Option<(String, Option<String>)> {
    list.iter()
        .find_map(|a| match a {
            MailAddr::Single(s) => Some(s.clone()),
            MailAddr::Group(g) => g.addrs.first().cloned(),
        })
        .map(|s| {
            let name = s
                .display_name
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty());
            (s.addr.trim().to_lowercase(), name)
        })
}

fn collect_addrs(list: &mailparse::MailAddrList, out: &mut Vec<String>) {
    for a in list.iter() {
        let singles = match a {
            MailAddr::Single(s) => std::slice::from_ref(s),
            MailAddr::Group(g) => g.addrs.as_slice(),
        };
        for s in singles {
            let addr = s.addr.trim().to_lowercase();
            if !addr.is_empty() && !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
}

fn parse_date(value: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(d) = DateTime::parse_from_rfc2822(value.trim()) {
        return Some(d);
    }
    // Strip a trailing "(EDT)"-style comment, then let mailparse's lenient parser try.
    let bare = value.split('(').next().unwrap_or(value).trim();
    if let Ok(d) = DateTime::parse_from_rfc2822(bare) {
        return Some(d);
    }
    let ts = mailparse::dateparse(value).ok()?;
    Utc.timestamp_opt(ts, 0).single().map(|d| d.fixed_offset())
}

/// The readable text of a part: see the module doc for the choice rules.
fn body_text(part: &mailparse::ParsedMail, depth: usize) -> Option<String> {
    let mime = part.ctype.mimetype.as_str();
    if depth > 0 && is_attachment(part) {
        return None;
    }
    match mime {
        "text/plain" => Some(plain_text(part)),
        "text/html" => Some(html::html_to_text(&decoded_text(part))),
        "multipart/alternative" => {
            let plain = part
                .subparts
                .iter()
                .find(|p| p.ctype.mimetype == "text/plain" && !is_attachment(p))
                .map(plain_text);
            plain.or_else(|| part.subparts.iter().find_map(|p| body_text(p, depth + 1)))
        }
        m if m.starts_with("multipart/") => {
            let texts: Vec<String> = part
                .subparts
                .iter()
                .filter_map(|p| body_text(p, depth + 1))
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        // A whole message wrapped by a gateway: read the inner one. A message/rfc822 *inside* a
        // multipart is a forwarded message, someone else's words: ignored like an attachment.
        "message/rfc822" if depth == 0 => {
            let inner = part.get_body_raw().ok()?;
            let inner = mailparse::parse_mail(&inner).ok()?;
            body_text(&inner, 1)
        }
        _ if depth == 0 && part.ctype.mimetype.is_empty() => Some(plain_text(part)),
        _ => None,
    }
}

fn is_attachment(part: &mailparse::ParsedMail) -> bool {
    let disp = part.get_content_disposition();
    disp.disposition == mailparse::DispositionType::Attachment
        || (disp.params.contains_key("filename") && !part.ctype.mimetype.starts_with("multipart/"))
        || part.ctype.mimetype == "message/rfc822"
}

/// Decodes transfer encoding and charset; bodies that lie about being ASCII or UTF-8 are read as
/// UTF-8 when valid and as Windows-1252 otherwise, which is what such mail almost always is.
fn decoded_text(part: &mailparse::ParsedMail) -> String {
    let charset = part.ctype.charset.to_ascii_lowercase();
    let lies_easily = matches!(
        charset.as_str(),
        "us-ascii" | "ascii" | "utf-8" | "utf8" | ""
    );
    if lies_easily || !part.ctype.params.contains_key("charset") {
        return match part.get_body_raw() {
            Ok(raw) => trim::decode_text_bytes(&raw),
            Err(_) => String::new(),
        };
    }
    part.get_body().unwrap_or_else(|_| {
        part.get_body_raw()
            .map(|r| trim::decode_text_bytes(&r))
            .unwrap_or_default()
    })
}

fn plain_text(part: &mailparse::ParsedMail) -> String {
    let text = decoded_text(part).replace("\r\n", "\n");
    let param = |k: &str| part.ctype.params.get(k).map(|v| v.to_ascii_lowercase());
    if param("format").as_deref() == Some("flowed") {
        unflow(&text, param("delsp").as_deref() == Some("yes"))
    } else {
        text
    }
}

/// Undoes RFC 3676 `format=flowed`: a line ending in a space continues on the next line of the
/// same quote depth. Quote prefixes are normalised to "> " per level.
pub fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open: Option<usize> = None; // quote depth of an unfinished flowed paragraph
    for raw in text.lines() {
        let depth = raw.bytes().take_while(|&b| b == b'>').count();
        let mut content = &raw[depth..];
        if let Some(stripped) = content.strip_prefix(' ') {
            content = stripped; // space-stuffing, or the space after the quote marks
        }
        if open != Some(depth) {
            if open.is_some() {
                out.push('\n');
            }
            for _ in 0..depth {
                out.push('>');
            }
            if depth > 0 {
                out.push(' ');
            }
        }
        if content.ends_with(' ') && content != "-- " {
            out.push_str(if delsp {
                &content[..content.len() - 1]
            } else {
                content
            });
            open = Some(depth);
        } else {
            out.push_str(content);
            out.push('\n');
            open = None;
        }
    }
    if open.is_some() {
        out.push('\n');
    }
    out
}

fn classify(mail: &mailparse::ParsedMail, from: Option<&str>, subject: &str) -> Option<AutoKind> {
    let h = &mail.headers;
    let ctype = &mail.ctype;
    let report = ctype.mimetype == "multipart/report";
    let report_type = ctype
        .params
        .get("report-type")
        .map(|v| v.to_ascii_lowercase());
    if report && report_type.as_deref() == Some("delivery-status") {
        return Some(AutoKind::Bounce);
    }
    let local = from.and_then(|f| f.split('@').next()).unwrap_or("");
    let daemon = matches!(local, "mailer-daemon" | "postmaster" | "mail-daemon");
    let lower = subject.to_lowercase();
    let bounce_subject = [
        "undeliver",
        "delivery status notification",
        "failure notice",
        "returned mail",
        "delivery failure",
        "mail delivery failed",
        "unzustellbar",
        "non remis",
    ]
    .iter()
    .any(|s| lower.contains(s));
    if daemon && (report || bounce_subject) {
        return Some(AutoKind::Bounce);
    }
    if h.first_value("Auto-Submitted")
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"))
    {
        return Some(AutoKind::AutoSubmitted);
    }
    if report {
        // Read receipts and other reports: machine-made, not a bounce.
        return Some(AutoKind::AutoSubmitted);
    }
    let precedence = h
        .first_value("Precedence")
        .or_else(|| h.first_value("X-Precedence"))
        .map(|v| v.trim().to_ascii_lowercase());
    if h.first_value("X-Autoreply").is_some()
        || h.first_value("X-Autorespond").is_some()
        || h.first_value("X-Autoresponse").is_some()
        || matches!(
            precedence.as_deref(),
            Some("bulk" | "junk" | "auto_reply" | "list")
        )
    {
        return Some(AutoKind::AutoReplyHeader);
    }
    if is_out_of_office_subject(&lower) {
        return Some(AutoKind::OutOfOffice);
    }
    None
}

/// Subjects that auto-responders put on their replies, in the languages we meet most.
fn is_out_of_office_subject(lower: &str) -> bool {
    const ANYWHERE: &[&str] = &[
        "out of office",
        "out of the office",
        "automatic reply",
        "auto-reply",
        "autoreply",
        "auto reply",
        "autoresponder",
        "abwesenheitsnotiz",
        "automatische antwort",
        "abwesend",
        "réponse automatique",
        "reponse automatique",
        "absence du bureau",
        "respuesta automática",
        "respuesta automatica",
        "fuera de la oficina",
        "fuori sede",
        "fuori ufficio",
        "risposta automatica",
        "afwezig",
        "automatisch antwoord",
        "resposta automática",
        "ausente",
        "frånvaro",
        "autosvar",
        "fraværende",
        "automaattinen vastaus",
        "poza biurem",
        "odpowiedź automatyczna",
        "automatyczna odpowiedź",
        "автоответ",
        "автоматический ответ",
        "nepřítomnost",
        "automatická odpověď",
        "自动回复",
        "自動回覆",
        "自動応答",
        "不在",
        "자동 응답",
    ];
    let starts = lower.starts_with("auto:") || lower.starts_with("absence");
    starts || ANYWHERE.iter().any(|s| lower.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailparse::MailHeaderMap;

    #[test]
    fn header_lookups_match_mailparse_s_own() {
        let raw = b"SUBJECT: one\r\nsubject: two\r\nSubj\xe9ct: three\r\nX-Autoreply: yes\r\n\
                    To: a@x.org\r\nCC: b@x.org\r\nto: c@x.org\r\n\r\nbody\r\n";
        let mail = mailparse::parse_mail(raw).expect("parse");
        let h = &mail.headers[..];
        for name in ["Subject", "x-autoreply", "To", "Cc", "Precedence"] {
            assert_eq!(h.first_value(name), h.get_first_value(name), "{name}");
            let ours: Vec<String> = h.all_headers(name).map(|x| x.get_value()).collect();
            assert_eq!(ours, h.get_all_values(name), "{name}");
        }
    }

    #[test]
    fn message_ids_are_read_from_the_headers_only() {
        assert_eq!(
            header_message_id(
                b"Message-ID: <a.1@x>\r\nSubject: hi\r\n\r\nMessage-ID: <body@x>\r\n"
            )
            .as_deref(),
            Some("a.1@x")
        );
        assert_eq!(header_message_id(b"Subject: hi\r\n\r\nbody"), None);
    }

    #[test]
    fn a_message_id_is_found_in_any_case_folded_and_first_only() {
        let id = |raw: &[u8]| header_message_id(raw);
        assert_eq!(
            id(b"Received: from a\r\n\tby b\r\nMessage-Id: <x.1@y>\r\n\r\n").as_deref(),
            Some("x.1@y")
        );
        assert_eq!(
            id(b"Subject: hi\nMESSAGE-ID:\n  <folded@y>\nTo: a@b\n\nbody").as_deref(),
            Some("folded@y"),
            "folded, bare LF line ends"
        );
        assert_eq!(
            id(b"Message-ID: <first@y>\r\nMessage-ID: <second@y>\r\n\r\n").as_deref(),
            Some("first@y")
        );
        assert_eq!(
            id(b"Message-ID :  <spaced@y>  \r\n\r\n").as_deref(),
            Some("spaced@y")
        );
        assert_eq!(id(b"Message-ID: <>\r\n\r\n"), None, "empty");
        assert_eq!(id(b"X-Message-ID: <not@y>\r\n\r\n"), None, "another field");
        assert_eq!(id(b"no header here\r\nMessage-ID: <late@y>\r\n"), None);
        assert_eq!(id(b"Message-ID: <eof@y>").as_deref(), Some("eof@y"));
        assert_eq!(id(b""), None);
    }

    proptest::proptest! {
        /// The scan finds what a full parse of the headers finds, on header blocks of any fields
        /// (Message-ID among them or not, in any case, folded or not, CRLF or LF).
        #[test]
        fn the_header_scan_agrees_with_mailparse(
            fields in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["Message-ID", "message-id", "Message-Id", "X-Message-ID", "Subject", "Received", "To"]),
                    "[a-zA-Z0-9.@<> -]{0,30}",
                    proptest::option::of("[a-zA-Z0-9.@<>-]{1,20}"),
                ),
                0..8,
            ),
            crlf in proptest::bool::ANY,
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut raw = String::new();
            for (name, value, folded) in &fields {
                raw.push_str(&format!("{name}: {value}{eol}"));
                if let Some(more) = folded {
                    raw.push_str(&format!("\t{more}{eol}"));
                }
            }
            raw.push_str(&format!("{eol}Message-ID: <body@x>{eol}"));
            let parsed = mailparse::parse_headers(raw.as_bytes())
                .ok()
                .and_then(|(h, _)| h.get_first_value("Message-ID"))
                .map(|v| v.trim().trim_start_matches('<').trim_end_matches('>').trim().to_string())
                .filter(|v| !v.is_empty());
            proptest::prop_assert_eq!(header_message_id(raw.as_bytes()), parsed, "{:?}", raw);
        }
    }

    #[test]
    fn unflow_joins_soft_breaks_and_keeps_quotes() {
        let text = "Shipped the \nrelease today.\n> quoted \n> more\nend\n";
        assert_eq!(
            unflow(text, false),
            "Shipped the release today.\n> quoted more\nend\n"
        );
        assert_eq!(unflow("ab \ncd\n", true), "abcd\n");
    }

    #[test]
    fn out_of_office_subjects() {
        assert!(is_out_of_office_subject(
            "automatische antwort: what did you get done?"
        ));
        assert!(is_out_of_office_subject("auto: re: hello"));
        assert!(!is_out_of_office_subject(
            "re: what did you get done today?"
        ));
    }
}
