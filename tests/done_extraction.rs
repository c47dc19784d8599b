//! The done extractor on whole replies, through the server's own path (the trimmer's
//! `trim_reply`, then `domain::lines::parse_lines` as the team actor calls it): generated work
//! lines — with the first words that trip naive rules (Sent, Thanks, Regards, Cheers, On, From,
//! Date, Best, a date, a dash) — followed by any known closing (a sign-off in many languages, a
//! name, a signature block, a mobile footer, a quote header with the quoted prompt) give exactly
//! the generated lines as dones, in order.

use donebot::domain::lines::{parse_line, parse_lines};
use proptest::prelude::*;
use proptest::sample::select;

const VERBS: &[&str] = &[
    "fixed",
    "shipped",
    "reviewed",
    "deployed",
    "wrote",
    "called",
    "closed",
    "merged",
    "drafted",
    "interviewed",
    "migrated",
    "booked",
];
const OBJECTS: &[&str] = &[
    "the billing export",
    "two candidates",
    "PR #412",
    "the Acme contract",
    "the Q3 report",
    "@ana's review",
    "the login bug",
    "40 samples for Globex",
    "the onboarding guide",
    "the CI runners",
];
const WHO: &[&str] = &[
    "Bob",
    "Acme",
    "the Berlin office",
    "Lee",
    "the support team",
];

/// A work line as people type them, including the openings that look like closings or headers.
fn work_line() -> impl Strategy<Value = String> {
    let v = || select(VERBS);
    let o = || select(OBJECTS);
    let w = || select(WHO);
    prop_oneof![
        (v(), o()).prop_map(|(v, o)| format!("{}{} {o}", v[..1].to_uppercase(), &v[1..])),
        (v(), o()).prop_map(|(v, o)| format!("- {v} {o}")),
        (o(), w()).prop_map(|(o, w)| format!("Sent {o} to {w}")),
        (w(), o()).prop_map(|(w, o)| format!("Sent via DHL to {w}: {o}")),
        (w(), o()).prop_map(|(w, o)| format!("Sent from {w} the final version of {o}")),
        (w(), v(), o()).prop_map(|(w, v, o)| format!("Thanks to {w}, {v} {o} early")),
        (w(), o()).prop_map(|(w, o)| format!("Regards from {w} passed on with {o}")),
        (v(), o()).prop_map(|(v, o)| format!("Cheers at the demo after we {v} {o}")),
        (v(), o()).prop_map(|(v, o)| format!("On Monday {v} {o}")),
        (w(), o()).prop_map(|(w, o)| format!("From {w}: feedback on {o}")),
        o().prop_map(|o| format!("Date for {o} moved to Friday")),
        (v(), o()).prop_map(|(v, o)| format!("Best day this month: {v} {o}")),
        (v(), o()).prop_map(|(v, o)| format!("2026-04-15: {v} {o}")),
        o().prop_map(|o| format!("goal: finish {o}")),
        o().prop_map(|o| format!("blocker: waiting on legal for {o}")),
        (v(), o()).prop_map(|(v, o)| format!("{v} {o} #release")),
    ]
}

const SIGN_OFFS: &[&str] = &[
    "Thanks,",
    "Thanks!",
    "Thank you",
    "Best,",
    "Best regards,",
    "Kind regards",
    "Cheers",
    "Regards,",
    "Viele Grüße",
    "Mit freundlichen Grüßen",
    "LG",
    "Cordialement,",
    "Merci,",
    "Saludos,",
    "Un saludo,",
    "Atenciosamente,",
    "Abraços,",
    "Cordiali saluti,",
    "Grazie",
    "Met vriendelijke groet,",
    "Groeten,",
    "С уважением,",
    "Спасибо,",
    "Pozdrawiam,",
    "Dzięki,",
    "よろしくお願いします。",
    "谢谢！",
    "祝好，",
];
const NAMES: &[&str] = &[
    "Bob",
    "Anna Schmidt",
    "Élise",
    "Иван",
    "田中",
    "J.",
    "-Ravi",
];
const SIGNATURE: &[&str] = &[
    "Head of Platform | ACME GmbH",
    "+1 (415) 555-0199",
    "anna@acme.example",
    "www.acme.example",
    "Hauptstraße 1, 10115 Berlin",
    "Finance Lead",
];
const FOOTERS: &[&str] = &[
    "Sent from my iPhone",
    "Von meinem iPhone gesendet",
    "Envoyé de mon iPhone",
    "Enviado desde mi iPhone",
    "Enviado do meu iPhone",
    "Inviato da iPhone",
    "Verstuurd vanaf mijn iPhone",
    "Отправлено с iPhone",
    "Wysłane z iPhone'a",
    "iPhoneから送信",
    "Get Outlook for iOS<https://aka.ms/o0ukef>",
];
const QUOTES: &[&str] = &[
    "On Wed, Apr 15, 2026 at 6:00 PM donebot <reply+t@done.example> wrote:\n> What did you get done today?",
    "Am 15.04.2026 um 18:00 schrieb donebot <reply+t@done.example>:\n> What did you get done today?",
    "Le mer. 15 avr. 2026 à 18:00, donebot <reply+t@done.example> a écrit :\n> What did you get done today?",
    "El mié, 15 abr 2026 a las 18:00, donebot (<reply+t@done.example>) escribió:\n> What did you get done today?",
    "2026-04-15 18:00 GMT+02:00 donebot <reply+t@done.example>:\n> What did you get done today?",
    "From: donebot <reply+t@done.example>\nSent: Wednesday, April 15, 2026 6:00 PM\nTo: Ana\nSubject: What did you get done today?\n\nWhat did you get done today?",
    "-----Original Message-----\nFrom: donebot\nSent: Wednesday\n\nWhat did you get done today?",
    "-------- Original Message --------\nSubject: What did you get done today?\nDate: Wed, 15 Apr 2026 18:00:00 +0000\nFrom: donebot <reply+t@done.example>\n\nWhat did you get done today?",
    "Von: donebot <reply+t@done.example>\nGesendet: Mittwoch, 15. April 2026 18:00\nAn: Ana\nBetreff: What did you get done today?",
];

/// What can follow the typed work, in the order clients write it (each part optional).
fn closing() -> impl Strategy<Value = String> {
    (
        proptest::option::of(select(SIGN_OFFS)),
        proptest::option::of(select(NAMES)),
        proptest::collection::vec(select(SIGNATURE), 0..4),
        proptest::option::of(select(FOOTERS)),
        proptest::option::of(select(QUOTES)),
        any::<bool>(),
    )
        .prop_map(|(sign_off, name, signature, footer, quote, delimiter)| {
            let mut parts: Vec<String> = Vec::new();
            if let Some(s) = sign_off {
                let mut block = vec![s.to_string()];
                // A name (and a signature block) is written under a sign-off, not alone.
                if let Some(n) = name {
                    block.push(n.to_string());
                    block.extend(signature.iter().map(|l| l.to_string()));
                }
                parts.push(block.join("\n"));
            } else if delimiter && !signature.is_empty() {
                parts.push(format!("-- \n{}", signature.join("\n")));
            }
            if let Some(f) = footer {
                parts.push(f.to_string());
            }
            if let Some(q) = quote {
                parts.push(q.to_string());
            }
            parts.join("\n\n")
        })
}

/// The dones the server records for a reply body.
fn dones(body: &str) -> Vec<String> {
    parse_lines(&bots::email::trim::trim_reply(body))
        .into_iter()
        .map(|d| d.text)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn the_dones_are_exactly_the_typed_work(
        work in proptest::collection::vec(work_line(), 1..6),
        closing in closing(),
        blank_before in any::<bool>(),
    ) {
        let gap = if blank_before { "\n\n" } else { "\n" };
        let body = format!("{}{gap}{closing}\n", work.join("\n"));
        let want: Vec<String> = work
            .iter()
            .filter_map(|l| parse_line(l))
            .map(|d| d.text)
            .collect();
        prop_assert_eq!(dones(&body), want, "reply:\n{}", body);
    }

    #[test]
    fn work_after_a_closing_shaped_line_keeps_every_line(
        before in proptest::collection::vec(work_line(), 1..4),
        middle in select(SIGN_OFFS.iter().chain(FOOTERS).copied().collect::<Vec<_>>()),
        after in proptest::collection::vec(work_line(), 1..4),
    ) {
        // Not a closing once typed work follows: every line is kept, the middle one included.
        let body = format!("{}\n{middle}\n{}", before.join("\n"), after.join("\n"));
        let got = dones(&body);
        prop_assert_eq!(got.len(), before.len() + after.len() + 1, "reply:\n{}", body);
    }
}

#[test]
fn the_issue_examples() {
    assert_eq!(
        dones("Interviewed two candidates\n\nThanks,\nBob\n"),
        ["Interviewed two candidates"]
    );
    assert_eq!(
        dones("Packed the booth\nSent via DHL to Acme: 40 samples\nUpdated the tracker\n"),
        [
            "Packed the booth",
            "Sent via DHL to Acme: 40 samples",
            "Updated the tracker"
        ]
    );
    // A chat message of only a sign-off is not work.
    assert!(parse_lines("Thanks!").is_empty());
}
