//! Replies over real SMTP become exactly the work typed in them: sign-offs in several languages,
//! a name or a signature block under them, "Sent from my iPhone" after them, Outlook and Gmail
//! quote headers, `goal:`/`blocker:` lines before them — none of it becomes a done, and the next
//! morning's digest lists only the work. A work line shaped like a footer ("Sent via DHL …") in
//! the middle of a reply stays, with every line after it.

mod common;

use common::{Donebot, NEW_YORK, Sink, local, smtp_send};
use donebot::events::Event;

const ADA: &str = "ada@example.org";

/// A reply as a client sends it: `body` exactly as typed (with whatever closing and quote the
/// client put under it).
fn mail(reply_to: &str, message_id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Ada Lovelace <{ADA}>\nTo: {reply_to}\nSubject: Re: What did you get done today?\nDate: Wed, 15 Apr 2026 18:05:00 -0400\nMessage-ID: <{message_id}>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}\n"
    )
    .replace('\n', "\r\n")
    .into_bytes()
}

/// (what Ada sends, the dones recorded as the digest shows them).
fn cases(to: &str) -> Vec<(String, Vec<&'static str>)> {
    let gmail = format!(
        "On Wed, Apr 15, 2026 at 6:00 PM donebot <{to}> wrote:\n> What did you get done today?\n>\n> Hi Ada, just reply to this email."
    );
    vec![
        (
            format!("Interviewed two candidates\n\nThanks,\nBob\n\n{gmail}"),
            vec!["Interviewed two candidates"],
        ),
        (
            "Kundenworkshop in München vorbereitet\n\nViele Grüße\nJonas\n\nVon meinem iPhone gesendet".into(),
            vec!["Kundenworkshop in München vorbereitet"],
        ),
        (
            format!("Corrigé le bug d'export CSV\n\nCordialement,\nÉlise Martin\n\nEnvoyé de mon iPhone\n\nLe mer. 15 avr. 2026 à 18:00, donebot <{to}> a écrit :\n> What did you get done today?"),
            vec!["Corrigé le bug d'export CSV"],
        ),
        (
            format!("Terminé el informe trimestral\n\nSaludos,\nCarlos\n\nDe: donebot <{to}>\nEnviado: miércoles, 15 de abril de 2026 18:00\nPara: Ada\nAsunto: What did you get done today?\n\nWhat did you get done today?"),
            vec!["Terminé el informe trimestral"],
        ),
        (
            format!("Подготовил отчёт для клиента\n\nС уважением,\nИван\n\nОт: donebot <{to}>\nОтправлено: 15 апреля 2026 г. 18:00\nКому: Ada\nТема: What did you get done today?"),
            vec!["Подготовил отчёт для клиента"],
        ),
        (
            "新人研修の資料を作成\n\nよろしくお願いします。\n田中".into(),
            vec!["新人研修の資料を作成"],
        ),
        (
            "Closed the Q3 books\n\nBest,\nMaria Lopez\nFinance Lead | Northwind Traders\n+1 (415) 555-0199\nmaria@northwind.example".into(),
            vec!["Closed the Q3 books"],
        ),
        (
            "Met the Acme team in Berlin\n\nThanks!\nJen\n\nSent from my iPhone".into(),
            vec!["Met the Acme team in Berlin"],
        ),
        (
            format!("Onboarded two new customers\n\nKind regards,\nDavid\n\n________________________________\nFrom: donebot <{to}>\nSent: Wednesday, April 15, 2026 6:00 PM\nTo: Ada Lovelace <{ADA}>\nSubject: What did you get done today?\n\nWhat did you get done today?"),
            vec!["Onboarded two new customers"],
        ),
        (
            format!("Shipped the search filters\ngoal: launch the beta on Monday\nblocker: waiting on legal\n\nRegards,\nPriya\n\n2026-04-15 18:00 GMT-04:00 donebot <{to}>:\n\n> What did you get done today?"),
            vec!["Shipped the search filters", "Goal: launch the beta on Monday", "Blocker: waiting on legal"],
        ),
        (
            "Packed the trade show booth\nSent via DHL to Acme: 40 samples\nUpdated the shipping tracker\n\nCheers, Tom".into(),
            vec!["Packed the trade show booth", "Sent via DHL to Acme: 40 samples", "Updated the shipping tracker"],
        ),
    ]
}

/// A done as the digest shows it.
fn shown(d: &serde_json::Value) -> String {
    let label = match d["kind"].as_str() {
        Some("goal") => "Goal: ",
        Some("blocker") => "Blocker: ",
        _ => "",
    };
    format!("{label}{}", d["text"].as_str().unwrap_or_default())
}

#[actix_rt::test]
async fn sign_offs_names_footers_and_quote_headers_never_become_dones() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Sink::start();
    let mut d = Donebot::start(
        dir.path(),
        Some(sink.port),
        local(NEW_YORK, "2026-04-15", 12, 0),
    )
    .await;
    let team = d.create_team("Engines", "America/New_York").await;
    let ada = d.add_member(team, "Ada Lovelace", ADA).await;
    sink.next_of("welcome").await;

    d.set_clock(local(NEW_YORK, "2026-04-15", 18, 0)).await;
    let prompt_id = d
        .wait_for("the prompt", |e| match e {
            Event::PromptQueued { member, prompt, .. } if *member == ada => Some(*prompt),
            _ => None,
        })
        .await;
    let prompt = sink.next_of("prompt").await;
    let day = "2026-04-15".parse().unwrap();
    let token = d.server.app.signer.reply_token(prompt_id, ada, day);
    let reply_to = format!("reply+{token}@{}", common::DOMAIN);
    assert_eq!(prompt.reply_to(), reply_to);

    let mut all = Vec::new();
    for (n, (body, want)) in cases(&reply_to).into_iter().enumerate() {
        let raw = mail(&reply_to, &format!("ada-{n}@mail.example.org"), &body);
        assert_eq!(
            smtp_send(d.smtp_port(), ADA, &reply_to, &raw).await,
            Ok(250)
        );
        let ids = d
            .wait_for("the reply's dones", |e| match e {
                Event::DonesRecorded { dones, .. } => Some(dones.clone()),
                _ => None,
            })
            .await;
        let recorded = d.dones(team, "2026-04-15").await;
        let got: Vec<String> = recorded
            .iter()
            .filter(|r| r["id"].as_u64().is_some_and(|id| ids.contains(&id)))
            .map(shown)
            .collect();
        assert_eq!(got, want, "reply {n}:\n{body}");
        all.extend(want);
    }

    // Thursday 09:00: the digest lists the work, and only the work, in the order it came.
    d.set_clock(local(NEW_YORK, "2026-04-16", 9, 0)).await;
    let digest = sink.next_of("digest").await;
    let text = digest.text().replace("\r\n", "\n");
    let listed: String = all.iter().map(|l| format!("  - {l}\n")).collect();
    assert!(
        text.starts_with(&format!(
            "What Engines got done on Wednesday, April 15\n\nAda Lovelace\n{listed}\n"
        )),
        "{text}"
    );
    d.stop().await;
}
