//! The fake's reading of `parse_mode: HTML`, as strict as Telegram's documented rules.
//!
//! Owns: checking that tags are the supported ones and balanced, that every `<`, `>` and `&` outside
//! a tag or entity was escaped, and producing the plain text whose length Telegram limits. It is not a
//! renderer: entities (bold, links) are checked and dropped.
//!
//! Invariant: an error here is what Telegram answers as `400 Bad Request: can't parse entities: ...`,
//! so an escaping bug in donebot fails a test instead of a real send.

const SUPPORTED: [&str; 17] = [
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
    "tg-emoji",
    "br",
];

/// Parses Telegram HTML into its plain text, or says what Telegram would refuse.
pub fn parse_html(source: &str) -> Result<String, String> {
    let mut plain = String::with_capacity(source.len());
    let mut open: Vec<String> = Vec::new();
    let mut rest = source;
    while let Some(c) = rest.chars().next() {
        let offset = source.len() - rest.len();
        match c {
            '<' => {
                let end = rest
                    .find('>')
                    .ok_or_else(|| format!("Unclosed start tag at byte offset {offset}"))?;
                let tag = &rest[1..end];
                rest = &rest[end + 1..];
                if let Some(name) = tag.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match open.pop() {
                        Some(top) if top == name => {}
                        _ => {
                            return Err(format!(
                                "Unmatched end tag at byte offset {offset}, expected \"</{name}>\""
                            ));
                        }
                    }
                } else {
                    let name = tag
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if !SUPPORTED.contains(&name.as_str()) {
                        return Err(format!(
                            "Unsupported start tag \"{name}\" at byte offset {offset}"
                        ));
                    }
                    if name != "br" {
                        open.push(name);
                    }
                }
            }
            '>' => return Err(format!("Unescaped \">\" at byte offset {offset}")),
            '&' => {
                let end = rest.find(';').filter(|&e| e <= 10).ok_or_else(|| {
                    format!("Character entity expected at byte offset {offset}: \"&\" must be written \"&amp;\"")
                })?;
                let decoded = decode_entity(&rest[1..end])
                    .ok_or_else(|| format!("Unsupported HTML entity at byte offset {offset}"))?;
                plain.push(decoded);
                rest = &rest[end + 1..];
            }
            c => {
                plain.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    match open.pop() {
        Some(name) => Err(format!(
            "Can't find end tag corresponding to start tag \"{name}\""
        )),
        None => Ok(plain),
    }
}

fn decode_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_and_supported_tags_parse() {
        assert_eq!(
            parse_html("<b>Ada &lt;x&gt;</b>\n• &amp;&#65;").unwrap(),
            "Ada <x>\n• &A"
        );
        assert_eq!(parse_html("<a href=\"https://x\">x</a>").unwrap(), "x");
    }

    #[test]
    fn unescaped_or_unbalanced_markup_is_refused() {
        for bad in [
            "<script>x</script>",
            "a & b",
            "a > b",
            "<b>x",
            "x</b>",
            "<b>x</i>",
            "1 < 2",
        ] {
            assert!(parse_html(bad).is_err(), "{bad}");
        }
    }
}
