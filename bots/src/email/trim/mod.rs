//! The reply trimmer: from the text of a reply, keep only what the person typed.
//!
//! Owns the line-by-line walk that drops quoted text (`>` blocks and the attribution or header
//! block that introduces them), signatures, mobile footers and donebot's own prompt if it comes
//! back unquoted; plus [`trim_input`], the byte-level entry point of `donebot trim`. The patterns
//! live in [`header`] (what starts a quoted message) and [`signature`] (what ends a reply).
//! It does not parse MIME ([`super::parse`] does) and does not split text into dones.
//!
//! Invariants: a line that is quoted in the input (first non-blank character `>`) never appears
//! in the output; text between quotes (an interleaved reply) is kept; time is linear in the input
//! (every look-ahead is bounded to a few short lines).

pub(crate) mod header;
mod signature;

use super::parse::{self, ParseError};

/// donebot's prompt body starts with this line; seen unquoted, it starts our own message.
const PROMPT_FIRST_LINE: &str = "what did you get done today?";

/// What the person typed in a reply: quotes, quote headers and signatures removed, their own text
/// kept as written (inner blank lines kept, trailing white space and outer blank lines removed).
pub fn trim_reply(text: &str) -> String {
    let normalized = normalize(text);
    let lines: Vec<&str> = normalized.split('\n').collect();
    let mut kept = select(&lines);
    signature::drop_sign_off_block(&mut kept);
    finish(kept)
}

/// `donebot trim`: a raw RFC 5322 message is parsed and its reply text trimmed (auto-replies and
/// bounces yield nothing, as they never become dones); anything else is read as plain text
/// (UTF-8, else Windows-1252) and trimmed.
///
/// Empty or blank input is not an error: it is a reply with nothing typed, so the result is
/// empty. Binary input (NUL bytes, or more than 1% other control bytes) is
/// [`ParseError::Binary`].
pub fn trim_input(bytes: &[u8]) -> Result<String, ParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(String::new());
    }
    check_not_binary(bytes)?;
    if looks_like_message(bytes) {
        let mail = parse::parse(bytes)?;
        if mail.auto.is_some() {
            return Ok(String::new());
        }
        return Ok(mail.reply_text());
    }
    Ok(trim_reply(&decode_text_bytes(bytes)))
}

/// Decodes bytes that claim no reliable charset: UTF-8 when valid, else Windows-1252 (a superset
/// of Latin-1 for printable text), which is what undeclared 8-bit mail almost always is.
pub fn decode_text_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| windows_1252(b)).collect(),
    }
}

fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

fn check_not_binary(bytes: &[u8]) -> Result<(), ParseError> {
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(ParseError::Binary { offset });
    }
    let controls = bytes
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
        .count();
    if controls * 100 > bytes.len() {
        let offset = bytes
            .iter()
            .position(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
            .unwrap_or(0);
        return Err(ParseError::Binary { offset });
    }
    Ok(())
}

/// True when the input starts with an RFC 5322 header block: at least two header fields, one of
/// them a well-known message header, before the first blank line (an mbox "From " line allowed).
fn looks_like_message(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines().peekable();
    if lines.peek().is_some_and(|l| l.starts_with("From ")) {
        lines.next();
    }
    let (mut fields, mut known) = (0, false);
    for line in lines {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if fields == 0 {
                return false;
            }
            continue;
        }
        let Some((name, _)) = line.split_once(':') else {
            return false;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return false;
        }
        fields += 1;
        let name = name.to_ascii_lowercase();
        // "Date:" alone is too common in typed text ("Date: Friday\nTime: 7am") to count.
        known |= name.starts_with("x-")
            || name.starts_with("content-")
            || name.starts_with("arc-")
            || matches!(
                name.as_str(),
                "from"
                    | "to"
                    | "subject"
                    | "message-id"
                    | "mime-version"
                    | "received"
                    | "return-path"
                    | "delivered-to"
                    | "in-reply-to"
                    | "references"
                    | "dkim-signature"
                    | "authentication-results"
            );
    }
    fields >= 2 && known
}

/// CRLF and lone CR to LF; lines holding only invisible characters (Gmail's tracking dot "ᐧ",
/// zero-width spaces, NBSP) become empty.
fn normalize(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let invisible = line.chars().all(|c| {
            c.is_whitespace()
                || matches!(
                    c,
                    '\u{1427}' | '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{feff}'
                )
        });
        if !invisible {
            out.push_str(line);
        }
    }
    out
}

/// `t.to_lowercase().starts_with(prefix)` for a `prefix` without sigma (whose lowercase depends
/// on its place in a word), without lowercasing all of `t`.
fn starts_with_lowercased(t: &str, prefix: &str) -> bool {
    let mut want = prefix.chars();
    for c in t.chars().flat_map(char::to_lowercase) {
        match want.next() {
            None => return true,
            Some(w) if w == c => {}
            Some(_) => return false,
        }
    }
    want.next().is_none()
}

pub(crate) fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// A `>` line, except a banner whose arrows point at its content from both sides
/// (`>>> http://example.com <<<`), which is text the person (or their template) wrote.
pub(crate) fn is_quoted(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('>') && !is_banner(t)
}

pub fn is_banner(trimmed: &str) -> bool {
    trimmed.starts_with(">>")
        && trimmed.ends_with("<<")
        && !trimmed.trim_matches(['>', '<', ' ']).is_empty()
}

/// The walk: returns the lines the person typed, in order.
fn select(lines: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut fence = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        if t.starts_with("```") {
            fence = !fence;
        }
        if fence || t.starts_with("```") {
            if !is_quoted(line) {
                out.push(line.to_string());
            }
            i += 1;
            continue;
        }
        if is_quoted(line) {
            i = skip_quote_block(lines, i, false);
            continue;
        }
        if starts_with_lowercased(t, PROMPT_FIRST_LINE)
            || header::is_original_marker(t)
            || header::is_ruled_separator(lines, i)
        {
            break;
        }
        if header::is_forward_marker(t) {
            let end = header::forward_header_end(lines, i + 1);
            if has_content(&out) {
                // A comment followed by a forward: the forward is what they meant to send.
                out.extend(
                    lines[i..end]
                        .iter()
                        .filter(|l| !is_quoted(l))
                        .map(|l| l.to_string()),
                );
            }
            i = end;
            continue;
        }
        if header::header_block_at(lines, i) || signature::ends_reply(lines, i) {
            break;
        }
        if let Some(attr) = header::attribution_at(lines, i) {
            if let Some(prefix) = attr.prefix {
                out.push(prefix);
            }
            let mut j = i + attr.lines;
            while j < lines.len() && is_blank(lines[j]) {
                j += 1;
            }
            if j < lines.len() && header::is_quote_line(lines[j], true) {
                i = skip_quote_block(lines, j, true);
                continue;
            }
            if has_content(&out) {
                break;
            }
            // The attribution sits on top with the reply under it (some mobile clients).
            i = j;
            continue;
        }
        out.push(line.to_string());
        i += 1;
    }
    out
}

fn has_content(out: &[String]) -> bool {
    out.iter().any(|l| !is_blank(l))
}

/// Skips a quoted block starting at `start`: quoted lines, blank lines between quoted paragraphs,
/// a wrapped line squeezed between two quoted lines, and the blank lines after the block.
/// With `pipe`, lines quoted with `|` count too (some webmails, after an attribution).
fn skip_quote_block(lines: &[&str], start: usize, pipe: bool) -> usize {
    let quoted = |k: usize| lines.get(k).is_some_and(|l| header::is_quote_line(l, pipe));
    let mut k = start;
    while k < lines.len() {
        if quoted(k) {
            k += 1;
        } else if is_blank(lines[k]) {
            let mut m = k;
            while m < lines.len() && is_blank(lines[m]) {
                m += 1;
            }
            k = m;
            if !quoted(m) {
                break;
            }
        } else if k > start && quoted(k - 1) && quoted(k + 1) {
            k += 1;
        } else {
            break;
        }
    }
    k
}

/// Strips trailing white space per line, trailing separator lines, and outer blank lines; the
/// first line loses its indentation too.
fn finish(mut lines: Vec<String>) -> String {
    for line in &mut lines {
        line.truncate(line.trim_end().len());
    }
    while lines
        .last()
        .is_some_and(|l| is_blank(l) || signature::is_rule(l.trim()))
    {
        lines.pop();
    }
    let first = lines
        .iter()
        .position(|l| !is_blank(l))
        .unwrap_or(lines.len());
    lines.drain(..first).for_each(drop);
    let text = lines.join("\n");
    text.trim_start().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_line_is_found_in_any_case() {
        for (t, found) in [
            ("What did you get done today?", true),
            ("WHAT DID YOU GET DONE TODAY? (team)", true),
            ("what did you get done", false),
            ("", false),
            ("Was did you get done today?", false),
        ] {
            assert_eq!(starts_with_lowercased(t, PROMPT_FIRST_LINE), found, "{t}");
            assert_eq!(
                t.to_lowercase().starts_with(PROMPT_FIRST_LINE),
                found,
                "{t}"
            );
        }
    }

    #[test]
    fn keeps_plain_text() {
        assert_eq!(
            trim_reply("\n\nShipped it\n\n  - one  \n\n"),
            "Shipped it\n\n  - one"
        );
    }

    #[test]
    fn windows_1252_fallback() {
        assert_eq!(decode_text_bytes(b"caf\xe9 \x93ok\x94"), "café “ok”");
    }

    #[test]
    fn message_detection() {
        assert!(looks_like_message(b"From: a@b.c\nSubject: x\n\nbody"));
        assert!(!looks_like_message(b"Date: today\nTime: 7am\n\nbody"));
        assert!(!looks_like_message(b"Hello: world and more\n"));
    }
}
