//! What starts a quoted message inside a reply: attribution lines ("On … wrote:" in many
//! languages, possibly wrapped over several lines or glued to the reply's last line), Outlook-style
//! header blocks ("From:/Sent:/To:/Subject:" and their translations), "Original Message" and
//! "Forwarded message" separators.
//!
//! Every function looks at a bounded window of short lines, never at the whole text.

use super::{is_blank, is_quoted};
use crate::text::signoff::is_name;

/// Longest line considered as (part of) a header; longer lines are prose.
const MAX_HEADER_LINE: usize = 400;
/// Most lines an attribution wraps over (Polymail: "On …", "", "<", "mailto:… <…>", "> wrote:").
const MAX_ATTRIBUTION_LINES: usize = 5;

/// An attribution found at a line: how many lines it spans, and the reply text that shares its
/// first line, if any ("reply On Wed, … wrote:").
pub(crate) struct Attribution {
    pub lines: usize,
    pub prefix: Option<String>,
}

/// Verbs an attribution ends with ("… wrote:"), lowercase.
const WROTE_END: &[&str] = &[
    "wrote",
    "writes",
    "a écrit",
    "écrit",
    "schrieb",
    "geschrieben",
    "escribió",
    "escribio",
    "ha escrito",
    "escreveu",
    "ha scritto",
    "scrisse",
    "schreef",
    "geschreven",
    "napisał(a)",
    "napisał",
    "napisała",
    "pisze",
    "написал(а)",
    "написал",
    "написала",
    "написав",
    "пише",
    "skrev",
    "skriver",
    "kirjoitti",
    "写道",
    "寫道",
    "のメッセージ",
    "đã viết",
    "ha escrit",
    "a scris",
    "yazdı",
    "έγραψε",
    "napsal",
    "napísal",
    "írta",
    "kirjutas",
    "rašė",
    "rakstīja",
    "napisao",
    "je napisal",
    "wrote the following",
];

/// First words of attributions that start with the date ("On", "Le", "Am", …).
const ON_WORDS: &[&str] = &[
    "On", "Le", "Am", "El", "Em", "Op", "Il", "In", "W", "Dnia", "Den", "På", "Vào", "Às", "Dne",
    "Dňa", "Pada", "Στις", "Op", "Kl.", "Am,", "On,",
];

/// Outlook header keys that name the sender, lowercase.
const FROM_KEYS: &[&str] = &[
    "from",
    "von",
    "de",
    "van",
    "da",
    "od",
    "от",
    "från",
    "fra",
    "发件人",
    "寄件者",
    "lähettäjä",
    "feladó",
    "message du",
    "差出人",
    "보낸 사람",
    "kimden",
    "από",
    "remetente",
    "fran",
];

/// The other Outlook header keys, lowercase.
const OTHER_KEYS: &[&str] = &[
    "sent",
    "date",
    "to",
    "cc",
    "bcc",
    "subject",
    "reply-to",
    "gesendet",
    "an",
    "betreff",
    "datum",
    "kopie",
    "envoyé",
    "envoyé le",
    "à",
    "a",
    "objet",
    "copie à",
    "sujet",
    "verzonden",
    "aan",
    "onderwerp",
    "inviato",
    "oggetto",
    "data",
    "wysłano",
    "do",
    "temat",
    "dw",
    "отправлено",
    "кому",
    "тема",
    "дата",
    "копия",
    "skickat",
    "till",
    "ämne",
    "kopia",
    "sendt",
    "til",
    "emne",
    "dato",
    "发送时间",
    "收件人",
    "主题",
    "日期",
    "抄送",
    "寄件日期",
    "收件者",
    "主旨",
    "lähetetty",
    "vastaanottaja",
    "aihe",
    "enviado",
    "enviada",
    "para",
    "asunto",
    "fecha",
    "assunto",
    "elküldve",
    "címzett",
    "tárgy",
    "送信日時",
    "宛先",
    "件名",
    "gönderildi",
    "kime",
    "konu",
    "envoyé :",
    "odesláno",
    "komu",
    "předmět",
];

/// "Original Message" separators, lowercase, without their dashes.
const ORIGINAL: &[&str] = &[
    "original message",
    "message original",
    "ursprüngliche nachricht",
    "originalnachricht",
    "oprindelig meddelelse",
    "reply message",
    "antwort nachricht",
    "message d'origine",
    "mensaje original",
    "messaggio originale",
    "oorspronkelijk bericht",
    "originalmeddelande",
    "opprinnelig melding",
    "alkuperäinen viesti",
    "исходное сообщение",
    "oryginalna wiadomość",
    "wiadomość oryginalna",
    "původní zpráva",
    "mensagem original",
    "eredeti üzenet",
    "原始邮件",
    "原始郵件",
    "元のメッセージ",
    "original-nachricht",
];

/// "Forwarded message" separators, lowercase, without their dashes.
const FORWARDED: &[&str] = &[
    "forwarded message",
    "weitergeleitete nachricht",
    "message transféré",
    "mensaje reenviado",
    "messaggio inoltrato",
    "doorgestuurd bericht",
    "mensagem encaminhada",
    "vidarebefordrat meddelande",
    "videresendt meddelelse",
    "пересылаемое сообщение",
    "przekazana wiadomość",
    "转发的邮件",
    "message transféré",
];

/// A quote line: `>`-quoted, or `|`-quoted when `pipe` (only right after an attribution).
pub(crate) fn is_quote_line(line: &str, pipe: bool) -> bool {
    is_quoted(line) || (pipe && line.trim_start().starts_with('|'))
}

/// A separator line's title and whether it is ruled ("-----Original Message-----"). Emphasis
/// around the whole line ("*-------- Original Message --------*", as a client renders bold in
/// plain text) is decoration, not text.
fn strip_rule(t: &str) -> (&str, bool) {
    let t = t.trim().trim_matches(['*', '_']).trim();
    let core =
        t.trim_matches(|c: char| c == '-' || c == '_' || c == '=' || c == '*' || c.is_whitespace());
    (
        core,
        t.starts_with("--") || t.starts_with("__") || t.starts_with("=="),
    )
}

/// "-----Original Message-----" and its translations.
pub(crate) fn is_original_marker(t: &str) -> bool {
    let (core, ruled) = strip_rule(t);
    ruled && core.len() < 60 && {
        let lower = core.to_lowercase();
        ORIGINAL.iter().any(|m| lower.contains(m))
    }
}

/// A separator in a locale no list knows: a short title ruled on both sides ("----- Oprindelig
/// besked -----", "-------- Původní zpráva --------") with a header field ("From:", "Von:",
/// "Date:") or a quote within the next three lines. The structure, not the words, says it starts
/// the quoted message.
pub(crate) fn is_ruled_separator(lines: &[&str], i: usize) -> bool {
    let t = lines[i].trim().trim_matches(['*', '_']).trim();
    let (core, _) = strip_rule(t);
    let both = (t.starts_with("---") && t.ends_with("---"))
        || (t.starts_with("===") && t.ends_with("==="));
    let words = core.split_whitespace().count();
    both && (1..=5).contains(&words)
        && !core.contains(['-', '='])
        && !is_forward_marker(t)
        && lines
            .iter()
            .skip(i + 1)
            .take(3)
            .any(|l| header_key(l).is_some() || is_quote_line(l, false))
}

/// "---------- Forwarded message ----------", "Begin forwarded message:" and translations.
pub(crate) fn is_forward_marker(t: &str) -> bool {
    let (core, ruled) = strip_rule(t);
    let lower = core.to_lowercase();
    let lower = lower.trim_end_matches([':', ' ']);
    (ruled && core.len() < 60 && FORWARDED.iter().any(|m| lower.contains(m)))
        || matches!(
            lower,
            "begin forwarded message"
                | "anfang der weitergeleiteten nachricht"
                | "début du message réexpédié"
                | "inicio del mensaje reenviado"
        )
}

/// The line after a forward's header block (its fields, up to the first blank line) and the
/// blank lines that follow it.
pub(crate) fn forward_header_end(lines: &[&str], mut i: usize) -> usize {
    while i < lines.len() && !is_blank(lines[i]) && i < lines.len() {
        i += 1;
    }
    while i < lines.len() && is_blank(lines[i]) {
        i += 1;
    }
    i
}

/// The key of an Outlook-style header line ("From:", "*Von:*", "Envoyé le :"), lowercase.
fn header_key(line: &str) -> Option<String> {
    let t = line.trim_start().trim_start_matches('*');
    let colon = t.find([':', '：'])?;
    let key = t[..colon].trim().trim_end_matches('*').trim();
    if key.is_empty() || key.chars().count() > 20 {
        return None;
    }
    let key = key.to_lowercase();
    (FROM_KEYS.contains(&key.as_str()) || OTHER_KEYS.contains(&key.as_str())).then_some(key)
}

/// An Outlook-style header block starts at `i`: a header key here, and within the next lines at
/// least two distinct keys, one of which names the sender.
pub(crate) fn header_block_at(lines: &[&str], i: usize) -> bool {
    let Some(first) = header_key(lines[i]) else {
        return false;
    };
    let mut keys = vec![first];
    for line in lines.iter().skip(i + 1).take(7) {
        if line.len() > MAX_HEADER_LINE {
            break;
        }
        if let Some(k) = header_key(line).filter(|k| !keys.contains(k)) {
            keys.push(k);
        }
    }
    keys.len() >= 2 && keys.iter().any(|k| FROM_KEYS.contains(&k.as_str()))
}

/// An attribution ("On … wrote:") starting at line `i`, possibly wrapped over a few lines.
pub(crate) fn attribution_at(lines: &[&str], i: usize) -> Option<Attribution> {
    let first = lines[i].trim();
    if first.is_empty() || first.len() > MAX_HEADER_LINE {
        return None;
    }
    if let Some(inline) = inline_attribution(first, next_is_quote(lines, i + 1)) {
        return Some(inline);
    }
    let on_start = starts_with_on_word(first);
    for k in 1..=MAX_ATTRIBUTION_LINES.min(lines.len() - i) {
        let window = &lines[i..i + k];
        let last = window[k - 1];
        if last.len() > MAX_HEADER_LINE {
            break;
        }
        if k > 1 {
            // Only a line that can open a header may wrap; blank lines only inside "On …".
            if !start_like(first) || (is_blank(last) && !on_start) {
                break;
            }
            if is_blank(last) {
                continue;
            }
        }
        // What `is_attribution` needs before anything else, checked on the lines themselves:
        // most windows have none of it, and are not joined at all.
        if !may_attribute(first, last, window) {
            continue;
        }
        let joined = join(window);
        if is_attribution(&joined, next_is_quote(lines, i + k)) {
            // If a later line of the window opens the same header, the header starts there and
            // this line is the reply's (e.g. "Thanks\nOn Mon, … <\nx@y.z> wrote:").
            if k > 1 {
                let strong = opens_strongly(first);
                for s in i + 1..i + k {
                    let l = lines[s].trim();
                    let opens = opens_strongly(l) || (!strong && opens_header(l));
                    if opens && is_attribution(&join(&lines[s..i + k]), false) {
                        return None;
                    }
                }
            }
            return Some(Attribution {
                lines: k,
                prefix: None,
            });
        }
    }
    None
}

/// "reply On Wed, … wrote:" on one line: the reply keeps the part before "On".
fn inline_attribution(line: &str, next_quote: bool) -> Option<Attribution> {
    let mut from = 1;
    while let Some(pos) = line
        .get(from..)
        .and_then(|rest| rest.find("On "))
        .map(|p| p + from)
    {
        let before = &line[..pos];
        if before.ends_with([' ', '-']) && is_attribution(&line[pos..], next_quote) {
            let prefix = before.trim_end_matches([' ', '-']).to_string();
            return Some(Attribution {
                lines: 1,
                prefix: Some(prefix),
            });
        }
        from = pos + 1;
    }
    None
}

/// The non-blank lines of `window`, trimmed, joined with a space.
fn join(window: &[&str]) -> String {
    let mut out = String::with_capacity(window.iter().map(|l| l.len() + 1).sum());
    for l in window.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(l);
    }
    out
}

/// Whether `join(window)` can pass [`is_attribution`]'s first test ([`dated_addressed_or_dashed`])
/// when `first` (trimmed, not blank) and `last` (not blank) are its first and last lines: the
/// same answer, without joining.
fn may_attribute(first: &str, last: &str, window: &[&str]) -> bool {
    first.starts_with("--")
        || last.trim().ends_with("--")
        || window.iter().any(|l| has_digit_or_at(l))
}

fn has_digit_or_at(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit() || b == b'@')
}

/// Every form of attribution holds a digit (a date, a time), an address, or a dash rule at
/// either end: text without any of them is not one, whatever its words.
fn dated_addressed_or_dashed(s: &str) -> bool {
    s.starts_with("--") || s.ends_with("--") || has_digit_or_at(s)
}

fn next_is_quote(lines: &[&str], from: usize) -> bool {
    lines
        .iter()
        .skip(from)
        .take(4)
        .find(|l| !is_blank(l))
        .is_some_and(|l| is_quote_line(l, true))
}

fn starts_with_on_word(t: &str) -> bool {
    let word = t.split_whitespace().next().unwrap_or("");
    ON_WORDS.contains(&word) || t.starts_with('在')
}

/// A line that can open a multi-line header: a date word, a digit, a dash rule, an address, a year.
fn start_like(t: &str) -> bool {
    starts_with_on_word(t)
        || t.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        || t.contains('@')
        || t.contains('<')
        || has_year(t)
}

/// Stricter than [`start_like`]: a line that opens a header rather than continuing one (an
/// address wrapped onto its own line, "<x@y.z> wrote:", continues).
fn opens_header(t: &str) -> bool {
    opens_strongly(t) || (t.contains('@') && !t.starts_with(['<', '(', '>']))
}

/// A line that opens a header with a date word, a date, or a dash rule.
fn opens_strongly(t: &str) -> bool {
    starts_with_on_word(t) || t.starts_with(|c: char| c.is_ascii_digit() || c == '-')
}

fn has_year(t: &str) -> bool {
    let b = t.as_bytes();
    b.windows(4).enumerate().any(|(n, w)| {
        (w.starts_with(b"19") || w.starts_with(b"20"))
            && w.iter().all(u8::is_ascii_digit)
            && !b.get(n + 4).is_some_and(u8::is_ascii_digit)
            && !(n > 0 && b[n - 1].is_ascii_digit())
    })
}

fn has_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.windows(4).any(|w| {
        w[0].is_ascii_digit()
            && matches!(w[1], b':' | b'.')
            && w[2].is_ascii_digit()
            && w[3].is_ascii_digit()
    })
}

/// Whether a (joined) line reads as an attribution.
fn is_attribution(s: &str, next_quote: bool) -> bool {
    if !dated_addressed_or_dashed(s) {
        return false;
    }
    let dashed = s.starts_with("--") || s.ends_with("--");
    let s = s.trim_matches(|c: char| c == '-' || c.is_whitespace());
    if s.len() < 6 || s.len() > 2 * MAX_HEADER_LINE {
        return false;
    }
    let lower = s.to_lowercase();
    let has_digit = s.chars().any(|c| c.is_ascii_digit());
    let has_at = s.contains('@');
    let colon = lower.ends_with([':', '：']);
    let body = lower.trim_end_matches([':', '：', ' ']);
    if WROTE_END.iter().any(|v| ends_with_word(body, v)) {
        return has_digit || has_at || dashed;
    }
    if colon && (has_digit || has_at) && WROTE_END.iter().any(|v| contains_word(&lower, v)) {
        return true;
    }
    // "On <date>, at <time>, <name> sent:" (some clients say "sent" where others say "wrote"):
    // the date word, a time and the closing colon are all required, as "sent" ends work lines.
    if colon && starts_with_on_word(s) && has_time(s) && ends_with_word(body, "sent") {
        return true;
    }
    if zoned_date_first(s) {
        return true;
    }
    // Gmail's "2014-03-20 8:48 GMT+01:00 Name <x@y.z>:" and relatives.
    // Gmail in Russian and others: "пн, 4 мар. 2024 г. в 18:00, Name <x@y.z>:".
    let dated = has_year(s) || has_time(s);
    if dated && has_at && s.ends_with(">:") {
        return true;
    }
    let date_first = s.starts_with(|c: char| c.is_ascii_digit()) && dated;
    date_first
        && has_at
        && (s.contains('<') || s.contains('"'))
        && (colon || (s.ends_with('>') && next_quote))
}

/// A date-first header with a time zone and only a sender after it: "2016-03-03 17:21
/// GMT+01:00 Some One", "2016-03-03 17:21 +0100 Name <x@y.z>:" (Gmail in several locales). Every
/// token before the zone holds a digit (a date, a time); what follows the zone is a name and/or an
/// address. A typed line with a date and a time ("2024-03-05 10:00 standup with Bob") has no zone.
fn zoned_date_first(s: &str) -> bool {
    let tokens: Vec<&str> = s.split_whitespace().collect();
    let Some(z) = tokens.iter().position(|t| is_zone(t)) else {
        return false;
    };
    let dated = z >= 2
        && tokens[..z]
            .iter()
            .all(|t| t.chars().any(|c| c.is_ascii_digit()))
        && has_time(s);
    let rest = tokens[z + 1..].join(" ");
    let rest = rest.trim_end_matches([':', '：']);
    let name = match rest.find('<') {
        Some(lt) => {
            rest.ends_with('>') && rest.contains('@') && {
                let n = rest[..lt].trim().trim_matches('"');
                n.is_empty() || is_name(n)
            }
        }
        None => is_name(rest),
    };
    s.starts_with(|c: char| c.is_ascii_digit()) && dated && name
}

/// "GMT+01:00", "UTC", "+0100", "-05:00".
fn is_zone(t: &str) -> bool {
    let t = t.trim_matches(['(', ')', ',']);
    let offset = |o: &str| {
        let o = o.replace(':', "");
        o.len() == 4 && o.chars().all(|c| c.is_ascii_digit())
    };
    let upper = t.to_ascii_uppercase();
    let rest = upper
        .strip_prefix("GMT")
        .or_else(|| upper.strip_prefix("UTC"));
    match rest {
        Some("") => true,
        Some(r) => r
            .strip_prefix(['+', '-'])
            .is_some_and(|o| offset(o) || o.chars().all(|c| c.is_ascii_digit())),
        None => t.strip_prefix(['+', '-']).is_some_and(offset),
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn ends_with_word(hay: &str, word: &str) -> bool {
    hay.strip_suffix(word).is_some_and(|before| {
        let cjk = word.chars().next().is_some_and(|c| c >= '\u{2e80}');
        cjk || !before.chars().next_back().is_some_and(is_word_char)
    })
}

fn contains_word(hay: &str, word: &str) -> bool {
    hay.match_indices(word).any(|(pos, _)| {
        let before_ok = !hay[..pos].chars().next_back().is_some_and(is_word_char);
        let after_ok = !hay[pos + word.len()..]
            .chars()
            .next()
            .is_some_and(is_word_char);
        before_ok && after_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The window test answers exactly what the joined text would: it only saves the join.
        #[test]
        fn the_window_prefilter_agrees_with_the_joined_text(
            window in proptest::collection::vec("[ \t]{0,2}(-{0,3}[a-zA-Z@0-9 ]{0,6}-{0,3})?[ \t]{0,2}", 1..5),
        ) {
            let window: Vec<&str> = window.iter().map(String::as_str).collect();
            let first = window[0].trim();
            let last = window[window.len() - 1];
            proptest::prop_assume!(!first.is_empty() && !is_blank(last));
            proptest::prop_assert_eq!(
                may_attribute(first, last, &window),
                dated_addressed_or_dashed(&join(&window))
            );
        }
    }

    #[test]
    fn attributions() {
        assert!(is_attribution(
            "On Tue, Apr 11, 2017 at 10:07 PM John <j@x.com> wrote:",
            false
        ));
        assert!(is_attribution(
            "Am 25.06.2015 um 10:55 schrieb Test user:",
            false
        ));
        assert!(is_attribution(
            "在 2016年11月8日，下午2:23，Test user <test@example.com> 写道：",
            false
        ));
        assert!(is_attribution("---- John Smith wrote ----", false));
        assert!(!is_attribution("Something wrote:", false));
        assert!(!is_attribution("On blah-blah-blah", false));
        assert!(!is_attribution("2 things for bob@example.com:", false));
        assert!(is_attribution("2016-03-03 17:21 GMT+01:00 Some One", false));
        assert!(is_attribution(
            "2016-03-03 17:21 +0100 Some One <one@x.example>:",
            false
        ));
        assert!(!is_attribution("2024-03-05 10:00 standup with Bob", false));
        assert!(is_attribution(
            "On Mar 4, 2024, at 18:00, Bob <b@x.example> sent:",
            false
        ));
        assert!(!is_attribution("On Monday 12 invoices sent", false));
    }

    #[test]
    fn header_blocks() {
        let lines = [
            "Van: A [mailto:a@b.c]",
            "Verzonden: maandag",
            "Aan: x",
            "Onderwerp: y",
        ];
        assert!(header_block_at(&lines, 0));
        let lines = [
            "Date: Wednesday 3, October 2011",
            "Time: 7 : 00am",
            "Address: 130 Fox St",
        ];
        assert!(!header_block_at(&lines, 0));
    }
}
