//! What ends a reply: the "-- " signature delimiter and other rules ("____", "====="), mobile
//! footers ("Sent from my iPhone", "Get Outlook for iOS", and translations), a "-Name" sign-off,
//! and a sign-off followed by a multi-line signature block.
//!
//! A sign-off followed by a single name line ("Thanks,\nAnna") is kept: the person typed it. A
//! sign-off followed by two or more short lines (name, title, company, phone) is the client's
//! pasted signature and goes, sign-off included.

use super::is_blank;

/// Mobile and client footers, lowercase prefixes.
const SENT_FROM: &[&str] = &[
    "sent from my ",
    "sent from ",
    "sent via ",
    "sent using ",
    "sent with ",
    "get outlook for ",
    "envoyé de mon ",
    "envoyé depuis ",
    "envoyé à partir de ",
    "gesendet von ",
    "von meinem ",
    "gesendet mit ",
    "enviado desde mi ",
    "enviado desde ",
    "enviado do meu ",
    "enviado de meu ",
    "inviato da ",
    "verstuurd vanaf mijn ",
    "verzonden vanaf mijn ",
    "verzonden met ",
    "wysłane z ",
    "отправлено с ",
    "отправлено из ",
    "skickat från min ",
    "skickat från ",
    "sendt fra min ",
    "sendt fra ",
    "lähetetty ",
    "diese nachricht wurde von meinem ",
    "odesláno z ",
    "从我的",
    "發自我的",
    "iphoneから送信",
];

/// Common sign-offs, lowercase, without trailing punctuation.
const SIGN_OFFS: &[&str] = &[
    "regards",
    "best regards",
    "kind regards",
    "warm regards",
    "best",
    "cheers",
    "thanks",
    "thank you",
    "many thanks",
    "thanks again",
    "thx",
    "sincerely",
    "yours",
    "yours truly",
    "best wishes",
    "all the best",
    "mit freundlichen grüßen",
    "mit freundlichen grüssen",
    "viele grüße",
    "beste grüße",
    "liebe grüße",
    "freundliche grüße",
    "gruß",
    "grüße",
    "cordialement",
    "bien cordialement",
    "bien à vous",
    "saludos",
    "un saludo",
    "atentamente",
    "cordiali saluti",
    "saluti",
    "met vriendelijke groet",
    "groeten",
    "pozdrawiam",
    "с уважением",
    "med vänlig hälsning",
    "hälsningar",
    "mvh",
    "vennlig hilsen",
    "med venlig hilsen",
    "ystävällisin terveisin",
    "atenciosamente",
    "abraços",
];

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
    ((is_rule(t) || is_sent_from(t)) && after_blank) || is_dash_name(lines, i)
}

/// "Sent from my iPhone", "Get Outlook for iOS<https://aka.ms/…>": a short footer, not a sentence
/// that happens to start the same way ("Sent from my desk, is much easier …", "Sent from the
/// shared account the invoices"). After a generic prefix ("Sent from ") a product name follows, so
/// it must start with a capital letter.
fn is_sent_from(t: &str) -> bool {
    if t.len() > 160 {
        return false;
    }
    let plain = without_links(t);
    let plain = plain.trim();
    let lower = plain.to_lowercase();
    let Some(prefix) = SENT_FROM.iter().find(|p| lower.starts_with(*p)) else {
        return lower.ends_with("gesendet") && lower.starts_with("von meinem");
    };
    // Lowercasing can change byte lengths (rarely); `get` keeps a misaligned cut from panicking.
    let rest = plain.get(prefix.len()..).unwrap_or(&lower[prefix.len()..]);
    let generic = matches!(
        *prefix,
        "sent from " | "sent via " | "sent using " | "sent with "
    );
    let product = rest.chars().next().is_some_and(|c| !c.is_lowercase());
    (product || !generic)
        && !rest.contains(',')
        && rest.split_whitespace().count() <= 8
        && rest.chars().count() <= 70
}

fn without_links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
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

fn is_sign_off(t: &str) -> bool {
    let core = t
        .trim()
        .trim_end_matches([',', '!', '.', ' '])
        .to_lowercase();
    SIGN_OFFS.contains(&core.as_str())
}

/// Drops a trailing "sign-off + pasted signature block" (see the module doc).
pub(crate) fn drop_sign_off_block(lines: &mut Vec<String>) {
    let end = lines
        .iter()
        .rposition(|l| !is_blank(l))
        .map_or(0, |p| p + 1);
    let start = end.saturating_sub(9);
    let Some(s) = (start..end).rev().find(|&k| is_sign_off(&lines[k])) else {
        return;
    };
    let block: Vec<&str> = lines[s + 1..end]
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    let first_is_name = block.first().is_some_and(|l| {
        let words = l.split_whitespace().count();
        (1..=4).contains(&words) && l.starts_with(char::is_uppercase)
    });
    if block.len() >= 2
        && block.len() <= 6
        && first_is_name
        && block.iter().all(|l| l.chars().count() <= 60)
    {
        lines.truncate(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footers() {
        assert!(is_sent_from("Sent from my iPhone"));
        assert!(is_sent_from("Get Outlook for iOS<https://aka.ms/o0ukef>"));
        assert!(is_sent_from("Von meinem iPhone gesendet"));
        assert!(!is_sent_from(
            "Sent from my desk, is much easier then my mobile phone."
        ));
    }

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
