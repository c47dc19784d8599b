//! End-to-end tests of [`bots::email::parse`] on the `.eml` fixtures (real-shaped messages from
//! the common clients, in the charsets and MIME shapes we meet), asserted exactly; plus the
//! robustness guarantees: no panic on arbitrary bytes, linear time on a 10 MB body.

use std::path::Path;

use bots::email::parse::{AutoKind, ParsedMail, parse};
use proptest::prelude::*;

fn fixture(name: &str) -> ParsedMail {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mail")
        .join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&raw).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn gmail_multipart_alternative_prefers_plain_and_decodes_qp() {
    let m = fixture("gmail_reply.eml");
    assert_eq!(m.message_id.as_deref(), Some("CAJx1=abc123@mail.gmail.com"));
    assert_eq!(m.in_reply_to, ["prompt-2024-03-04-anna@done.example.com"]);
    assert_eq!(m.references, ["prompt-2024-03-04-anna@done.example.com"]);
    assert_eq!(m.from.as_deref(), Some("anna@example.org"));
    assert_eq!(m.from_name.as_deref(), Some("Anna Berg"));
    assert_eq!(m.to, ["reply+t0k3n@done.example.com", "lead@example.org"]);
    assert_eq!(m.subject, "Re: What did you get done today?");
    assert_eq!(
        m.date.map(|d| d.to_rfc3339()).as_deref(),
        Some("2024-03-04T18:42:10+01:00")
    );
    assert_eq!(m.auto, None);
    assert!(
        m.text
            .starts_with("Shipped the billing export — finally.\nReviewed Anna's PR #412\n")
    );
    assert!(
        m.text.contains("> What did you get done today?"),
        "plain part, quote included"
    );
}

#[test]
fn outlook_html_only_windows_1252() {
    let m = fixture("outlook_reply.eml");
    assert_eq!(m.from.as_deref(), Some("jon@example.com"));
    assert_eq!(m.subject, "RE: What did you get done today?");
    assert_eq!(
        m.text,
        "Fixed the “double invoice” bug\nCall with Café Müller about the renewal"
    );
}

#[test]
fn iphone_format_flowed_is_unwrapped() {
    let m = fixture("iphone_flowed.eml");
    assert!(m.text.starts_with(
        "Wrote the onboarding guide for the new support hires and sent it to the team for review\n\
         Booked the offsite venue\n"
    ));
    assert_eq!(
        m.date.map(|d| d.to_rfc3339()).as_deref(),
        Some("2024-03-04T19:03:44-05:00")
    );
}

#[test]
fn thunderbird_flowed_keeps_signature_delimiter() {
    let m = fixture("thunderbird.eml");
    assert!(m.text.contains("\n-- \nLukas Vogel\n"), "{:?}", m.text);
    assert_eq!(m.from_name.as_deref(), Some("Lukas Vogel"));
}

#[test]
fn legacy_charsets_decode() {
    let latin1 = fixture("latin1_qp.eml");
    assert_eq!(latin1.from_name.as_deref(), Some("Jürgen Weiß"));
    assert_eq!(latin1.subject, "AW: What did you get done today?");
    assert!(
        latin1
            .text
            .starts_with("Kundenworkshop in München vorbereitet\nAngebot für Größe XL")
    );

    let koi8 = fixture("koi8r.eml");
    assert_eq!(koi8.from_name.as_deref(), Some("Иван Петров"));
    assert!(
        koi8.text
            .starts_with("Подготовил отчёт для клиента\nИсправил ошибку в импорте\n")
    );

    let jis = fixture("iso2022jp_base64.eml");
    assert_eq!(jis.from_name.as_deref(), Some("山田 太郎"));
    assert!(
        jis.text
            .starts_with("請求書のテンプレートを更新しました\n新人研修の資料を作成\n")
    );

    let gb = fixture("gb2312.eml");
    assert_eq!(gb.from_name.as_deref(), Some("张三"));
    assert_eq!(gb.subject, "回复: What did you get done today?");
    assert!(
        gb.text
            .starts_with("完成了支付模块的测试\n修复了登录页面的问题\n")
    );
}

#[test]
fn encoded_words_in_subject_and_names() {
    let m = fixture("encoded_subject.eml");
    assert_eq!(m.subject, "Re: What did you get done today? ✅ (café)");
    assert_eq!(m.from.as_deref(), Some("renee@example.com"));
    assert_eq!(m.from_name.as_deref(), Some("Renée O'Brien"));
    assert_eq!(m.to, ["reply+t0k3n@done.example.com", "team@example.com"]);
}

#[test]
fn auto_reply_and_bounce_are_classified() {
    assert_eq!(
        fixture("auto_reply.eml").auto,
        Some(AutoKind::AutoSubmitted)
    );
    let bounce = fixture("bounce.eml");
    assert_eq!(bounce.auto, Some(AutoKind::Bounce));
    assert!(
        !bounce.text.contains("Final-Recipient"),
        "the DSN fields are not text"
    );
}

#[test]
fn auto_kinds_from_headers_and_subjects() {
    let msg = |headers: &str| {
        parse(format!("{headers}\n\nbody\n").as_bytes())
            .expect("parses")
            .auto
    };
    assert_eq!(
        msg("From: a@b.c\nPrecedence: bulk"),
        Some(AutoKind::AutoReplyHeader)
    );
    assert_eq!(
        msg("From: a@b.c\nX-Autoreply: yes"),
        Some(AutoKind::AutoReplyHeader)
    );
    assert_eq!(msg("From: a@b.c\nAuto-Submitted: no"), None);
    for subject in [
        "Out of Office: What did you get done today?",
        "Automatic reply: What did you get done today?",
        "Auto: Re: hello",
        "Abwesenheitsnotiz: What did you get done today?",
        "Réponse automatique : What did you get done today?",
        "Respuesta automática: What did you get done today?",
        "Fuori sede: What did you get done today?",
        "Afwezig: What did you get done today?",
    ] {
        assert_eq!(
            msg(&format!("From: a@b.c\nSubject: {subject}")),
            Some(AutoKind::OutOfOffice)
        );
    }
    let postmaster =
        "From: postmaster@example.org\nSubject: Delivery Status Notification (Failure)";
    assert_eq!(msg(postmaster), Some(AutoKind::Bounce));
}

#[test]
fn forwarded_message_and_attachments_are_not_text() {
    let fwd = fixture("forward_rfc822.eml");
    assert_eq!(fwd.text, "Got the Acme contract signed, see below\n");
    let att = fixture("attachment.eml");
    assert_eq!(
        att.text,
        "Sent the signed NDA (attached)\nPrepared the sprint demo\n"
    );
}

#[test]
fn wrapped_message_rfc822_is_read() {
    let raw = "From: gw@example.com\nContent-Type: message/rfc822\n\n\
               From: Anna <anna@example.org>\nSubject: inner\n\nShipped it\n";
    assert_eq!(parse(raw.as_bytes()).expect("parses").text, "Shipped it\n");
}

/// A 10 MB body is read whole, quoted tail cut. How the time grows with the size is measured by
/// `cargo run -p bots --release --example trim_scaling` (a benchmark, not a timed test).
#[test]
fn ten_megabyte_body_is_read_whole() {
    let mut raw = String::from("From: a@b.c\nSubject: big\nContent-Type: text/plain\n\n");
    while raw.len() < 5_000_000 {
        raw.push_str("Shipped a thing on 2024-03-04 for bob@example.com <x>\n");
    }
    raw.push_str(&"x".repeat(5_000_000));
    raw.push_str("\n> quoted\n");
    let mail = parse(raw.as_bytes()).expect("parses");
    let reply = mail.reply_text();
    assert!(reply.len() > 9_000_000);
    assert!(!reply.contains("> quoted"));
}

#[test]
fn deep_multipart_nesting_is_refused_not_overflowed() {
    let mut raw = String::from("From: a@b.c\n");
    for n in 0..2000 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{n}\"\n\n--b{n}\n"
        ));
    }
    assert!(parse(raw.as_bytes()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_never_panics_on_bytes(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&raw);
    }

    #[test]
    fn parse_never_panics_on_mime_shaped_input(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("Content-Type: multipart/mixed; boundary=x\n".to_string()),
                Just("Content-Type: multipart/alternative; boundary=\"y\"\n".to_string()),
                Just("Content-Type: text/html; charset=koi8-r\n".to_string()),
                Just("Content-Type: text/plain; format=flowed; delsp=yes\n".to_string()),
                Just("Content-Type: message/rfc822\n".to_string()),
                Just("Content-Transfer-Encoding: base64\n".to_string()),
                Just("Content-Transfer-Encoding: quoted-printable\n".to_string()),
                Just("\n".to_string()),
                Just("--x\n".to_string()),
                Just("--y--\n".to_string()),
                Just("<div class=gmail_quote><blockquote>&#x110000;&amp".to_string()),
                Just("=E2=80=\n".to_string()),
                "[ -~]{0,40}\n",
            ],
            0..40,
        )
    ) {
        let _ = parse(parts.concat().as_bytes());
    }
}
