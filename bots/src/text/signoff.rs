//! Closing sign-offs ("Thanks,", "Best regards", "Viele Grüße", "Cordialement", "Saludos",
//! "Atenciosamente", "Cordiali saluti", "Met vriendelijke groet", "С уважением", "Pozdrawiam",
//! "よろしくお願いします", "谢谢", …), alone or with the writer's name on the same line ("Cheers,
//! Tom", "LG Jonas"), and the name line that follows one.
//!
//! Shapes, not positions: whether a sign-off-shaped line closes a text is [`super::closing`]'s
//! decision (only at the end, never with work after it).

/// Sign-off phrases, lowercase, without trailing punctuation. A line is a sign-off when it is one
/// of these, several joined by "and"/"&"/"," ("Thanks and best regards", "Danke & Gruß"), or one
/// followed by a name ("Cheers, Tom").
const PHRASES: &[&str] = &[
    // English
    "regards",
    "best regards",
    "kind regards",
    "warm regards",
    "warmest regards",
    "kindest regards",
    "with regards",
    "with best regards",
    "with kind regards",
    "many regards",
    "rgds",
    "br",
    "kr",
    "best",
    "all best",
    "all the best",
    "best wishes",
    "warm wishes",
    "cheers",
    "thanks",
    "thank you",
    "thanks so much",
    "thank you so much",
    "thanks a lot",
    "many thanks",
    "thanks again",
    "thanks in advance",
    "thanks all",
    "thanks everyone",
    "thanks team",
    "with thanks",
    "much appreciated",
    "thx",
    "tx",
    "ty",
    "tia",
    "ta",
    "sincerely",
    "yours",
    "yours truly",
    "yours sincerely",
    "yours faithfully",
    "sincerely yours",
    "respectfully",
    "warmly",
    "take care",
    "talk soon",
    "speak soon",
    "talk later",
    "see you",
    "see you tomorrow",
    "see you soon",
    "later",
    "have a good one",
    "have a great day",
    "have a nice day",
    "have a good day",
    "have a great weekend",
    "have a nice weekend",
    "have a good weekend",
    "have a good evening",
    "good night",
    "love",
    "xoxo",
    "peace",
    // German
    "mit freundlichen grüßen",
    "mit freundlichen grüssen",
    "mit freundlichem gruß",
    "mit besten grüßen",
    "freundliche grüße",
    "freundliche grüsse",
    "viele grüße",
    "viele grüsse",
    "beste grüße",
    "beste grüsse",
    "liebe grüße",
    "liebe grüsse",
    "herzliche grüße",
    "herzliche grüsse",
    "schöne grüße",
    "schöne grüsse",
    "grüße",
    "grüsse",
    "gruß",
    "gruss",
    "lg",
    "vg",
    "mfg",
    "bg",
    "danke",
    "danke schön",
    "dankeschön",
    "vielen dank",
    "besten dank",
    "bis morgen",
    "bis bald",
    "tschüss",
    "ciao",
    "servus",
    // French
    "cordialement",
    "bien cordialement",
    "très cordialement",
    "bien à vous",
    "bien à toi",
    "salutations",
    "meilleures salutations",
    "sincères salutations",
    "bien amicalement",
    "amicalement",
    "amitiés",
    "merci",
    "merci beaucoup",
    "merci d'avance",
    "merci bien",
    "bonne journée",
    "bonne soirée",
    "bon week-end",
    "bonne fin de journée",
    "à bientôt",
    "a bientôt",
    "à demain",
    "bises",
    "bisous",
    // Spanish
    "saludos",
    "un saludo",
    "saludos cordiales",
    "un cordial saludo",
    "muchos saludos",
    "atentamente",
    "cordialmente",
    "gracias",
    "muchas gracias",
    "mil gracias",
    "un abrazo",
    "abrazos",
    "besos",
    "hasta luego",
    "hasta mañana",
    "nos vemos",
    // Portuguese
    "atenciosamente",
    "cumprimentos",
    "melhores cumprimentos",
    "com os melhores cumprimentos",
    "saudações",
    "abraços",
    "abraço",
    "um abraço",
    "abs",
    "att",
    "obrigado",
    "obrigada",
    "muito obrigado",
    "muito obrigada",
    "beijos",
    "até amanhã",
    "até logo",
    // Italian
    "cordiali saluti",
    "distinti saluti",
    "saluti",
    "un saluto",
    "buona giornata",
    "buona serata",
    "grazie",
    "grazie mille",
    "a presto",
    "a domani",
    // Dutch
    "met vriendelijke groet",
    "met vriendelijke groeten",
    "vriendelijke groet",
    "vriendelijke groeten",
    "hartelijke groet",
    "hartelijke groeten",
    "met hartelijke groet",
    "groet",
    "groeten",
    "groetjes",
    "mvg",
    "gr",
    "bedankt",
    "dank je",
    "dank je wel",
    "dank u",
    "dank u wel",
    "tot morgen",
    // Russian, Ukrainian
    "с уважением",
    "с наилучшими пожеланиями",
    "всего доброго",
    "всего хорошего",
    "спасибо",
    "большое спасибо",
    "заранее спасибо",
    "пока",
    "до завтра",
    "удачи",
    "з повагою",
    "дякую",
    // Polish
    "pozdrawiam",
    "pozdrawiam serdecznie",
    "serdecznie pozdrawiam",
    "pozdrowienia",
    "serdeczne pozdrowienia",
    "z poważaniem",
    "z wyrazami szacunku",
    "dzięki",
    "dziękuję",
    "do jutra",
    "pzdr",
    // Scandinavian, Finnish, Czech, Turkish
    "med vänlig hälsning",
    "vänliga hälsningar",
    "hälsningar",
    "mvh",
    "vennlig hilsen",
    "med vennlig hilsen",
    "med venlig hilsen",
    "venlig hilsen",
    "hilsen",
    "tack",
    "takk",
    "tak",
    "ystävällisin terveisin",
    "terveisin",
    "kiitos",
    "s pozdravem",
    "děkuji",
    "saygılarımla",
    "teşekkürler",
    // Japanese
    "よろしくお願いします",
    "よろしくお願いいたします",
    "よろしくお願い致します",
    "宜しくお願いします",
    "宜しくお願い致します",
    "宜しくお願いいたします",
    "以上、よろしくお願いします",
    "以上、よろしくお願いいたします",
    "以上よろしくお願いします",
    "引き続きよろしくお願いします",
    "ありがとうございます",
    "ありがとうございました",
    "お疲れ様です",
    "お疲れさまです",
    "以上です",
    "以上",
    // Chinese
    "谢谢",
    "謝謝",
    "多谢",
    "感谢",
    "非常感谢",
    "祝好",
    "此致",
    "此致敬礼",
    "此致 敬礼",
    "敬礼",
    "顺祝商祺",
    "顺颂商祺",
    "祝工作顺利",
    "辛苦了",
    // Korean
    "감사합니다",
];

/// Joiners between sign-off phrases ("Thanks and regards", "Danke & Gruß", "Merci et bonne
/// journée").
const JOINERS: &[&str] = &[
    " and ", " & ", " + ", ", ", " und ", " et ", " y ", " e ", " en ", " и ", " i ", "、", "，",
    " ",
];

/// Punctuation and decoration that can close (or open) a sign-off line.
fn is_decoration(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ',' | '.'
                | '!'
                | ':'
                | ';'
                | '…'
                | '~'
                | '-'
                | '–'
                | '—'
                | '。'
                | '，'
                | '！'
                | '、'
                | '～'
                | '♥'
                | '❤'
                | '☺'
                | '🙂'
                | '😊'
                | '🙏'
                | '👍'
                | ')'
                | '('
        )
}

fn core(line: &str) -> String {
    line.trim_matches(is_decoration).to_lowercase()
}

/// [`PHRASES`] indexed for the questions asked of every line of every reply: is this exactly a
/// phrase, does it start with one, does it end with one. A linear scan of the list for each
/// prefix of each line cost a quarter of the CPU of receiving a reply (docs/bench-inbound.md).
struct PhraseIndex {
    set: std::collections::HashSet<&'static str>,
    /// The phrases by their first byte, and by their last.
    by_first: Vec<Vec<&'static str>>,
    by_last: Vec<Vec<&'static str>>,
}

static PHRASE_INDEX: std::sync::LazyLock<PhraseIndex> = std::sync::LazyLock::new(|| {
    let mut index = PhraseIndex {
        set: PHRASES.iter().copied().collect(),
        by_first: vec![Vec::new(); 256],
        by_last: vec![Vec::new(); 256],
    };
    for p in PHRASES {
        let bytes = p.as_bytes();
        if let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) {
            index.by_first[usize::from(first)].push(p);
            index.by_last[usize::from(last)].push(p);
        }
    }
    index
});

impl PhraseIndex {
    fn contains(&self, s: &str) -> bool {
        self.set.contains(s)
    }

    fn starts_with_one(&self, s: &str) -> bool {
        s.as_bytes().first().is_some_and(|&b| {
            self.by_first[usize::from(b)]
                .iter()
                .any(|p| s.starts_with(p))
        })
    }

    fn ends_with_one(&self, s: &str) -> bool {
        s.as_bytes()
            .last()
            .is_some_and(|&b| self.by_last[usize::from(b)].iter().any(|p| s.ends_with(p)))
    }
}

/// One phrase, or several joined ("thanks and best regards").
fn is_phrase(s: &str) -> bool {
    let index = &*PHRASE_INDEX;
    if index.contains(s) {
        return true;
    }
    // Several joined: the first part (trimmed) is a phrase at the start of `s` and the last one
    // (trimmed, a phrase itself or joined again) ends where `s` ends. Text that neither starts
    // nor ends with a phrase, most of it, is answered without looking for joiners.
    if !index.starts_with_one(s.trim_start_matches(is_decoration))
        || !index.ends_with_one(s.trim_end_matches(is_decoration))
    {
        return false;
    }
    JOINERS.iter().any(|j| {
        s.match_indices(j).any(|(pos, _)| {
            let (a, b) = (&s[..pos], &s[pos + j.len()..]);
            let (a, b) = (a.trim_matches(is_decoration), b.trim_matches(is_decoration));
            !a.is_empty() && !b.is_empty() && index.contains(a) && is_phrase(b)
        })
    })
}

/// What a sign-off line is: a bare sign-off ("Thanks,"), or one with the writer's name on it
/// ("Cheers, Tom", "С уважением, Алексей").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOff {
    Bare,
    WithName,
}

/// Whether `line` is a sign-off, and which kind.
pub fn sign_off(line: &str) -> Option<SignOff> {
    let t = line.trim();
    if t.is_empty() || t.chars().count() > 80 {
        return None;
    }
    let c = core(t);
    if is_phrase(&c) {
        return Some(SignOff::Bare);
    }
    // "<phrase>, Name", "<phrase> - Name", "<phrase> Name": the longest phrase prefix that leaves
    // a name. Without a comma or dash the name must be capitalised ("Thanks Bob", not "Best
    // practices").
    let lower = t.to_lowercase();
    // Every prefix tried below starts where `lower` starts (decoration aside), and a phrase,
    // joined or not, starts with a phrase: a line that does not has no sign-off prefix.
    if !PHRASE_INDEX.starts_with_one(lower.trim_start_matches(is_decoration)) {
        return None;
    }
    for (pos, _) in lower.char_indices().filter(|&(p, _)| p > 0).rev() {
        let head = lower[..pos].trim_matches(is_decoration);
        if head.is_empty() || !is_phrase(head) {
            continue;
        }
        let Some(rest) = t.get(pos..) else {
            continue;
        };
        let separated = rest.starts_with([',', '-', '–', '—', '，', '、']);
        if !rest.starts_with(is_decoration) {
            continue;
        }
        let name = rest.trim_matches(is_decoration);
        let capital = name.chars().next().is_some_and(|c| !c.is_lowercase());
        if is_name(name) && name.split_whitespace().count() <= 3 && (separated || capital) {
            return Some(SignOff::WithName);
        }
    }
    None
}

/// Lower-case words a name or a job title may hold ("Anna van der Berg", "Head of Platform").
const CONNECTORS: &[&str] = &[
    "of", "and", "at", "for", "the", "in", "de", "der", "den", "die", "des", "und", "für", "du",
    "la", "le", "les", "et", "y", "e", "di", "da", "do", "dos", "del", "van", "von", "och", "og",
    "i", "w", "z", "в", "и", "bin", "al", "&",
];

fn capitalised(word: &str) -> bool {
    let w = word.trim_start_matches(|c: char| !c.is_alphanumeric());
    !w.starts_with(char::is_lowercase) || CONNECTORS.contains(&w)
}

/// Whether `line` reads as a person's name (or initials) written under a sign-off: one to four
/// capitalised words of letters (and `.`, `'`, `-`; a connector like "van" or "de" allowed), or
/// a single lower-case word ("bob"), no digits, at most 40 characters, optionally introduced by a
/// dash or tilde ("-Bob", "~ana", "— A."). "Fixed the login bug" is not one.
pub fn is_name(line: &str) -> bool {
    let t = line
        .trim()
        .trim_start_matches(['-', '–', '—', '~'])
        .trim_end_matches(['.', ',', '!'])
        .trim();
    let words: Vec<&str> = t.split_whitespace().collect();
    (1..=4).contains(&words.len())
        && t.chars().count() <= 40
        && t.chars().all(|c| {
            c.is_alphabetic() || c.is_whitespace() || matches!(c, '.' | '\'' | '’' | '-' | '・')
        })
        && (words.len() == 1 || words.iter().all(|w| capitalised(w)))
}

/// Whether `line` reads as a line of a signature block under a name: contact details (an
/// address, a link, a phone number, "|" separated parts) or a title-cased job title or company
/// ("Head of Platform, ACME GmbH"). A sentence ("Fixed the login bug") is not one.
pub fn is_signature_line(line: &str) -> bool {
    let t = line.trim();
    if t.chars().count() > 80 {
        return false;
    }
    let lower = t.to_lowercase();
    let digits = t.chars().filter(char::is_ascii_digit).count();
    let contact = t.contains('@')
        || lower.contains("www.")
        || lower.contains("http")
        || t.contains(['|', '•', '·'])
        || digits >= 5;
    let words: Vec<&str> = t.split_whitespace().collect();
    contact || (!words.is_empty() && words.len() <= 8 && words.iter().all(|w| capitalised(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_offs_alone_joined_and_with_names() {
        for s in [
            "Thanks,",
            "Best regards",
            "Thanks and regards,",
            "Danke & Gruß",
            "Viele Grüße",
            "Cordialement,",
            "Un saludo,",
            "Atenciosamente,",
            "Cordiali saluti,",
            "Met vriendelijke groet,",
            "С уважением,",
            "Pozdrawiam,",
            "よろしくお願いします。",
            "谢谢！",
            "Thanks!",
        ] {
            assert_eq!(sign_off(s), Some(SignOff::Bare), "{s}");
        }
        for s in [
            "Cheers, Tom",
            "LG Jonas",
            "С уважением, Алексей",
            "Thanks - Bob",
        ] {
            assert_eq!(sign_off(s), Some(SignOff::WithName), "{s}");
        }
        for s in [
            "Thanks to Lee, the migration finished early",
            "Best practices doc written",
            "Regards from the Berlin office sent to the whole team",
            "Sent the invoices",
            "Thanks Bob for the review",
        ] {
            assert_eq!(sign_off(s), None, "{s}");
        }
    }

    /// The definition the index speeds up: a linear scan of the list, every joiner tried.
    fn plain_is_phrase(s: &str) -> bool {
        if PHRASES.contains(&s) {
            return true;
        }
        JOINERS.iter().any(|j| {
            s.match_indices(j).any(|(pos, _)| {
                let (a, b) = (&s[..pos], &s[pos + j.len()..]);
                let (a, b) = (a.trim_matches(is_decoration), b.trim_matches(is_decoration));
                !a.is_empty() && !b.is_empty() && PHRASES.contains(&a) && plain_is_phrase(b)
            })
        })
    }

    #[test]
    fn the_index_answers_as_the_plain_definition() {
        let mut texts: Vec<String> = vec![
            "fixed the billing export".into(),
            "talked to the team about best practices".into(),
            "thanks to lee, the migration finished early".into(),
            ", thanks and regards ,".into(),
            "thanks and and regards".into(),
            "best regards, tom".into(),
            "".into(),
            " ".into(),
            "ta".into(),
        ];
        for a in PHRASES {
            texts.push((*a).into());
            texts.push(format!("{a}!"));
            texts.push(format!(" ~{a}, anna"));
            for j in JOINERS {
                texts.push(format!("{a}{j}kind regards"));
                texts.push(format!("cheers{j}{a}{j}thanks."));
                texts.push(format!("fixed{j}{a}"));
                texts.push(format!("{a}{j}fixed"));
            }
        }
        let mut checked = 0;
        for t in &texts {
            for (pos, _) in t.char_indices().chain([(t.len(), ' ')]) {
                for s in [&t[..pos], &t[pos..]] {
                    assert_eq!(is_phrase(s), plain_is_phrase(s), "{s:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 100_000, "{checked}");
    }

    #[test]
    fn names() {
        assert!(is_name("Bob"));
        assert!(is_name("Anna-Lena Müller"));
        assert!(is_name("-Abhishek Kona"));
        assert!(is_name("王伟"));
        assert!(!is_name("+1 555 0100"));
        assert!(!is_name("Head of Platform, ACME"));
        assert!(!is_name("Fixed the login bug"));
        assert!(is_signature_line("Head of Platform | ACME GmbH"));
        assert!(is_signature_line("+49 30 1234567"));
        assert!(is_signature_line("anna@acme.example"));
        assert!(!is_signature_line("Fixed the login bug"));
    }
}
