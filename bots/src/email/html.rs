//! HTML mail bodies to plain text, for replies that arrive without a text/plain part.
//!
//! Owns a small tolerant tokenizer (tags, comments, entities; never fails on broken markup) and the
//! rendering rules: block elements become line breaks, `<li>` becomes a "- " line, scripts and
//! styles vanish, and the quote containers of the common clients (Gmail, Outlook, Yahoo, Apple
//! Mail, Thunderbird) are dropped because they hold the message being replied to, not the reply.
//! It is deliberately not a layout engine: no CSS, no tables beyond a line per row.
//!
//! Invariant: one pass over the input, so time is linear in its length whatever the nesting.

/// Converts an HTML body to the text a reader would see, minus quoted replies.
pub fn html_to_text(html: &str) -> String {
    let mut out = Renderer::default();
    let bytes = html.as_bytes();
    let mut i = 0;
    // While `skip` is set we are inside an element whose content is dropped: (tag name, depth).
    let mut skip: Option<(String, usize)> = None;
    let mut pre_depth = 0usize;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            let end = memchr(b'<', bytes, i).unwrap_or(bytes.len());
            if skip.is_none() {
                out.text(&decode_entities(&html[i..end]), pre_depth > 0);
            }
            i = end;
            continue;
        }
        let rest = &html[i..];
        if rest.starts_with("<!--") {
            i = find(html, i + 4, "-->").map_or(bytes.len(), |e| e + 3);
            continue;
        }
        if rest.starts_with("<![CDATA[") {
            i = find(html, i + 9, "]]>").map_or(bytes.len(), |e| e + 3);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            i = memchr(b'>', bytes, i).map_or(bytes.len(), |e| e + 1);
            continue;
        }
        let Some(tag) = Tag::parse(html, i) else {
            // A lone '<' that does not open a tag is text.
            if skip.is_none() {
                out.text("<", pre_depth > 0);
            }
            i += 1;
            continue;
        };
        i = tag.end;
        if let Some((name, depth)) = skip.as_mut() {
            if tag.name == *name && !tag.self_closing {
                if tag.closing {
                    *depth -= 1;
                    if *depth == 0 {
                        skip = None;
                        out.block();
                    }
                } else {
                    *depth += 1;
                }
            }
            continue;
        }
        if tag.closing {
            match tag.name.as_str() {
                "pre" => pre_depth = pre_depth.saturating_sub(1),
                n if is_block(n) => out.block(),
                _ => {}
            }
            continue;
        }
        if ends_reply(&tag) {
            break;
        }
        if drops_content(&tag) && !tag.self_closing && !is_void(&tag.name) {
            skip = Some((tag.name.clone(), 1));
            continue;
        }
        match tag.name.as_str() {
            "br" => out.line_break(),
            "li" => {
                out.block();
                out.text("- ", true);
            }
            "pre" => {
                out.block();
                pre_depth += 1;
            }
            "img" => {
                if let Some(alt) = tag.attr("alt").filter(|a| !a.trim().is_empty()) {
                    out.text(&decode_entities(alt), false);
                }
            }
            n if is_block(n) => out.block(),
            _ => {}
        }
    }
    out.finish()
}

/// Elements whose whole content is dropped: invisible ones and the clients' quote containers.
fn drops_content(tag: &Tag) -> bool {
    if matches!(
        tag.name.as_str(),
        "script" | "style" | "head" | "title" | "template" | "noscript" | "blockquote"
    ) {
        return true;
    }
    let class = tag.attr("class").unwrap_or("").to_ascii_lowercase();
    class.split_whitespace().any(|c| {
        matches!(
            c,
            "gmail_quote"
                | "gmail_extra"
                | "gmail_signature"
                | "yahoo_quoted"
                | "moz-cite-prefix"
                | "moz-signature"
                | "protonmail_quote"
                | "zmail_extra"
        )
    })
}

/// Markers after which everything in the document is the quoted original (Outlook, AOL, Zimbra).
fn ends_reply(tag: &Tag) -> bool {
    let id = tag.attr("id").unwrap_or("").to_ascii_lowercase();
    if matches!(
        id.as_str(),
        "divrplyfwdmsg" | "appendonsend" | "zwchr" | "olk_src_body_section"
    ) || id.starts_with("aolmsgpart")
    {
        return true;
    }
    // Outlook desktop: `<div style="border:none;border-top:solid #E1E1E1 1.0pt;...">` holds From:/Sent:.
    if tag.name == "div" {
        let style = tag
            .attr("style")
            .unwrap_or("")
            .to_ascii_lowercase()
            .replace(' ', "");
        if style.contains("border-top:solid") && style.contains("border:none") {
            return true;
        }
    }
    false
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "ul"
            | "ol"
            | "li"
            | "tr"
            | "table"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "hr"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "dl"
            | "dt"
            | "dd"
            | "address"
            | "center"
            | "form"
            | "fieldset"
            | "figure"
            | "nav"
            | "main"
            | "aside"
            | "body"
            | "html"
    )
}

fn is_void(name: &str) -> bool {
    matches!(
        name,
        "br" | "hr" | "img" | "meta" | "link" | "input" | "wbr" | "col" | "area"
    )
}

/// A start or end tag with its lowercased name and raw attributes.
struct Tag<'a> {
    name: String,
    closing: bool,
    self_closing: bool,
    attrs: Vec<(String, &'a str)>,
    /// Byte index just past the closing '>'.
    end: usize,
}

impl<'a> Tag<'a> {
    /// Parses the tag starting at `start` (which holds '<'); `None` if it is not a tag.
    fn parse(html: &'a str, start: usize) -> Option<Tag<'a>> {
        let b = html.as_bytes();
        let mut i = start + 1;
        let closing = b.get(i) == Some(&b'/');
        if closing {
            i += 1;
        }
        let name_start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b':' || b[i] == b'-') {
            i += 1;
        }
        if i == name_start || !b[name_start].is_ascii_alphabetic() {
            return None;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        let mut attrs = Vec::new();
        let mut self_closing = false;
        loop {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            match b.get(i) {
                None => {
                    return Some(Tag {
                        name,
                        closing,
                        self_closing,
                        attrs,
                        end: b.len(),
                    });
                }
                Some(b'>') => {
                    return Some(Tag {
                        name,
                        closing,
                        self_closing,
                        attrs,
                        end: i + 1,
                    });
                }
                Some(b'/') => {
                    self_closing = true;
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let key_start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/')
            {
                i += 1;
            }
            let key = html[key_start..i].to_ascii_lowercase();
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = "";
            if b.get(i) == Some(&b'=') {
                i += 1;
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                match b.get(i) {
                    Some(&q) if q == b'"' || q == b'\'' => {
                        let v_end = memchr(q, b, i + 1).unwrap_or(b.len());
                        value = &html[i + 1..v_end];
                        i = (v_end + 1).min(b.len());
                    }
                    _ => {
                        let v_start = i;
                        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                            i += 1;
                        }
                        value = &html[v_start..i];
                    }
                }
            }
            if key.is_empty() {
                // Stray byte such as a lone '='; step over it so the loop always advances.
                i += 1;
            } else {
                attrs.push((key, value));
            }
        }
    }

    fn attr(&self, key: &str) -> Option<&'a str> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// Accumulates rendered text, collapsing white space and block boundaries.
#[derive(Default)]
struct Renderer {
    out: String,
    /// A block boundary was seen and no text has followed yet.
    pending_block: bool,
}

impl Renderer {
    fn text(&mut self, s: &str, preformatted: bool) {
        if preformatted {
            if !s.is_empty() {
                self.flush_block();
                self.out.push_str(&s.replace("\r\n", "\n"));
            }
            return;
        }
        for (n, word) in s.split(|c: char| c.is_ascii_whitespace()).enumerate() {
            if n > 0 && !self.out.is_empty() && !self.out.ends_with([' ', '\n']) {
                self.out.push(' ');
            }
            if !word.is_empty() {
                self.flush_block();
                self.out.push_str(word);
            }
        }
    }

    fn flush_block(&mut self) {
        if self.pending_block {
            self.pending_block = false;
            if !self.out.is_empty() && !self.out.ends_with('\n') {
                self.out.push('\n');
            }
        }
    }

    fn block(&mut self) {
        self.pending_block = true;
    }

    fn line_break(&mut self) {
        self.flush_block();
        self.out.push('\n');
    }

    fn finish(self) -> String {
        let mut text = String::with_capacity(self.out.len());
        for line in self.out.split('\n') {
            let line = line.replace('\u{a0}', " ");
            text.push_str(line.trim());
            text.push('\n');
        }
        text.trim_matches('\n').to_string()
    }
}

/// Decodes named (the common ones) and numeric character references; unknown ones stay as written.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';')
            .map(|(i, _)| i);
        let decoded = semi.and_then(|semi| entity(&after[..semi]).map(|c| (c, semi)));
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return Some(
            char::from_u32(code)
                .filter(|&c| c != '\0')
                .unwrap_or('\u{fffd}'),
        );
    }
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "ensp" | "emsp" | "thinsp" => ' ',
        "zwnj" | "zwj" | "shy" => '\u{200b}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "deg" => '°',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "sect" => '§',
        "para" => '¶',
        "times" => '×',
        "divide" => '÷',
        "plusmn" => '±',
        "larr" => '←',
        "rarr" => '→',
        "uarr" => '↑',
        "darr" => '↓',
        "check" => '✓',
        "iexcl" => '¡',
        "iquest" => '¿',
        "szlig" => 'ß',
        "agrave" => 'à',
        "aacute" => 'á',
        "acirc" => 'â',
        "atilde" => 'ã',
        "auml" => 'ä',
        "aring" => 'å',
        "aelig" => 'æ',
        "ccedil" => 'ç',
        "egrave" => 'è',
        "eacute" => 'é',
        "ecirc" => 'ê',
        "euml" => 'ë',
        "igrave" => 'ì',
        "iacute" => 'í',
        "icirc" => 'î',
        "iuml" => 'ï',
        "ntilde" => 'ñ',
        "ograve" => 'ò',
        "oacute" => 'ó',
        "ocirc" => 'ô',
        "otilde" => 'õ',
        "ouml" => 'ö',
        "oslash" => 'ø',
        "ugrave" => 'ù',
        "uacute" => 'ú',
        "ucirc" => 'û',
        "uuml" => 'ü',
        "yacute" => 'ý',
        "Agrave" => 'À',
        "Aacute" => 'Á',
        "Auml" => 'Ä',
        "Aring" => 'Å',
        "Ccedil" => 'Ç',
        "Eacute" => 'É',
        "Egrave" => 'È',
        "Ntilde" => 'Ñ',
        "Ouml" => 'Ö',
        "Oslash" => 'Ø',
        "Uuml" => 'Ü',
        _ => return None,
    })
}

fn memchr(needle: u8, hay: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .iter()
        .position(|&b| b == needle)
        .map(|p| p + from)
}

fn find(hay: &str, from: usize, needle: &str) -> Option<usize> {
    hay.get(from..)?.find(needle).map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_breaks_lists_and_entities() {
        let html =
            "<div>Shipped &amp; done</div><div><br></div><ul><li>one</li><li>two&#33;</li></ul>";
        assert_eq!(html_to_text(html), "Shipped & done\n\n- one\n- two!");
    }

    #[test]
    fn drops_scripts_styles_and_gmail_quote() {
        let html = "<style>p{}</style><p>Hi</p><script>x()</script>\
                    <div class=\"gmail_quote\">On Mon wrote:<blockquote>old</blockquote></div>";
        assert_eq!(html_to_text(html), "Hi");
    }

    #[test]
    fn outlook_divrplyfwdmsg_ends_the_reply() {
        let html =
            "<p>Done it</p><hr><div id=\"divRplyFwdMsg\"><b>From:</b> x</div><p>old text</p>";
        assert_eq!(html_to_text(html), "Done it");
    }

    #[test]
    fn client_quote_containers_are_dropped() {
        let apple = "<div>Done A</div><div><br><blockquote type=\"cite\">On Mar 4 wrote:<br>old</blockquote></div>";
        assert_eq!(html_to_text(apple), "Done A");
        let yahoo =
            "<div>Done B</div><div class=\"yahoo_quoted\"><div>On Monday, x wrote:</div></div>";
        assert_eq!(html_to_text(yahoo), "Done B");
        let thunderbird = "<p>Done C</p><div class=\"moz-cite-prefix\">On 04.03.24 wrote:<br></div>\
                           <blockquote type=\"cite\">old</blockquote><div class=\"moz-signature\">-- <br>Lukas</div>";
        assert_eq!(html_to_text(thunderbird), "Done C");
        let outlook = "<p>Done D</p><div style=\"border:none;border-top:solid #E1E1E1 1.0pt\">\
                       <p><b>From:</b> x</p></div><p>old</p>";
        assert_eq!(html_to_text(outlook), "Done D");
    }

    #[test]
    fn broken_markup_is_tolerated() {
        assert_eq!(html_to_text("a < b <p class='x"), "a < b");
        assert_eq!(html_to_text("<b>x</i> &bogus; &#xZZ;"), "x &bogus; &#xZZ;");
    }
}
