//! What ends a reply: the "-- " signature delimiter and other rules ("____", "====="), mobile
//! footers ([`crate::text::footer`]: "Sent from my iPhone", "Get Outlook for iOS", and
//! translations), a "-Name" sign-off,
//! and a sign-off followed by a multi-line signature block.
//!
//! A sign-off followed by a single name line ("Thanks,\nAnna") is kept: the person typed it. A
//! sign-off followed by two or more short lines (name, title, company, phone) is the client's
//! pasted signature and goes, sign-off included.

use super::is_blank;
use crate::text::footer::is_footer;
use crate::text::signoff::{SignOff, is_name, is_signature_line, sign_off};

/// A line of rule characters only: "--", "____", "=====", "***", "~~~", "###", "+++".
pub(crate) fn is_rule(t: &str) -> bool {
    t.chars().count() >= 2
        && t.chars()
            .all(|c| matches!(c, '-' | '_' | '=' | '*' | '~' | '#' | '+'))
}

/// Whether the reply ends before line `i` (a signature or footer starts there).
pub(crate) fn ends_reply(lines: &[&str], i: usize) -> bool {
    let t = lines[i].trim();
    if t == "--" {
        return true;
    }
    let after_blank = i == 0 || is_blank(lines[i - 1]);
    (after_blank && (is_rule(t) || is_footer(t))) || is_dash_name(lines, i)
}

/// "-Abhishek Kona" alone between blank lines: a hyphen sign-off (an em dash "—Ryan" is prose
/// punctuation as often as not, so it is left alone).
fn is_dash_name(lines: &[&str], i: usize) -> bool {
    let t = lines[i].trim();
    let Some(name) = t.strip_prefix('-') else {
        return false;
    };
    let words: Vec<&str> = name.split_whitespace().collect();
    let name_like = !name.starts_with(' ')
        && (1..=3).contains(&words.len())
        && words.iter().all(|w| {
            w.chars().next().is_some_and(char::is_uppercase)
                && w.chars().all(|c| c.is_alphabetic() || c == '.')
        });
    let alone = (i == 0 || is_blank(lines[i - 1])) && lines.get(i + 1).is_none_or(|l| is_blank(l));
    name_like && alone
}

/// Drops a trailing "sign-off + pasted signature block" (see the module doc).
pub(crate) fn drop_sign_off_block(lines: &mut Vec<String>) {
    let end = lines
        .iter()
        .rposition(|l| !is_blank(l))
        .map_or(0, |p| p + 1);
    let start = end.saturating_sub(9);
    let bare = |k: usize| sign_off(&lines[k]) == Some(SignOff::Bare);
    let Some(s) = (start..end).rev().find(|&k| bare(k)) else {
        return;
    };
    let block: Vec<&str> = lines[s + 1..end]
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    if block.len() >= 2
        && block.len() <= 6
        && block.first().is_some_and(|l| is_name(l))
        && block[1..].iter().all(|l| is_signature_line(l))
    {
        lines.truncate(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_off_blocks() {
        let mut one: Vec<String> = ["Done.", "", "Thanks,", "Anna"].map(String::from).to_vec();
        drop_sign_off_block(&mut one);
        assert_eq!(one.len(), 4);
        let mut block: Vec<String> = ["Done.", "", "Regards,", "", "John Doe", "CEO @ Acme"]
            .map(String::from)
            .to_vec();
        drop_sign_off_block(&mut block);
        assert_eq!(block, ["Done.", ""]);
    }
}
