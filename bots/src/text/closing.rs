//! The done extractor's text step: from what a person typed, the lines that are work — a
//! forwarded message and the closing ritual at the end removed. A forward after typed text ("FYI"
//! then "---------- Forwarded message ----------") is kept by the trimmer, which gives what the
//! person sent; its header and body are someone else's words, so the work ends before it. Then at
//! the end of the text, repeatedly: a mobile footer line
//! ([`super::footer`]); a "-- " signature delimiter and the short block under it; a sign-off line
//! ([`super::signoff`]) with at most a name and a short signature block under it ("Thanks,\nBob",
//! "Best,\nMaria Lopez\nFinance Lead | Northwind\n+1 415 555 0199").
//!
//! Not the reply trimmer (quotes and headers are gone before this runs) and not line parsing
//! (bullets, `goal:`, tags are the app's `domain::lines`).
//!
//! Invariant: only a tail is removed. A line with typed work after it is never dropped, and a
//! line that is marked as work (a bullet, `goal:`, `blocker:`, a checkbox) is never part of a
//! signature block, so work after a sign-off keeps the sign-off too.

use super::footer::is_footer;
use super::signoff::{SignOff, is_name, is_signature_line, sign_off};
use crate::email::trim::header::is_forward_marker;

/// Most non-blank lines a signature block under a sign-off holds (name, title, company, phone,
/// address, web, mail, a footer).
const MAX_BLOCK_LINES: usize = 8;
/// Longest line a signature block holds; a longer one is prose.
const MAX_BLOCK_LINE_CHARS: usize = 80;

/// The lines of `text` that are work, in order, blank lines included (the caller skips them).
pub fn work_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    let typed_before = |k: usize| lines[..k].iter().any(|l| !is_blank(l));
    if let Some(k) =
        (0..lines.len()).find(|&k| is_forward_marker(lines[k].trim()) && typed_before(k))
    {
        lines.truncate(k);
    }
    loop {
        trim_blank_tail(&mut lines);
        let before = lines.len();
        drop_closing(&mut lines);
        if lines.len() == before {
            return lines;
        }
    }
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn trim_blank_tail(lines: &mut Vec<&str>) {
    while lines.last().is_some_and(|l| is_blank(l)) {
        lines.pop();
    }
}

/// Removes one closing element at the end (a footer, a delimited signature, a sign-off with its
/// block), if there is one.
fn drop_closing(lines: &mut Vec<&str>) {
    let Some(last) = lines.last() else {
        return;
    };
    if is_footer(last) {
        lines.pop();
        return;
    }
    let tail: Vec<usize> = (0..lines.len())
        .rev()
        .filter(|&k| !is_blank(lines[k]))
        .take(MAX_BLOCK_LINES + 1)
        .collect();
    // Nearest first: the first sign-off (or delimiter) whose block is a signature ends the text.
    for (n, &k) in tail.iter().enumerate() {
        let line = lines[k].trim();
        let block: Vec<&str> = tail[..n].iter().rev().map(|&b| lines[b].trim()).collect();
        if block.iter().any(|l| is_work_marked(l) || too_long(l)) {
            return;
        }
        let signature = |from: usize| block.iter().skip(from).all(|l| is_signature_line(l));
        let closes = match sign_off(line) {
            _ if line == "--" => true,
            Some(SignOff::Bare) => block.first().is_none_or(|first| is_name(first)) && signature(1),
            Some(SignOff::WithName) => signature(0),
            None => false,
        };
        if closes {
            lines.truncate(k);
            return;
        }
    }
}

/// A line the person marked as an item: a bullet, a numbered item, a checkbox, `goal:`,
/// `blocker:`, `todo:`, `done:`.
fn is_work_marked(line: &str) -> bool {
    let lower = line.to_lowercase();
    let bullet = ["- ", "* ", "• ", "+ ", "– ", "— ", "· ", "[ ]", "[x]"]
        .iter()
        .any(|b| lower.starts_with(b));
    let numbered = {
        let digits = lower.chars().take_while(char::is_ascii_digit).count();
        (1..=3).contains(&digits)
            && (lower[digits..].starts_with(". ") || lower[digits..].starts_with(") "))
    };
    let keyed = [
        "goal", "goals", "todo", "blocker", "blockers", "blocked", "done",
    ]
    .iter()
    .any(|k| lower.strip_prefix(k).is_some_and(|r| r.starts_with(':')));
    bullet || numbered || keyed
}

fn too_long(line: &str) -> bool {
    line.chars().count() > MAX_BLOCK_LINE_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(text: &str) -> Vec<&str> {
        work_lines(text)
            .into_iter()
            .filter(|l| !is_blank(l))
            .collect()
    }

    #[test]
    fn a_closing_goes_with_its_name_block_and_footer() {
        assert_eq!(
            work("Interviewed two candidates\n\nThanks,\nBob\n"),
            ["Interviewed two candidates"]
        );
        assert_eq!(
            work("Did A\n\nBest,\nMaria Lopez\nFinance Lead | Northwind\n+1 415 555 0199\n"),
            ["Did A"]
        );
        assert_eq!(
            work("Did A\n\nThanks!\nJen\n\nSent from my iPhone\n"),
            ["Did A"]
        );
        assert_eq!(work("Did A\n\n-- \nJon\nACME"), ["Did A"]);
        assert_eq!(work("Thanks!"), Vec::<&str>::new());
        assert_eq!(
            work(
                "FYI, sent the quote\n\n---------- Forwarded message ---------\nFrom: a@b.c\n\nTheir text"
            ),
            ["FYI, sent the quote"]
        );
    }

    #[test]
    fn work_after_a_sign_off_keeps_everything() {
        assert_eq!(
            work("Did A\nThanks,\n- deployed B\n"),
            ["Did A", "Thanks,", "- deployed B"]
        );
        assert_eq!(
            work("Packed\nSent via DHL to Acme: 40 samples\nUpdated the tracker"),
            [
                "Packed",
                "Sent via DHL to Acme: 40 samples",
                "Updated the tracker"
            ]
        );
        assert_eq!(
            work("Did A\nThanks,\nBob\nFixed the login bug"),
            ["Did A", "Thanks,", "Bob", "Fixed the login bug"]
        );
        assert_eq!(
            work("Thanks to Lee, the migration finished early"),
            ["Thanks to Lee, the migration finished early"]
        );
    }
}
