//! Tests of the reply trimmer: every `.eml` fixture through `trim_input` (the `donebot trim` path)
//! asserted exactly, the quoting and signature styles of the common clients and languages, and a
//! property: a line quoted in the input never comes out.

use std::path::Path;

use bots::email::parse::ParseError;
use bots::email::trim::{trim_input, trim_reply};
use proptest::prelude::*;

fn trim_fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mail")
        .join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    trim_input(&raw).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn fixtures_trim_to_what_was_typed() {
    let cases = [
        (
            "gmail_reply.eml",
            "Shipped the billing export — finally.\nReviewed Anna's PR #412",
        ),
        (
            "outlook_reply.eml",
            "Fixed the “double invoice” bug\nCall with Café Müller about the renewal",
        ),
        (
            "iphone_flowed.eml",
            "Wrote the onboarding guide for the new support hires and sent it to the team for review\n\
             Booked the offsite venue",
        ),
        (
            "thunderbird.eml",
            "Migrated the CI runners to the new cluster – all green\nDrafted the Q2 hiring plan",
        ),
        (
            "latin1_qp.eml",
            "Kundenworkshop in München vorbereitet\nAngebot für Größe XL überarbeitet",
        ),
        (
            "koi8r.eml",
            "Подготовил отчёт для клиента\nИсправил ошибку в импорте",
        ),
        (
            "iso2022jp_base64.eml",
            "請求書のテンプレートを更新しました\n新人研修の資料を作成",
        ),
        ("gb2312.eml", "完成了支付模块的测试\n修复了登录页面的问题"),
        (
            "encoded_subject.eml",
            "Closed 14 tickets ✅\nPairing session with Kai on the search index",
        ),
        ("auto_reply.eml", ""),
        ("bounce.eml", ""),
        (
            "forward_rfc822.eml",
            "Got the Acme contract signed, see below",
        ),
        (
            "attachment.eml",
            "Sent the signed NDA (attached)\nPrepared the sprint demo",
        ),
    ];
    for (name, want) in cases {
        assert_eq!(trim_fixture(name), want, "{name}");
    }
}

#[test]
fn attribution_lines_in_many_languages_and_wraps() {
    let cases = [
        "On Mon, Mar 4, 2024 at 6:00 PM donebot <r@d.example> wrote:\n> q",
        "On Mon, Mar 4, 2024 at 6:00 PM donebot <\nr@d.example> wrote:\n\n> q",
        "Le lun. 4 mars 2024 à 18:00, donebot\n<r@d.example>\na écrit :\n> q",
        "Am 04.03.2024 um 18:00 schrieb donebot <r@d.example>:\n> q",
        "El lun, 4 mar 2024 a las 18:00, donebot (<r@d.example>) escribió:\n> q",
        "Op ma 4 mrt. 2024 om 18:00 schreef donebot <r@d.example>:\n> q",
        "W dniu 4.03.2024 o 18:00, donebot pisze:\n> q",
        "пн, 4 мар. 2024 г. в 18:00, donebot <r@d.example>:\n> q",
        "2024-03-04 18:00 GMT+01:00 donebot <r@d.example>:\n> q",
        "Il giorno lun 4 mar 2024 alle ore 18:00 donebot <r@d.example> ha scritto:\n> q",
        "Den 4 mars 2024 kl. 18:00 skrev donebot <r@d.example>:\n> q",
        // Shapes by structure: a zoned date-first line with only a sender, "sent:" after a time.
        "2016-03-03 17:21 GMT+01:00 Some One\n\nq",
        "On Mar 4, 2024, at 18:00, donebot <r@d.example> sent:\n\n> q",
        "On Mon, Mar 4, 2024 at 6:00 PM\ndonebot <r@d.example>\nwrote:\n\n> q",
    ];
    for quote in cases {
        let reply = format!("Shipped the release\nFixed two bugs\n\n{quote}\n");
        assert_eq!(
            trim_reply(&reply),
            "Shipped the release\nFixed two bugs",
            "{quote}"
        );
    }
}

#[test]
fn outlook_header_blocks_in_many_languages() {
    let blocks = [
        "From: donebot <r@d.example>\nSent: Monday, March 4, 2024 6:00 PM\nTo: Jon\nSubject: What did you get done today?",
        "________________________________\nVon: donebot <r@d.example>\nGesendet: Montag, 4. März 2024 18:00\nAn: Jon\nBetreff: What did you get done today?",
        "De : donebot <r@d.example>\nEnvoyé : lundi 4 mars 2024 18:00\nÀ : Jon\nObjet : What did you get done today?",
        "Van: donebot <r@d.example>\nVerzonden: maandag 4 maart 2024 18:00\nAan: Jon\nOnderwerp: x",
        "Od: donebot <r@d.example>\nWysłano: poniedziałek, 4 marca 2024 18:00\nDo: Jon\nTemat: x",
        "От: donebot <r@d.example>\nОтправлено: 4 марта 2024 г. 18:00\nКому: Jon\nТема: x",
        "-----Original Message-----\nFrom: donebot\nSent: today",
        "-----Ursprüngliche Nachricht-----\nVon: x",
        "  *From:* donebot <r@d.example>\n  *Sent:* Monday\n  *To:* Jon",
        "Date: Mon, 4 Mar 2024 18:00:00 +0000\nFrom: donebot <r@d.example>\nTo: Jon\nSubject: x",
        "*-------- Original Message --------*\nSubject: x\nFrom: donebot",
        "-------- Message d'origine --------\nDe : donebot\nDate : lundi",
        // A separator of a locale no list names: ruled on both sides, a header field under it.
        "----- Oprindelig besked -----\nFra: donebot <r@d.example>\nSendt: 4. marts 2024",
    ];
    for block in blocks {
        let reply = format!("Shipped the release\n\n{block}\n\nWhat did you get done today?\n");
        assert_eq!(trim_reply(&reply), "Shipped the release", "{block}");
    }
}

#[test]
fn signatures_and_mobile_footers() {
    let cases = [
        (
            "Done A\nDone B\n\n-- \nJon Smith\nACME Corp",
            "Done A\nDone B",
        ),
        ("Done A\n\nSent from my iPhone", "Done A"),
        (
            "Done A\n\nGet Outlook for Android<https://aka.ms/ghei36>",
            "Done A",
        ),
        ("Done A\n\nVon meinem iPhone gesendet", "Done A"),
        ("Done A\n\nEnvoyé de mon iPad", "Done A"),
        ("Done A\n\nSent via Superhuman", "Done A"),
        (
            "Done A\n\nRegards,\n\nJon Smith\nHead of Platform, ACME\n+1 555 0100",
            "Done A",
        ),
        ("Done A\n\n-Jon", "Done A"),
        // What the person typed stays: a single-name sign-off, and a sentence that looks like a footer.
        ("Done A\n\nThanks,\nJon", "Done A\n\nThanks,\nJon"),
        (
            "Sent from my desk, which is nicer than my phone.",
            "Sent from my desk, which is nicer than my phone.",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(trim_reply(input), want, "{input:?}");
    }
}

#[test]
fn our_own_prompt_coming_back_unquoted_is_cut() {
    let reply = "Released 2.4\n\nWhat did you get done today?\nReply to this email; each line becomes a done.";
    assert_eq!(trim_reply(reply), "Released 2.4");
}

#[test]
fn own_text_is_kept_exactly() {
    let reply = "\n\n  First line  \n\n\n- item one\n  * nested\n\n1. numbered   \n\n\n";
    assert_eq!(
        trim_reply(reply),
        "First line\n\n\n- item one\n  * nested\n\n1. numbered"
    );
    assert_eq!(trim_reply("a\r\nb\r\n"), "a\nb");
}

#[test]
fn interleaved_reply_keeps_answers_not_quotes() {
    let reply = "On Mon, Mar 4, 2024 at 6:00 PM Lead <lead@x.example> wrote:\n\
                 > Did the migration finish?\n\nYes, all green.\n\n> And the docs?\n\nMerged this morning.\n";
    assert_eq!(trim_reply(reply), "Yes, all green.\n\nMerged this morning.");
}

#[test]
fn reply_and_attribution_on_one_line() {
    assert_eq!(
        trim_reply("Done it On Mon, Mar 4, 2024 at 6:00 PM, x@y.example wrote:\n> q"),
        "Done it"
    );
}

#[test]
fn trim_input_plain_text_and_errors() {
    assert_eq!(trim_input(b"").expect("empty is fine"), "");
    assert_eq!(trim_input(b" \n\t\n").expect("blank is fine"), "");
    assert_eq!(
        trim_input(b"Caf\xe9 \x93done\x94\n> q\n").expect("latin-1"),
        "Café “done”"
    );
    assert_eq!(
        trim_input(b"\xEF\xBB\xBFShipped\n").expect("bom"),
        "Shipped"
    );
    assert!(matches!(
        trim_input(b"PK\x03\x04\x00\x00binary"),
        Err(ParseError::Binary { .. })
    ));
    let headers_only_text = b"Date: Friday\nTime: 7am\n\nBring your ID\n";
    assert_eq!(
        trim_input(headers_only_text).expect("text"),
        "Date: Friday\nTime: 7am\n\nBring your ID"
    );
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ,.:@<>|*_=-]{0,30}",
        "(> ?){1,3}[a-zA-Z0-9 ,.:@<>-]{0,30}",
        Just("On Mon, Mar 4, 2024 at 6:00 PM Bob <b@x.example> wrote:".to_string()),
        Just("From: Bob <b@x.example>".to_string()),
        Just("Sent: Monday".to_string()),
        Just("-- ".to_string()),
        Just("```".to_string()),
        Just("---------- Forwarded message ----------".to_string()),
        Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn quoted_lines_never_come_out(lines in proptest::collection::vec(line(), 0..30)) {
        let input = lines.join("\n");
        let is_quote = |l: &str| l.starts_with('>') && !bots::email::trim::is_banner(l);
        let quoted: Vec<&str> = lines.iter().map(|l| l.trim()).filter(|l| is_quote(l)).collect();
        for out in trim_reply(&input).lines() {
            prop_assert!(!is_quote(out.trim()), "quote came out: {out:?}");
            prop_assert!(!quoted.contains(&out.trim()), "quoted line came out: {out:?}");
        }
    }
}

#[test]
fn a_banner_between_arrows_is_not_a_quote() {
    let reply = "Visit us now\n>>> >>>  http://www.example.com <<<\nthanks";
    assert_eq!(trim_reply(reply), reply);
    assert_eq!(
        trim_reply("shipped it\n\n>> quoted <\n> more"),
        "shipped it"
    );
}

#[test]
fn done_lines_that_look_like_footers_stay() {
    let reply = "Sent from the shared account the March invoices\nSent via FedEx: samples to Acme";
    assert_eq!(trim_reply(reply), reply);
    let reply = "Packed the booth\n\nSent via DHL to Acme: 40 samples\nUpdated the tracker";
    assert_eq!(trim_reply(reply), reply);
    let reply = "2024-03-05 10:00 standup with Bob\n\n----- Notes -----\nall good";
    assert_eq!(trim_reply(reply), reply);
}
