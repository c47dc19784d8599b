//! The encoders under [`super::message`]: header fields folded at 78 columns (RFC 5322 §2.2.3),
//! RFC 2047 encoded words for what is not printable ASCII, and the RFC 2045 body transfer
//! encodings (7bit, quoted-printable, base64). They append to one output buffer, so a message is
//! written in one pass without intermediate strings.
//!
//! Invariants of what they write: CRLF line endings only; no line longer than 998 octets
//! ([`MAX_LINE`]); header lines no longer than 78 columns unless a single unbreakable word is
//! longer; quoted-printable lines of at most 76 characters; base64 lines of 76; only ASCII.

use std::fmt::Write as _;

/// Header lines are folded before they pass this many columns (RFC 5322 §2.1.1 "SHOULD").
const FOLD_AT: usize = 78;
/// No line of a message may be longer than this, CRLF excluded (RFC 5322 §2.1.1 "MUST").
pub(crate) const MAX_LINE: usize = 998;
/// Quoted-printable and base64 lines are at most 76 characters (RFC 2045 §6.7, §6.8).
const BODY_LINE: usize = 76;
/// UTF-8 bytes per encoded word: `=?utf-8?b?` + 60 base64 characters + `?=` is 72 ≤ 75.
const WORD_BYTES: usize = 45;

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// One header field being written: the words given are separated by single spaces, and a
/// separator becomes a fold (CRLF before the space) when the word after it would pass
/// [`FOLD_AT`]. Unfolding therefore gives back exactly the words joined by spaces.
pub(crate) struct Field<'a> {
    out: &'a mut Vec<u8>,
    /// Columns used on the current line.
    col: usize,
    /// Nothing but the field name (or the fold's space) is on the current line yet.
    fresh: bool,
}

impl<'a> Field<'a> {
    /// Starts `Name:`; the caller has checked the name.
    pub(crate) fn start(out: &'a mut Vec<u8>, name: &str) -> Self {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        Field {
            col: name.len() + 1,
            out,
            fresh: true,
        }
    }

    /// The next word, after a space (or a fold). `word` is printable ASCII without spaces.
    pub(crate) fn word(&mut self, word: &[u8]) {
        if !self.fresh && self.col + 1 + word.len() > FOLD_AT && !word.is_empty() {
            self.out.extend_from_slice(b"\r\n");
            self.col = 0;
        }
        self.out.push(b' ');
        self.out.extend_from_slice(word);
        self.col += 1 + word.len();
        self.fresh = false;
    }

    /// An unstructured value: printable ASCII (and tabs) split at its spaces, so unfolding gives
    /// it back byte for byte.
    pub(crate) fn unstructured(&mut self, value: &str) {
        for word in value.split(' ') {
            self.word(word.as_bytes());
        }
    }

    /// `text` as RFC 2047 encoded words (`B` encoding of UTF-8), each at most 75 characters and
    /// never splitting a character; a reader joins adjacent encoded words without the space.
    pub(crate) fn encoded_words(&mut self, text: &str) {
        let mut rest = text;
        let mut word = Vec::with_capacity(80);
        while !rest.is_empty() {
            // The first word shares its line with the field name; later ones start a line of
            // their own when they do not fit (`word` folds).
            let free = FOLD_AT.saturating_sub(if self.fresh { self.col } else { 1 } + 1 + 12);
            let mut cut = rest.len().min((free / 4 * 3).clamp(4, WORD_BYTES));
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (chunk, tail) = rest.split_at(cut);
            word.clear();
            word.extend_from_slice(b"=?utf-8?b?");
            base64_into(chunk.as_bytes(), &mut word);
            word.extend_from_slice(b"?=");
            self.word(&word);
            rest = tail;
        }
    }

    /// Ends the field with CRLF.
    pub(crate) fn end(self) {
        self.out.extend_from_slice(b"\r\n");
    }
}

/// Whether `value` can be written as it is in an unstructured field named `name`: printable
/// ASCII or tab, no word a reader would take for an encoded word (`=?…?=`), and no word so long
/// that its line would pass [`MAX_LINE`].
pub(crate) fn plain_unstructured(name: &str, value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        && value.split(' ').all(|w| {
            !(w.starts_with("=?") && w.ends_with("?=")) && name.len() + 2 + w.len() <= MAX_LINE
        })
}

/// Whether a display name can be written as a phrase of atoms (RFC 5322 §3.2.3) as it is.
pub(crate) fn atoms(name: &str) -> bool {
    !name.is_empty()
        && !name.contains("=?")
        && name
            .bytes()
            .all(|b| b == b' ' || b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b))
        && !name.starts_with(' ')
        && !name.ends_with(' ')
        && !name.contains("  ")
}

/// `name` as one quoted string (RFC 5322 §3.2.4), for printable ASCII.
pub(crate) fn quoted(name: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for b in name.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `Date` as RFC 5322 wants it, in UTC: `Tue, 02 Jan 2024 03:04:05 +0000`.
pub(crate) fn date(at: chrono::DateTime<chrono::Utc>, out: &mut Vec<u8>) {
    use chrono::{Datelike, Timelike};
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut s = String::with_capacity(32);
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[at.weekday().num_days_from_monday() as usize],
        at.day(),
        MONTHS[at.month0() as usize],
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    );
    out.extend_from_slice(s.as_bytes());
}

/// A body transfer encoding (RFC 2045 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    SevenBit,
    QuotedPrintable,
    Base64,
}

impl Encoding {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::SevenBit => "7bit",
            Encoding::QuotedPrintable => "quoted-printable",
            Encoding::Base64 => "base64",
        }
    }

    /// The shortest fitting encoding of `text` once its line ends are CRLF: `7bit` when it is
    /// ASCII without control characters (tab aside) and no line is longer than 76, else
    /// quoted-printable, or base64 when that is shorter (mostly non-ASCII text).
    pub(crate) fn choose(text: &str) -> Encoding {
        let bytes = text.as_bytes();
        // Bytes quoted-printable escapes; of them, the ones 7bit cannot carry (all but `=`).
        let mut escaped = 0usize;
        let mut equals = 0usize;
        let mut line = 0usize;
        let mut long_line = false;
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\n' => {
                    long_line |= line > BODY_LINE;
                    line = 0;
                    continue;
                }
                // A CR that does not end a line is escaped like any control character.
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => continue,
                b' ' | b'\t' | b'!'..=b'<' | b'>'..=b'~' => {}
                b'=' => equals += 1,
                _ => escaped += 1,
            }
            line += 1;
        }
        long_line |= line > BODY_LINE;
        if escaped == 0 && !long_line {
            return Encoding::SevenBit;
        }
        let escaped = escaped + equals;
        // Quoted-printable spends 3 characters on an escaped byte, base64 4 on every 3 bytes.
        if (bytes.len() + 2 * escaped) * 3 > bytes.len() * 4 {
            Encoding::Base64
        } else {
            Encoding::QuotedPrintable
        }
    }
}

/// Calls `f` with each line of `text` without its line end (`\r\n` or a lone `\n`), and whether
/// a line end followed it.
fn lines(text: &[u8], mut f: impl FnMut(&[u8], bool)) {
    let mut rest = text;
    while let Some(n) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..n];
        f(line.strip_suffix(b"\r").unwrap_or(line), true);
        rest = &rest[n + 1..];
    }
    if !rest.is_empty() {
        f(rest, false);
    }
}

/// `text` with CRLF line ends (a lone `\n` becomes CRLF), as it is.
pub(crate) fn seven_bit(text: &str, out: &mut Vec<u8>) {
    lines(text.as_bytes(), |line, end| {
        out.extend_from_slice(line);
        if end {
            out.extend_from_slice(b"\r\n");
        }
    });
}

/// `text` in quoted-printable (RFC 2045 §6.7): its line ends are hard line breaks (CRLF);
/// `=`, non-ASCII and control bytes and a space or tab before a line end are escaped; soft
/// breaks (`=` CRLF) keep every line at most 76 characters and never split an escape.
pub(crate) fn quoted_printable(text: &str, out: &mut Vec<u8>) {
    out.reserve(text.len() + text.len() / 8 + 16);
    lines(text.as_bytes(), |line, end| {
        qp_line(line, out);
        if end {
            out.extend_from_slice(b"\r\n");
        }
    });
}

/// One line of [`quoted_printable`], without its line end: runs of bytes written as they are
/// are copied whole (a prompt is mostly such runs; byte by byte this was a tenth of its CPU).
fn qp_line(line: &[u8], out: &mut Vec<u8>) {
    let n = line.len();
    let (mut i, mut col) = (0, 0);
    while i < n {
        // The run of literal bytes from `i`; a space or tab ending the line is escaped instead.
        let mut j = i + line[i..]
            .iter()
            .take_while(|&&b| QP_LITERAL[usize::from(b)])
            .count();
        if j == n && matches!(line[n - 1], b' ' | b'\t') {
            j -= 1;
        }
        while i < j {
            let left = j - i;
            // The line's last character may take the 76th column; any other leaves it for the
            // soft break's `=`.
            let take = if j == n && left <= BODY_LINE.saturating_sub(col) {
                left
            } else {
                left.min((BODY_LINE - 1).saturating_sub(col))
            };
            if take == 0 {
                out.extend_from_slice(b"=\r\n");
                col = 0;
                continue;
            }
            out.extend_from_slice(&line[i..i + take]);
            (i, col) = (i + take, col + take);
        }
        if i < n {
            let b = line[i];
            let room = if i + 1 == n { BODY_LINE } else { BODY_LINE - 1 };
            if col + 3 > room {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            (i, col) = (i + 1, col + 3);
        }
    }
}

/// The bytes quoted-printable may write as they are (space and tab only inside a line).
const QP_LITERAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = matches!(b as u8, b' ' | b'\t' | b'!'..=b'<' | b'>'..=b'~');
        b += 1;
    }
    t
};

/// `text` with CRLF line ends, in base64 lines of 76 characters (RFC 2045 §6.8), the last one
/// ended by CRLF too.
pub(crate) fn base64_body(text: &str, out: &mut Vec<u8>) {
    let mut crlf = Vec::with_capacity(text.len() + text.len() / 32);
    seven_bit(text, &mut crlf);
    for chunk in crlf.chunks(BODY_LINE / 4 * 3) {
        base64_into(chunk, out);
        out.extend_from_slice(b"\r\n");
    }
}

/// Plain base64 of `bytes`, padded.
pub(crate) fn base64_into(bytes: &[u8], out: &mut Vec<u8>) {
    let mut chunks = bytes.chunks_exact(3);
    for c in &mut chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend_from_slice(&[
            BASE64[(n >> 18) as usize & 63],
            BASE64[(n >> 12) as usize & 63],
            BASE64[(n >> 6) as usize & 63],
            BASE64[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                BASE64[(n >> 18) as usize & 63],
                BASE64[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[
                BASE64[(n >> 18) as usize & 63],
                BASE64[(n >> 12) as usize & 63],
                BASE64[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, f: impl FnOnce(&mut Field)) -> String {
        let mut out = Vec::new();
        let mut field = Field::start(&mut out, name);
        f(&mut field);
        field.end();
        String::from_utf8(out).unwrap()
    }

    fn unfold(s: &str) -> String {
        s.replace("\r\n ", " ")
    }

    #[test]
    fn long_values_fold_at_spaces_and_unfold_to_the_value() {
        let value = "What did you get done today? (A rather long team name here, Fri Dec 4) and more words to fold";
        let got = field("Subject", |f| f.unstructured(value));
        assert!(got.lines().all(|l| l.len() <= FOLD_AT), "{got}");
        assert!(got.contains("\r\n "), "{got}");
        assert_eq!(unfold(&got), format!("Subject: {value}\r\n"));
        // Double spaces and a trailing space survive; no line is only whitespace.
        let value = "a  b ";
        assert_eq!(field("X", |f| f.unstructured(value)), "X: a  b \r\n");
    }

    #[test]
    fn encoded_words_are_short_and_decode_to_the_text() {
        let text = "Zoë's ✅ report — ".repeat(6);
        let got = field("Subject", |f| f.encoded_words(&text));
        assert!(got.lines().all(|l| l.len() <= FOLD_AT), "{got}");
        let parsed = mailparse::parse_header(got.as_bytes()).unwrap().0;
        assert_eq!(parsed.get_value(), text);
    }

    /// The byte-at-a-time encoder [`quoted_printable`] replaced, as the reference it must match.
    fn quoted_printable_bytewise(text: &str, out: &mut Vec<u8>) {
        lines(text.as_bytes(), |line, end| {
            let mut col = 0;
            let n = line.len();
            for (i, &b) in line.iter().enumerate() {
                let last = i + 1 == n;
                let literal = QP_LITERAL[usize::from(b)] && !(last && (b == b' ' || b == b'\t'));
                let width = if literal { 1 } else { 3 };
                let room = if last { BODY_LINE } else { BODY_LINE - 1 };
                if col + width > room {
                    out.extend_from_slice(b"=\r\n");
                    col = 0;
                }
                if literal {
                    out.push(b);
                } else {
                    out.extend_from_slice(&[
                        b'=',
                        HEX[usize::from(b >> 4)],
                        HEX[usize::from(b & 15)],
                    ]);
                }
                col += width;
            }
            if end {
                out.extend_from_slice(b"\r\n");
            }
        });
    }

    /// Lines of every length around the 76-column limit, with escapes, trailing blanks and
    /// runs at every offset: the run-copying encoder writes exactly what the bytewise one did.
    #[test]
    fn quoted_printable_matches_the_bytewise_encoder() {
        let pieces = [
            "a", " ", "\t", "=", "é", "✅", "\r", "\n", "\r\n", "xyz ", "\u{1}",
        ];
        // A fixed pseudo-random walk (xorshift), so a failure reproduces.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut cases: Vec<String> = (60..90).map(|n| "x".repeat(n)).collect();
        for n in 70..84 {
            cases.push(format!("{} ", "y".repeat(n)));
            cases.push(format!("{}=", "y".repeat(n)));
            cases.push(format!("{}é\nnext", "y".repeat(n)));
        }
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let mut s = String::new();
            for _ in 0..len {
                let r = next();
                if r % 3 == 0 {
                    s.push_str(&"w".repeat((r % 80) as usize));
                } else {
                    s.push_str(pieces[(r % pieces.len() as u64) as usize]);
                }
            }
            cases.push(s);
        }
        for text in &cases {
            let (mut got, mut want) = (Vec::new(), Vec::new());
            quoted_printable(text, &mut got);
            quoted_printable_bytewise(text, &mut want);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{text:?}"
            );
        }
    }

    #[test]
    fn quoted_printable_round_trips_and_keeps_lines_short() {
        let text = format!(
            "Hi Zoë,\n\n{}\ntrailing space \r\n= sign and tab\t\n.leading dot\nüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüü",
            "x".repeat(200)
        );
        let mut out = Vec::new();
        quoted_printable(&text, &mut out);
        let encoded = String::from_utf8(out.clone()).unwrap();
        assert!(
            encoded.split("\r\n").all(|l| l.len() <= BODY_LINE),
            "{encoded}"
        );
        assert!(!encoded.replace("\r\n", "").contains('\n'));
        assert!(encoded.contains("space=20\r\n"), "{encoded}");
        assert!(encoded.contains("tab=09\r\n"), "{encoded}");
        let mut mail = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n".to_vec();
        mail.extend_from_slice(&out);
        let decoded = mailparse::parse_mail(&mail)
            .unwrap()
            .get_body_raw()
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            text.replace("\r\n", "\n").replace('\n', "\r\n")
        );
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        for input in ["", "a", "ab", "abc", "abcd", "Zoë ✅"] {
            let mut out = Vec::new();
            base64_into(input.as_bytes(), &mut out);
            assert_eq!(
                out,
                data_encoding::BASE64.encode(input.as_bytes()).into_bytes()
            );
        }
        let text = "ü".repeat(100);
        let mut out = Vec::new();
        base64_body(&text, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.split("\r\n").all(|l| l.len() <= BODY_LINE));
        let joined: String = s.split("\r\n").collect();
        assert_eq!(
            data_encoding::BASE64.decode(joined.as_bytes()).unwrap(),
            text.as_bytes()
        );
    }

    #[test]
    fn the_encoding_is_the_shortest_that_fits() {
        assert_eq!(Encoding::choose("Hello\nWorld\n"), Encoding::SevenBit);
        assert_eq!(Encoding::choose(&"x".repeat(77)), Encoding::QuotedPrintable);
        assert_eq!(Encoding::choose("a = b"), Encoding::SevenBit);
        assert_ne!(Encoding::choose("a\rb"), Encoding::SevenBit);
        assert_ne!(Encoding::choose("a\r"), Encoding::SevenBit);
        assert_eq!(Encoding::choose("a\r\nb\n"), Encoding::SevenBit);
        assert_eq!(
            Encoding::choose("Hi Zoë, what did you do?"),
            Encoding::QuotedPrintable
        );
        assert_eq!(Encoding::choose("Привет, как дела?"), Encoding::Base64);
    }

    #[test]
    fn dates_are_rfc5322() {
        use chrono::TimeZone;
        let mut out = Vec::new();
        date(
            chrono::Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap(),
            &mut out,
        );
        assert_eq!(out, b"Tue, 02 Jan 2024 03:04:05 +0000");
    }
}
