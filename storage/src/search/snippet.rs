//! The snippet of a hit: the text (cut around the first match when long), HTML-escaped, with the
//! highlighted ranges in `<b>…</b>`.

use std::ops::Range;

/// A text up to this many characters is shown whole; a longer one is cut around the matches.
pub(crate) const SNIPPET_CHARS: usize = 240;

/// `highlights` are byte ranges of `text`, sorted and not overlapping.
pub(crate) fn snippet(text: &str, highlights: &[Range<usize>]) -> String {
    let (from, to) = window(text, highlights);
    let mut out = String::with_capacity(to - from + 16);
    if from > 0 {
        out.push('…');
    }
    let mut at = from;
    for r in highlights {
        let (start, end) = (r.start.max(from), r.end.min(to));
        if start >= end || start < at {
            continue;
        }
        escape_html(&mut out, &text[at..start]);
        out.push_str("<b>");
        escape_html(&mut out, &text[start..end]);
        out.push_str("</b>");
        at = end;
    }
    escape_html(&mut out, &text[at..to]);
    if to < text.len() {
        out.push('…');
    }
    out
}

/// The byte range shown: all of a short text; else [`SNIPPET_CHARS`] characters starting a
/// little before the first match, at a character boundary.
fn window(text: &str, highlights: &[Range<usize>]) -> (usize, usize) {
    if text.chars().count() <= SNIPPET_CHARS {
        return (0, text.len());
    }
    let first = highlights.first().map_or(0, |r| r.start);
    let lead = SNIPPET_CHARS / 4;
    let before: Vec<usize> = text[..first].char_indices().map(|(i, _)| i).collect();
    let mut from = before.len().checked_sub(lead).map_or(0, |i| before[i]);
    // Start at a word boundary when one is near.
    if let Some(space) = text[from..first].find(char::is_whitespace) {
        from += space + 1;
    }
    let to = text[from..]
        .char_indices()
        .nth(SNIPPET_CHARS)
        .map_or(text.len(), |(i, _)| from + i);
    (from, to)
}

fn escape_html(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // one highlighted range is what these tests show
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_whole_and_escaped() {
        let text = "shipped the Café <menu>";
        assert_eq!(
            snippet(text, &[12..17]),
            "shipped the <b>Café</b> &lt;menu&gt;"
        );
    }

    #[test]
    fn long_texts_are_cut_around_the_first_match() {
        let text = format!("{} needle {}", "hay ".repeat(200), "straw ".repeat(100));
        let at = text.find("needle").unwrap();
        let s = snippet(&text, &[at..at + 6]);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("<b>needle</b>"), "{s}");
        assert!(s.chars().count() <= SNIPPET_CHARS + 2 + 7, "{s}");
    }
}
