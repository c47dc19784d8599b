//! Block Kit for outgoing messages: the digest as one section per member, within Slack's limits.
//!
//! Owns: escaping (`&`, `<`, `>` become `&amp; &lt; &gt;`, so `<@U123>`, `<!channel>` or a link typed
//! by a member stay text; sections are `mrkdwn` with `verbatim: true`, so Slack does not turn bare
//! `@here`, `#channel` or URLs into anything either), the layout (donebot's text first, then a
//! section per member: a bold name, one `• line` per done), and splitting: a section's text stays
//! under [`MAX_SECTION_TEXT`], a message under [`MAX_BLOCKS`] blocks, further messages follow. It
//! is not the sender and knows nothing of retries.
//!
//! Invariant: every section text is at most [`MAX_SECTION_TEXT`] UTF-16 code units (what Slack
//! counts is never more) *after* escaping, is not blank, and is cut only between lines or, for a
//! line too long on its own, between two characters of the raw text before escaping, so a cut never
//! falls inside an entity; every done line of the input appears in exactly one section.

use slack_morphism::prelude::{
    SlackBlock, SlackBlockMarkDownText, SlackBlockText, SlackSectionBlock,
};

/// Blocks per message (chat.postMessage refuses more with `invalid_blocks`).
pub const MAX_BLOCKS: usize = 50;
/// Characters of a section block's text.
pub const MAX_SECTION_TEXT: usize = 3000;
/// A member's name is cut to this many characters (a section must fit it and a line).
const TITLE_MAX: usize = 200;
/// The fallback `text` shown in notifications is kept short.
const FALLBACK_LEN: usize = 150;

/// One member's part of a digest: their name and their lines, as written (escaped here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub title: String,
    pub lines: Vec<String>,
}

/// One `chat.postMessage`: the notification text and, for a structured message, its blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackPost {
    /// Escaped; with blocks it is only the notification's fallback.
    pub text: String,
    pub blocks: Vec<SlackBlock>,
}

/// Escapes text for Slack (`text` fields and `mrkdwn`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn escaped_len(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        c => c.len_utf16(),
    }
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Renders a message (donebot's `text`, then `sections`): plain text when it is short and has no
/// sections, else section blocks in messages of at most [`MAX_BLOCKS`] blocks.
pub fn render(text: &str, sections: &[Section]) -> Vec<SlackPost> {
    let text = text.trim();
    let members = sections;
    if members.is_empty() && utf16_len(&escape(text)) <= MAX_SECTION_TEXT {
        if text.is_empty() {
            return Vec::new();
        }
        return vec![SlackPost {
            text: escape(text),
            blocks: Vec::new(),
        }];
    }
    let mut sections: Vec<String> = Vec::new();
    if !text.is_empty() {
        let lines: Vec<String> = text
            .lines()
            .flat_map(|l| wrap("", l, MAX_SECTION_TEXT))
            .collect();
        sections.extend(pack(&lines, None));
    }
    for section in members {
        let name: String = section.title.trim().chars().take(TITLE_MAX).collect();
        let title = format!("*{}*", escape(&name));
        let mut lines = vec![title.clone()];
        for done in &section.lines {
            for raw in done.lines().filter(|l| !l.trim().is_empty()) {
                lines.extend(wrap("• ", raw, MAX_SECTION_TEXT));
            }
        }
        sections.extend(pack(&lines, Some(&title)));
    }
    let fallback = fallback(text);
    let chunks: Vec<&[String]> = sections.chunks(MAX_BLOCKS).collect();
    let count = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| SlackPost {
            text: if count > 1 {
                format!("{fallback} ({}/{count})", i + 1)
            } else {
                fallback.clone()
            },
            blocks: chunk.iter().map(|t| section(t)).collect(),
        })
        .collect()
}

fn section(text: &str) -> SlackBlock {
    SlackBlock::Section(SlackSectionBlock::new().with_text(SlackBlockText::MarkDown(
        SlackBlockMarkDownText::new(text.to_owned()).with_verbatim(true),
    )))
}

fn fallback(text: &str) -> String {
    let first = text.lines().next().unwrap_or("").trim();
    let mut out = String::new();
    for c in first.chars() {
        if utf16_len(&out) + escaped_len(c) > FALLBACK_LEN {
            out.push('…');
            break;
        }
        out.push_str(&escape(&c.to_string()));
    }
    if out.is_empty() {
        "donebot".into()
    } else {
        out
    }
}

/// A raw line with its prefix, escaped, in pieces of at most `limit` UTF-16 units.
fn wrap(prefix: &str, raw: &str, limit: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = prefix.to_owned();
    let mut len = utf16_len(prefix);
    for c in raw.chars() {
        if len + escaped_len(c) > limit {
            pieces.push(std::mem::replace(&mut current, prefix.to_owned()));
            len = utf16_len(prefix);
        }
        current.push_str(&escape(&c.to_string()));
        len += escaped_len(c);
    }
    pieces.push(current);
    pieces
}

/// Greedy packing of escaped lines (each at most the limit) into section texts. With a `title`,
/// a section after the first starts with `title (continued)`.
fn pack(lines: &[String], title: Option<&str>) -> Vec<String> {
    let continued = title.map(|t| format!("{t} (continued)"));
    let mut sections = Vec::new();
    let mut current = String::new();
    for line in lines {
        let needed = utf16_len(line) + usize::from(!current.is_empty());
        if !current.is_empty() && utf16_len(&current) + needed > MAX_SECTION_TEXT {
            sections.push(std::mem::take(&mut current));
            if let Some(head) = &continued
                && utf16_len(head) + 1 + utf16_len(line) <= MAX_SECTION_TEXT
            {
                current.push_str(head);
            }
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.trim().is_empty() {
        sections.push(current);
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADING: &str = "What the team got done yesterday";

    fn digest(sections: Vec<Section>) -> Vec<SlackPost> {
        render(HEADING, &sections)
    }

    fn texts(post: &SlackPost) -> Vec<String> {
        post.blocks
            .iter()
            .map(|b| match b {
                SlackBlock::Section(s) => match &s.text {
                    Some(SlackBlockText::MarkDown(md)) => {
                        assert_eq!(md.verbatim, Some(true));
                        md.text.clone()
                    }
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn user_text_is_escaped_so_mentions_stay_text() {
        assert_eq!(
            escape("<!channel> & <@U1>"),
            "&lt;!channel&gt; &amp; &lt;@U1&gt;"
        );
        let posts = digest(vec![Section {
            title: "Ada <admin>".into(),
            lines: vec!["<!here> fixed <https://x|y> & more".into()],
        }]);
        assert_eq!(posts.len(), 1);
        assert_eq!(
            texts(&posts[0]),
            vec![
                "What the team got done yesterday".to_owned(),
                "*Ada &lt;admin&gt;*\n• &lt;!here&gt; fixed &lt;https://x|y&gt; &amp; more"
                    .to_owned()
            ]
        );
        assert_eq!(posts[0].text, "What the team got done yesterday");
    }

    #[test]
    fn a_short_plain_message_has_no_blocks() {
        let prompt = "What did you get done today? Reply in this thread";
        assert_eq!(
            render(prompt, &[]),
            vec![SlackPost {
                text: prompt.to_owned(),
                blocks: Vec::new()
            }]
        );
        assert!(render("  ", &[]).is_empty());
    }

    #[test]
    fn large_digests_split_within_the_limits_and_keep_every_line_once() {
        let members: Vec<Section> = (0..80)
            .map(|m| Section {
                title: format!("Member {m}"),
                lines: (0..40)
                    .map(|i| format!("done {m}-{i} with <tags> & ampersands"))
                    .collect(),
            })
            .collect();
        let posts = digest(members);
        assert!(posts.len() >= 2, "{} posts", posts.len());
        let mut seen = Vec::new();
        for (i, post) in posts.iter().enumerate() {
            assert!(post.blocks.len() <= MAX_BLOCKS);
            assert!(post.text.ends_with(&format!("({}/{})", i + 1, posts.len())));
            for text in texts(post) {
                assert!(utf16_len(&text) <= MAX_SECTION_TEXT, "{}", utf16_len(&text));
                assert!(!text.contains('<') && !text.contains('>'));
                seen.extend(
                    text.lines()
                        .filter_map(|l| l.strip_prefix("• "))
                        .map(str::to_owned),
                );
            }
        }
        assert_eq!(seen.len(), 80 * 40);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 80 * 40);
    }

    #[test]
    fn a_member_over_one_section_continues_under_their_name() {
        let lines: Vec<String> = (0..200)
            .map(|i| format!("a fairly long done number {i}"))
            .collect();
        let posts = digest(vec![Section {
            title: "Bob".into(),
            lines,
        }]);
        let texts = texts(&posts[0]);
        assert!(texts.len() >= 3);
        assert!(texts[1].starts_with("*Bob*\n"));
        assert!(texts[2].starts_with("*Bob* (continued)\n"));
    }

    #[test]
    fn a_line_longer_than_a_section_is_cut_between_raw_characters() {
        let line = "&".repeat(1000) + &"é".repeat(2000);
        let posts = digest(vec![Section {
            title: "Eve".into(),
            lines: vec![line],
        }]);
        let texts = texts(&posts[0]);
        let mut amps = 0;
        let mut es = 0;
        for text in &texts[1..] {
            assert!(utf16_len(text) <= MAX_SECTION_TEXT);
            // No entity is cut: every & starts a whole &amp;.
            assert_eq!(text.matches('&').count(), text.matches("&amp;").count());
            amps += text.matches("&amp;").count();
            es += text.matches('é').count();
        }
        assert_eq!((amps, es), (1000, 2000));
    }
}
