//! Telegram-safe HTML for outgoing messages, split under the 4096-character limit.
//!
//! Owns: escaping (`<`, `>`, `&` become `&lt; &gt; &amp;`; everything donebot sends goes out with
//! `parse_mode: HTML`, so donebot's own text is escaped too), the layout of a digest's sections (a bold
//! title, then one `• line` per done), and splitting a long message into parts. It is not the sender
//! and knows nothing of retries.
//!
//! Invariant: every part is at most [`MAX_MESSAGE_LEN`] UTF-16 code units of *source* HTML (which is
//! never shorter than what Telegram counts after parsing entities), is not blank, and is split only
//! between lines or, for a line too long on its own, between two characters of the user's raw text
//! before escaping, so a cut never falls inside a tag or an `&...;` entity.

use crate::bus::{Outgoing, OutgoingBody};

/// Telegram's limit for a message's text, in UTF-16 code units after entity parsing.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Escapes text for `parse_mode: HTML`.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '&' => out.push_str("&amp;"),
        c => out.push(c),
    }
}

fn escaped_len(c: char) -> usize {
    match c {
        '<' | '>' => 4,
        '&' => 5,
        c => c.len_utf16(),
    }
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// One line of output: markup around raw (unescaped) text.
struct Line<'a> {
    open: &'static str,
    raw: &'a str,
    close: &'static str,
}

/// donebot's own text of a message, and its titled sections of user-written lines.
fn layout(body: &OutgoingBody) -> (String, Vec<(&str, Vec<String>)>) {
    match body {
        OutgoingBody::Prompt { text, .. } | OutgoingBody::Notice { text } => {
            (text.clone(), Vec::new())
        }
        OutgoingBody::Digest(digest) => {
            let mut sections: Vec<(&str, Vec<String>)> = digest
                .sections
                .iter()
                .map(|s| {
                    (
                        s.member.as_str(),
                        s.lines.iter().map(|l| l.label()).collect(),
                    )
                })
                .collect();
            if !digest.quiet.is_empty() {
                sections.push(("No answer from", digest.quiet.clone()));
            }
            (digest.title.clone(), sections)
        }
    }
}

/// Renders a message (donebot's text, then the sections) as HTML parts of at most `limit`
/// characters.
pub fn render(send: &Outgoing, limit: usize) -> Vec<String> {
    let (text, sections) = layout(&send.body);
    let mut lines: Vec<Line<'_>> = text
        .lines()
        .map(|raw| Line {
            open: "",
            raw,
            close: "",
        })
        .collect();
    for (title, dones) in &sections {
        if !lines.is_empty() {
            lines.push(Line {
                open: "",
                raw: "",
                close: "",
            });
        }
        lines.push(Line {
            open: "<b>",
            raw: truncate(title, TITLE_MAX),
            close: "</b>",
        });
        for done in dones {
            for raw in done.lines() {
                lines.push(Line {
                    open: "• ",
                    raw,
                    close: "",
                });
            }
        }
    }
    pack(&lines, limit.max(16))
}

/// Greedy packing of whole lines into parts; a line longer than a part is wrapped first. A title
/// that would end a part moves to the next one with its first line.
fn pack(lines: &[Line<'_>], limit: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current: Vec<(String, bool)> = Vec::new();
    let mut current_len = 0;
    for line in lines {
        let is_title = line.open == "<b>";
        for piece in wrap(line, limit) {
            let piece_len = utf16_len(&piece);
            if !current.is_empty() && current_len + 1 + piece_len > limit {
                let carried = match current.last() {
                    Some((_, true)) if current.len() > 1 => current.pop(),
                    _ => None,
                };
                finish(&mut parts, &current);
                current.clear();
                current_len = 0;
                if let Some((title, _)) = carried {
                    current_len = utf16_len(&title);
                    current.push((title, true));
                }
            }
            if current.is_empty() && piece.trim().is_empty() {
                continue; // no part starts with a blank line
            }
            current_len += piece_len + usize::from(!current.is_empty());
            current.push((piece, is_title));
        }
    }
    finish(&mut parts, &current);
    parts
}

fn finish(parts: &mut Vec<String>, lines: &[(String, bool)]) {
    let text: Vec<&str> = lines.iter().map(|(l, _)| l.as_str()).collect();
    let text = text.join("\n");
    let trimmed = text.trim_end();
    if !trimmed.is_empty() {
        parts.push(trimmed.to_owned());
    }
}

/// At most this many characters of a section title (a member's name) are shown.
const TITLE_MAX: usize = 256;

fn truncate(text: &str, max: usize) -> &str {
    text.char_indices()
        .nth(max)
        .map_or(text, |(at, _)| &text[..at])
}

/// A line as one or more HTML pieces of at most `limit` characters, cut in the raw text. Pieces of
/// a line longer than a part leave room for a title before them (see [`pack`]).
fn wrap(line: &Line<'_>, limit: usize) -> Vec<String> {
    let markup = utf16_len(line.open) + utf16_len(line.close);
    let title_room = if line.open == "<b>" {
        0
    } else {
        "<b></b>\n".len() + 5 * TITLE_MAX
    };
    let fits_whole = line.raw.chars().map(escaped_len).sum::<usize>() + markup <= limit;
    let room = if fits_whole {
        limit - markup
    } else {
        limit.saturating_sub(markup + title_room).max(5)
    };
    if line.raw.trim().is_empty() {
        return vec![String::new()]; // a blank line, never an empty `<b></b>` or a lone bullet
    }
    let mut pieces = Vec::new();
    let mut piece = String::new();
    let mut piece_len = 0;
    for c in line.raw.chars() {
        let len = escaped_len(c);
        if piece_len + len > room {
            pieces.push(format!("{}{}{}", line.open, piece, line.close));
            piece.clear();
            piece_len = 0;
        }
        push_escaped(&mut piece, c);
        piece_len += len;
    }
    pieces.push(format!("{}{}{}", line.open, piece, line.close));
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Digest, DigestLine, DigestSection};

    struct ChatSection {
        title: String,
        lines: Vec<String>,
    }

    fn digest(text: &str, sections: Vec<ChatSection>) -> Outgoing {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 9).expect("a date");
        Outgoing {
            key: "digest:1".into(),
            to: "-100123".into(),
            body: OutgoingBody::Digest(Digest {
                team: "Core".into(),
                from: day,
                to: day,
                title: text.into(),
                sections: sections
                    .into_iter()
                    .map(|s| DigestSection {
                        member: s.title,
                        lines: s
                            .lines
                            .into_iter()
                            .map(|text| DigestLine {
                                kind: "done".into(),
                                text,
                            })
                            .collect(),
                    })
                    .collect(),
                quiet: Vec::new(),
            }),
            reply_to: None,
            answer_via: None,
        }
    }

    #[test]
    fn user_text_and_titles_are_escaped() {
        let send = digest(
            "Yesterday at Acme & Co",
            vec![ChatSection {
                title: "Ada <admin>".into(),
                lines: vec!["<script>&".into(), "a > b".into()],
            }],
        );
        assert_eq!(
            render(&send, MAX_MESSAGE_LEN),
            vec![
                "Yesterday at Acme &amp; Co\n\n<b>Ada &lt;admin&gt;</b>\n• &lt;script&gt;&amp;\n• a &gt; b"
            ]
        );
    }

    #[test]
    fn parts_split_at_line_boundaries_under_the_limit() {
        let lines: Vec<String> = (0..400)
            .map(|i| format!("done number {i} & more"))
            .collect();
        let send = digest(
            "Digest",
            vec![ChatSection {
                title: "Ada".into(),
                lines: lines.clone(),
            }],
        );
        let parts = render(&send, MAX_MESSAGE_LEN);
        assert!(parts.len() > 1);
        for part in &parts {
            assert!(utf16_len(part) <= MAX_MESSAGE_LEN);
            for line in part.lines() {
                assert!(
                    line.is_empty()
                        || line == "Digest"
                        || line == "<b>Ada</b>"
                        || line.starts_with("• done number "),
                    "{line}"
                );
            }
        }
        let all: Vec<&str> = parts
            .iter()
            .flat_map(|p| p.lines())
            .filter(|l| l.starts_with('•'))
            .collect();
        assert_eq!(all.len(), 400);
    }

    #[test]
    fn a_line_longer_than_the_limit_is_cut_outside_entities() {
        let raw = "&".repeat(3000);
        let send = digest(
            "",
            vec![ChatSection {
                title: "T".into(),
                lines: vec![raw],
            }],
        );
        let parts = render(&send, MAX_MESSAGE_LEN);
        assert!(parts.len() >= 4);
        let mut amps = 0;
        for part in &parts {
            assert!(utf16_len(part) <= MAX_MESSAGE_LEN);
            assert!(
                part.starts_with("<b>T</b>\n• ") || part.starts_with("• "),
                "{part:.20}"
            );
            for line in part.lines().filter(|l| *l != "<b>T</b>") {
                let body = line.strip_prefix("• ").unwrap();
                assert!(
                    body.split("&amp;").all(str::is_empty),
                    "cut inside an entity: {body:.40}"
                );
                amps += body.matches("&amp;").count();
            }
        }
        assert_eq!(amps, 3000);
    }

    #[test]
    fn astral_characters_count_as_two() {
        let raw = "😀".repeat(2100);
        let send = digest(&raw, vec![]);
        let parts = render(&send, MAX_MESSAGE_LEN);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| utf16_len(p) <= MAX_MESSAGE_LEN));
    }

    #[test]
    fn blank_input_renders_nothing() {
        assert!(render(&digest("\n\n", vec![]), MAX_MESSAGE_LEN).is_empty());
    }
}
