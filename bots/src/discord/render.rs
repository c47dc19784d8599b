//! Discord-safe message content for outgoing messages, split under the 2000-character limit.
//!
//! Owns: escaping Discord's markdown and mention syntax in every text donebot sends (members'
//! lines, names, and donebot's own wording alike: nothing is meant as markup but the bold titles
//! added here), the layout of a digest (a bold title, a bold name per member, one `• line` per done,
//! then who did not answer), and splitting a long message into parts. It is not the sender; the
//! sender also posts every part with `allowed_mentions: {"parse": []}`, so even a mention that got
//! through would not ping.
//!
//! Invariant: every part is at most [`MAX_CONTENT_LEN`] UTF-16 code units (never fewer than the
//! characters Discord counts), is not blank, and is cut only between lines or, for a line too long
//! on its own, between two characters of the raw text, so a cut never separates a backslash from
//! the character it escapes nor leaves a `**` open.

use crate::bus::OutgoingBody;

/// Discord's limit for a message's `content`.
pub const MAX_CONTENT_LEN: usize = 2000;

/// Characters that are markdown, mention or masked-link syntax anywhere in a Discord message;
/// `\x` shows `x`.
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\\' | '*' | '_' | '~' | '`' | '|' | '<' | '>' | '@' | '[' | ']'
    )
}

/// Characters that are markdown only at the start of a line (a heading, a list item).
fn needs_escape_at_start(c: char) -> bool {
    matches!(c, '#' | '-' | '+')
}

/// Escapes `text` so Discord shows it as written: no formatting, no mention, no masked link.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut line_start = true;
    for c in text.chars() {
        if needs_escape(c) || (line_start && needs_escape_at_start(c)) {
            out.push('\\');
        }
        out.push(c);
        line_start = c == '\n' || (line_start && c.is_whitespace());
    }
    out
}

/// The escaped length of `c`, counting the line-start escapes as if they applied (a bound).
fn escaped_len(c: char) -> usize {
    c.len_utf16() + usize::from(needs_escape(c) || needs_escape_at_start(c))
}

/// UTF-16 length, an upper bound of the characters Discord counts.
pub fn content_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// One line of output: markup around raw text (escaped when written).
struct Line {
    open: &'static str,
    raw: String,
    close: &'static str,
}

impl Line {
    fn plain(raw: impl Into<String>) -> Line {
        Line {
            open: "",
            raw: raw.into(),
            close: "",
        }
    }

    fn bold(raw: impl Into<String>) -> Line {
        Line {
            open: "**",
            raw: raw.into(),
            close: "**",
        }
    }

    fn bullet(raw: impl Into<String>) -> Line {
        Line {
            open: "• ",
            raw: raw.into(),
            close: "",
        }
    }
}

fn lines(body: &OutgoingBody) -> Vec<Line> {
    match body {
        OutgoingBody::Prompt { text, .. } | OutgoingBody::Notice { text } => {
            text.lines().map(Line::plain).collect()
        }
        OutgoingBody::Digest(digest) => {
            let mut out = vec![Line::bold(digest.title.clone())];
            for section in &digest.sections {
                out.push(Line::plain(""));
                out.push(Line::bold(section.member.clone()));
                out.extend(section.lines.iter().map(|l| Line::bullet(l.label())));
            }
            if !digest.quiet.is_empty() {
                out.push(Line::plain(""));
                out.push(Line::bold("No answer from"));
                out.extend(digest.quiet.iter().map(|q| Line::bullet(q.clone())));
            }
            out
        }
    }
}

/// Renders a message as parts of at most `limit` (≥ 16) UTF-16 code units each.
pub fn render(body: &OutgoingBody, limit: usize) -> Vec<String> {
    let limit = limit.max(16);
    let mut parts = Vec::new();
    let mut current = String::new();
    for line in lines(body) {
        for piece in pieces(&line, limit) {
            let extra = usize::from(!current.is_empty()) + content_len(&piece);
            if !current.is_empty() && content_len(&current) + extra > limit {
                push_part(&mut parts, std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(&piece);
        }
    }
    push_part(&mut parts, current);
    parts
}

fn push_part(parts: &mut Vec<String>, part: String) {
    let trimmed = part.trim_matches('\n');
    if !trimmed.trim().is_empty() {
        parts.push(trimmed.to_owned());
    }
}

/// A line as written, cut into pieces that fit `limit` each (one piece when it fits); a cut falls
/// after the last whitespace that fits, else between two characters.
fn pieces(line: &Line, limit: usize) -> Vec<String> {
    let markup = content_len(line.open) + content_len(line.close);
    let room = limit - markup;
    let raw: Vec<char> = line.raw.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    while start < raw.len() || (start == 0 && out.is_empty()) {
        let mut used = 0;
        let mut end = start;
        let mut last_space = None;
        while end < raw.len() && used + escaped_len(raw[end]) <= room {
            used += escaped_len(raw[end]);
            if raw[end].is_whitespace() {
                last_space = Some(end + 1);
            }
            end += 1;
        }
        if end < raw.len()
            && let Some(cut) = last_space.filter(|&c| c > start)
        {
            end = cut;
        }
        let text: String = raw[start..end].iter().collect();
        let text = text.trim();
        if text.is_empty() && !out.is_empty() {
            start = end;
            continue;
        }
        if text.is_empty() {
            out.push(String::new());
        } else {
            out.push(format!(
                "{}{}{}",
                line.open,
                escape_markdown(text),
                line.close
            ));
        }
        if end == start {
            break;
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Digest, DigestLine, DigestSection};
    use chrono::NaiveDate;

    fn notice(text: &str) -> OutgoingBody {
        OutgoingBody::Notice { text: text.into() }
    }

    #[test]
    fn markdown_and_mentions_are_escaped() {
        assert_eq!(
            escape_markdown("@everyone **bold** <@&123> [x](http://y) `c` a_b ~~s~~ || - #"),
            "\\@everyone \\*\\*bold\\*\\* \\<\\@&123\\> \\[x\\](http://y) \\`c\\` a\\_b \\~\\~s\\~\\~ \\|\\| - #"
        );
        assert_eq!(
            render(&notice("# not a title\n> not a quote\n - not a list"), 2000),
            vec!["\\# not a title\n\\> not a quote\n\\- not a list".to_owned()]
        );
    }

    #[test]
    fn a_digest_is_laid_out_and_split_between_lines() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let digest = Digest {
            team: "core".into(),
            from: day,
            to: day,
            title: "What Core got done".into(),
            sections: (0..60)
                .map(|i| DigestSection {
                    member: format!("Member {i}"),
                    lines: vec![
                        DigestLine {
                            kind: "done".into(),
                            text: format!("shipped @everyone thing {i} ") + &"x".repeat(40),
                        },
                        DigestLine {
                            kind: "goal".into(),
                            text: "more".into(),
                        },
                    ],
                })
                .collect(),
            quiet: vec!["Bob".into()],
        };
        let parts = render(&OutgoingBody::Digest(digest), MAX_CONTENT_LEN);
        assert!(parts.len() > 1, "{}", parts.len());
        for p in &parts {
            assert!(content_len(p) <= MAX_CONTENT_LEN);
            assert!(!p.trim().is_empty());
            assert!(!p.contains("@everyone") || p.contains("\\@everyone"));
            assert_eq!(p.matches("**").count() % 2, 0, "{p}");
        }
        assert!(
            parts[0].starts_with(
                "**What Core got done**\n\n**Member 0**\n• shipped \\@everyone thing 0"
            )
        );
        assert!(parts.last().unwrap().ends_with("**No answer from**\n• Bob"));
        let all = parts.join("\n");
        assert_eq!(all.matches("• Goal: more").count(), 60);
    }

    #[test]
    fn a_long_line_is_cut_between_characters_never_inside_an_escape() {
        let text = "*".repeat(4100);
        let parts = render(&notice(&text), MAX_CONTENT_LEN);
        assert_eq!(parts.len(), 5);
        for p in &parts {
            assert!(content_len(p) <= MAX_CONTENT_LEN);
            assert!(p.starts_with("\\*") && p.ends_with("\\*"), "{p}");
        }
        let words = "word ".repeat(500);
        let parts = render(&notice(&words), 100);
        assert!(
            parts
                .iter()
                .all(|p| p.ends_with("word") && content_len(p) <= 100)
        );
        assert!(render(&notice(" \n\n "), 2000).is_empty());
    }
}
