//! Delivery status notifications (RFC 3464) and the addresses they come back to.
//!
//! Owns reading a bounce: which recipients failed permanently (`Action: failed` with a `5.x.x`
//! status), which Message-IDs the returned message carried, and the tagged addresses donebot
//! hands out (`reply+TOKEN@domain`, and the VERP return path `bounce+TOKEN@domain` of every
//! outgoing message). It does not decide whom to mark: a report proves nothing by itself (anyone
//! can write one); the app marks a member only when the report came back to a valid bounce
//! address or names a Message-ID donebot sent.
//!
//! Invariant: reading never panics and is linear in the input.

/// The local-part tag of the VERP return path: `bounce+TOKEN@domain`.
pub const BOUNCE_TAG: &str = "bounce";
/// The local-part tag of a prompt's reply address: `reply+TOKEN@domain`.
pub const REPLY_TAG: &str = "reply";

/// `TAG+TOKEN@domain` → `TOKEN` (lower-cased), for our own domain only.
pub fn tagged_token(addr: &str, tag: &str, domain: &str) -> Option<String> {
    let (local, d) = addr.trim().trim_matches(['<', '>']).rsplit_once('@')?;
    if !d.eq_ignore_ascii_case(domain) {
        return None;
    }
    let (t, token) = local.split_once('+')?;
    (t.eq_ignore_ascii_case(tag) && !token.is_empty()).then(|| token.to_ascii_lowercase())
}

/// The `Final-Recipient` (or `Original-Recipient`) of each recipient block whose `Action: failed`
/// and `Status: 5.x.x`, lower-cased, each once.
pub fn hard_bounced_recipients(dsn: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut recipient, mut failed, mut permanent) = (None::<String>, false, false);
    let mut flush = |recipient: &mut Option<String>, failed: &mut bool, permanent: &mut bool| {
        if let (Some(r), true, true) = (recipient.take(), *failed, *permanent)
            && !out.contains(&r)
        {
            out.push(r);
        }
        *failed = false;
        *permanent = false;
    };
    for line in dsn.lines() {
        let line = line.trim();
        if line.is_empty() {
            flush(&mut recipient, &mut failed, &mut permanent);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "final-recipient" | "original-recipient" if recipient.is_none() => {
                let addr = value
                    .rsplit(';')
                    .next()
                    .unwrap_or(value)
                    .trim()
                    .trim_matches(['<', '>'])
                    .to_ascii_lowercase();
                if addr.contains('@') {
                    recipient = Some(addr);
                }
            }
            "action" => failed = value.eq_ignore_ascii_case("failed"),
            "status" => permanent = value.starts_with('5'),
            _ => {}
        }
    }
    flush(&mut recipient, &mut failed, &mut permanent);
    out
}

/// The Message-IDs (without brackets) found below the report's own header block: those of the
/// returned message (`message/rfc822` or `text/rfc822-headers`), at most `max`.
pub fn returned_message_ids(raw: &[u8], max: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let body = match text.find("\r\n\r\n").or_else(|| text.find("\n\n")) {
        Some(at) => &text[at..],
        None => return Vec::new(),
    };
    let mut out = Vec::new();
    for line in body.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let id = value
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        if !id.is_empty() && !id.contains(char::is_whitespace) && !out.iter().any(|o| o == id) {
            out.push(id.to_string());
            if out.len() == max {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_permanent_failures_count_as_hard_bounces() {
        let dsn = "Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; Ada@Example.com\nAction: failed\nStatus: 5.1.1\n\nFinal-Recipient: rfc822; bo@example.com\nAction: delayed\nStatus: 4.4.1\n\nFinal-Recipient: rfc822; cy@example.com\nAction: failed\nStatus: 4.0.0\n";
        assert_eq!(hard_bounced_recipients(dsn), ["ada@example.com"]);
    }

    #[test]
    fn tagged_tokens_are_found_only_at_our_domain() {
        let t = |a| tagged_token(a, REPLY_TAG, "done.example");
        assert_eq!(t("reply+abc@Done.Example").as_deref(), Some("abc"));
        assert_eq!(t("<REPLY+ABC@done.example>").as_deref(), Some("abc"));
        assert_eq!(t("reply+abc@evil.example"), None);
        assert_eq!(t("reply+@done.example"), None);
        assert_eq!(t("ada@done.example"), None);
        assert_eq!(t("bounce+abc@done.example"), None);
        assert_eq!(
            tagged_token("bounce+xyz@done.example", BOUNCE_TAG, "done.example").as_deref(),
            Some("xyz")
        );
    }

    #[test]
    fn returned_message_ids_skip_the_reports_own() {
        let raw = b"Message-ID: <report@mx>\r\nContent-Type: multipart/report\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <prompt.x@done.example>\r\nmessage-id:<prompt.x@done.example>\r\n";
        assert_eq!(returned_message_ids(raw, 4), ["prompt.x@done.example"]);
        assert!(returned_message_ids(b"Message-ID: <a@b>", 4).is_empty());
    }
}
