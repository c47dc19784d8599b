//! Mobile and client footers: "Sent from my iPhone", "Get Outlook for iOS", "Von meinem iPhone
//! gesendet", "Envoyé de mon iPhone", "Enviado desde mi iPhone", "iPhoneから送信", … — one line a
//! mail client appends under what the person typed.
//!
//! Not a position rule: whether a footer-shaped line ends a text is for the caller to decide (a
//! footer only counts at the end of the typed text; "Sent via DHL to Acme: 40 samples" in the
//! middle of a reply is work).

use std::borrow::Cow;

/// Footer prefixes, lowercase. The generic English ones ("sent from ", "sent via ") must be
/// followed by a product name (see [`is_footer`]).
const PREFIXES: &[&str] = &[
    "sent from my ",
    "sent from ",
    "sent via ",
    "sent using ",
    "sent with ",
    "sent on the go",
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
    "enviado a partir do ",
    "inviato da ",
    "inviato dal mio ",
    "verstuurd vanaf mijn ",
    "verzonden vanaf mijn ",
    "verzonden met ",
    "verstuurd met ",
    "wysłane z ",
    "wysłano z ",
    "отправлено с ",
    "отправлено из ",
    "отправлено со ",
    "skickat från min ",
    "skickat från ",
    "sendt fra min ",
    "sendt fra ",
    "lähetetty ",
    "diese nachricht wurde von meinem ",
    "odesláno z ",
    "从我的",
    "發自我的",
    "发自我的",
    "来自我的",
    "iphoneから送信",
    "ipadから送信",
];

/// Generic prefixes: what follows must look like a product ("Sent via Superhuman"), not a
/// sentence ("Sent from the shared account the invoices").
const GENERIC: &[&str] = &["sent from ", "sent via ", "sent using ", "sent with "];

/// A footer line: a known prefix (or "Von meinem … gesendet", "…から送信") followed by a short
/// product name; a link in angle brackets after it is allowed ("Get Outlook for
/// iOS<https://aka.ms/…>"). A sentence that starts the same way ("Sent from my desk, which is
/// nicer …") is not one: no comma, at most 8 words, at most 70 characters after the prefix.
pub fn is_footer(line: &str) -> bool {
    let t = line.trim();
    if t.len() > 160 {
        return false;
    }
    let plain = without_links(t);
    let plain = plain.trim();
    let lower = plain.to_lowercase();
    let Some(prefix) = PREFIXES.iter().find(|p| lower.starts_with(*p)) else {
        return (lower.starts_with("von meinem") && lower.ends_with("gesendet"))
            || (lower.ends_with("から送信") && lower.chars().count() <= 20);
    };
    // Lowercasing can change byte lengths (rarely); `get` keeps a misaligned cut from panicking.
    let rest = plain.get(prefix.len()..).unwrap_or(&lower[prefix.len()..]);
    (!GENERIC.contains(prefix) || is_product(rest))
        && !rest.contains(',')
        && rest.split_whitespace().count() <= 8
        && rest.chars().count() <= 70
}

/// A product name after a generic prefix: capitalised words (digits allowed, a few short
/// connectors in lower case: "Mail for Windows 10", "Yahoo Mail on Android"), no colon. "DHL to
/// Acme: 40 samples" is not one.
fn is_product(rest: &str) -> bool {
    let words: Vec<&str> = rest.split_whitespace().collect();
    !words.is_empty()
        && !rest.contains(':')
        && words
            .first()
            .is_some_and(|w| !w.starts_with(char::is_lowercase))
        && words.iter().all(|w| {
            !w.starts_with(char::is_lowercase) || matches!(*w, "for" | "on" | "by" | "with")
        })
}

fn without_links(s: &str) -> Cow<'_, str> {
    if !s.contains(['<', '>']) {
        return Cow::Borrowed(s);
    }
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
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footers_in_many_languages() {
        for f in [
            "Sent from my iPhone",
            "Get Outlook for iOS<https://aka.ms/o0ukef>",
            "Von meinem iPhone gesendet",
            "Envoyé de mon iPhone",
            "Enviado desde mi iPhone",
            "Enviado do meu iPhone",
            "Inviato da iPhone",
            "Verstuurd vanaf mijn iPhone",
            "Отправлено с iPhone",
            "Wysłane z iPhone'a",
            "iPhoneから送信",
            "发自我的iPhone",
            "Sent via Superhuman",
            "Sent from Mail for Windows 10",
            "Sent from Yahoo Mail on Android",
        ] {
            assert!(is_footer(f), "{f}");
        }
        assert!(!is_footer(
            "Sent from my desk, is much easier then my mobile phone."
        ));
        assert!(!is_footer("Sent from the shared account the invoices"));
        assert!(!is_footer("Sent via DHL to Acme: 40 samples"));
        assert!(!is_footer("Sent with Bob the contract to Acme"));
    }
}
