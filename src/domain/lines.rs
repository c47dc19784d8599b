//! The done extractor: a reply's typed text → dones, for every channel (the team actor calls
//! [`parse_lines`] on what an email's trimmer kept and on a chat message alike, and `donebot trim
//! --dones` prints what it returns). The closing ritual at the end of the text — a sign-off, the
//! name or signature block under it, a mobile footer — is not work and is dropped
//! ([`bots::text::closing`]); every other non-empty line is one done, list bullets stripped,
//! `#tags` and `@mentions` extracted, `goal:` / `blocker:` / `[ ]` lines recorded as goals and
//! blockers.
//!
//! Invariant: a line with typed work after it is always a done; a lone sign-off ("Thanks!") is
//! not (a chat message of only that records nothing).

use storage::{DoneKind, NewDone};

/// Longest done kept; a longer line is cut at a character boundary (and marked with `…`).
const MAX_DONE_CHARS: usize = 2000;
/// Most dones taken from one reply; the rest is ignored (a pasted log is not 5,000 dones).
pub const MAX_DONES_PER_REPLY: usize = 200;

/// The dones of a reply's typed text, in order (see the module doc).
pub fn parse_lines(text: &str) -> Vec<NewDone> {
    bots::text::closing::work_lines(text)
        .into_iter()
        .filter_map(parse_line)
        .take(MAX_DONES_PER_REPLY)
        .collect()
}

/// One line → one done (`None` for a blank line); no closing rule (an edited done is kept as typed).
pub fn parse_line(line: &str) -> Option<NewDone> {
    let mut rest = line.trim();
    let mut kind = DoneKind::Done;
    // Checkboxes: "[ ]" is something still to do, "[x]" is done.
    if let Some(r) = strip_prefix_ci(rest, "[ ]") {
        kind = DoneKind::Goal;
        rest = r;
    } else if let Some(r) = strip_prefix_ci(rest, "[x]") {
        rest = r;
    } else {
        rest = strip_bullet(rest);
        if let Some(r) = strip_prefix_ci(rest, "[ ]") {
            kind = DoneKind::Goal;
            rest = r;
        } else if let Some(r) = strip_prefix_ci(rest, "[x]") {
            rest = r;
        }
    }
    for (prefix, k) in [
        ("goal:", DoneKind::Goal),
        ("goals:", DoneKind::Goal),
        ("todo:", DoneKind::Goal),
        ("blocker:", DoneKind::Blocker),
        ("blockers:", DoneKind::Blocker),
        ("blocked:", DoneKind::Blocker),
        ("done:", DoneKind::Done),
    ] {
        if let Some(r) = strip_prefix_ci(rest, prefix) {
            kind = k;
            rest = r;
            break;
        }
    }
    let text = cut(rest.trim());
    if text.is_empty() {
        return None;
    }
    Some(NewDone {
        tags: words_after(&text, '#'),
        mentions: words_after(&text, '@'),
        text,
        kind,
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s[prefix.len()..].trim_start())
}

/// "- ", "* ", "• ", "+ ", "1. ", "1) ", "a) " at the start of a line.
fn strip_bullet(s: &str) -> &str {
    for b in ["- ", "* ", "• ", "+ ", "– ", "— ", "· "] {
        if let Some(r) = s.strip_prefix(b) {
            return r.trim_start();
        }
        if s == b.trim_end() {
            return "";
        }
    }
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    if (1..=3).contains(&digits) {
        let r = &s[digits..];
        if let Some(r) = r.strip_prefix(". ").or_else(|| r.strip_prefix(") ")) {
            return r.trim_start();
        }
    }
    s
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_DONE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `#release` → `release`; `@ada` → `ada`. Words are letters, digits, `-`, `_`, `.` (not trailing).
/// A marker preceded by a word character (`a#b`, `ada@example.com`) is not a tag or mention.
fn words_after(text: &str, marker: char) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == marker && !prev.is_some_and(|p| p.is_alphanumeric() || p == '_') {
            let start = i + c.len_utf8();
            let word: String = text[start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
            let word = word.trim_end_matches(['.', '-']).to_lowercase();
            if !word.is_empty() && !word.chars().all(|c| c.is_ascii_digit()) && !out.contains(&word)
            {
                out.push(word);
            }
        }
        prev = Some(c);
        let _ = chars.peek();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &str) -> Vec<(String, DoneKind)> {
        parse_lines(input)
            .into_iter()
            .map(|d| (d.text, d.kind))
            .collect()
    }

    #[test]
    fn each_non_empty_line_is_a_done_without_its_bullet() {
        let got = texts(
            "- shipped the release\n\n* fixed login\n  1. wrote docs\n2) paired with Bo\n• reviewed\n[x] deployed\n",
        );
        let want = [
            "shipped the release",
            "fixed login",
            "wrote docs",
            "paired with Bo",
            "reviewed",
            "deployed",
        ];
        assert_eq!(
            got.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
            want
        );
        assert!(got.iter().all(|(_, k)| *k == DoneKind::Done));
    }

    #[test]
    fn goals_and_blockers_come_from_prefixes_and_open_checkboxes() {
        let got = texts(
            "goal: ship v2\nBlocker: waiting on legal\n- [ ] write tests\n[ ] call Bo\ndone: merged\n",
        );
        assert_eq!(
            got,
            vec![
                ("ship v2".into(), DoneKind::Goal),
                ("waiting on legal".into(), DoneKind::Blocker),
                ("write tests".into(), DoneKind::Goal),
                ("call Bo".into(), DoneKind::Goal),
                ("merged".into(), DoneKind::Done),
            ]
        );
    }

    #[test]
    fn tags_and_mentions_are_extracted_but_not_from_addresses() {
        let d = parse_line("Fixed #42 and #Billing-v2. with @ada, mail bo@example.com, C# stays")
            .unwrap();
        assert_eq!(d.tags, ["billing-v2"]);
        assert_eq!(d.mentions, ["ada"]);
        assert_eq!(
            d.text,
            "Fixed #42 and #Billing-v2. with @ada, mail bo@example.com, C# stays"
        );
    }

    #[test]
    fn a_closing_is_not_work_but_work_after_it_is() {
        let got = texts("- shipped it\ngoal: ship v2\n\nThanks,\nBob\n\nSent from my iPhone");
        assert_eq!(
            got,
            vec![
                ("shipped it".into(), DoneKind::Done),
                ("ship v2".into(), DoneKind::Goal)
            ]
        );
        assert!(parse_lines("Thanks!").is_empty());
        let kept = texts("Thanks,\n- deployed B");
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn a_number_alone_is_a_done_and_long_lines_are_cut() {
        assert_eq!(texts("42"), vec![("42".into(), DoneKind::Done)]);
        assert!(parse_line("   ").is_none());
        assert!(parse_line("- ").is_none());
        let long = "x".repeat(MAX_DONE_CHARS + 10);
        assert_eq!(
            parse_line(&long).unwrap().text.chars().count(),
            MAX_DONE_CHARS + 1
        );
    }
}
