use std::collections::HashMap;
use std::sync::Arc;

use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;

use super::*;

const MAIL: &str = "From: Ada <ada@example.org>\r\nTo: donebot@done.example\r\nSubject: done\r\nMessage-ID: <m1@example.org>\r\n\r\nShipped the release\r\n";

/// A signing key and the TXT record that publishes it.
fn key() -> (Ed25519Key, String) {
    let der = Ed25519Key::generate_pkcs8().unwrap();
    let key = Ed25519Key::from_pkcs8_der(&der).unwrap();
    let record = format!(
        "v=DKIM1; k=ed25519; p={}",
        data_encoding::BASE64.encode(&key.public_key())
    );
    (key, record)
}

fn sign(key: Ed25519Key, domain: &str, raw: &str) -> String {
    let sig = DkimSigner::from_key(key)
        .domain(domain)
        .selector("s1")
        .headers(["From", "To", "Subject", "Message-ID"])
        .sign(raw.as_bytes())
        .unwrap();
    format!("{}{raw}", sig.to_header())
}

fn checker(records: &[(&str, &str)], authserv_id: Option<&str>) -> Checker {
    let table: HashMap<String, String> = records
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let keys = KeySource::Static(Arc::new(table)).resolver();
    Checker::new(authserv_id.map(str::to_string), keys)
}

#[actix_rt::test]
async fn a_good_signature_by_the_from_domain_authenticates() {
    let (k, record) = key();
    let signed = sign(k, "example.org", MAIL);
    let c = checker(&[("s1._domainkey.example.org.", &record)], None);
    assert_eq!(
        c.authenticate(signed.as_bytes()).await.map(|s| s.by),
        Ok(Authenticated::Dkim {
            domain: "example.org".into()
        })
    );
    // A parent domain's signature aligns with a subdomain's From (relaxed alignment).
    let (k, record) = key();
    let sub = MAIL.replace("ada@example.org", "ada@mail.example.org");
    let signed = sign(k, "example.org", &sub);
    let c = checker(&[("s1._domainkey.example.org.", &record)], None);
    assert!(c.authenticate(signed.as_bytes()).await.is_ok());
}

#[actix_rt::test]
async fn a_body_changed_after_signing_does_not_authenticate() {
    let (k, record) = key();
    let signed = sign(k, "example.org", MAIL).replace("Shipped the release", "Deleted prod");
    let c = checker(&[("s1._domainkey.example.org.", &record)], None);
    assert!(matches!(
        c.authenticate(signed.as_bytes()).await,
        Err(AuthError::Failed { .. })
    ));
}

#[actix_rt::test]
async fn a_key_for_another_domain_does_not_authenticate() {
    // Signed, validly, by the attacker's own domain: not aligned with From.
    let (k, record) = key();
    let signed = sign(k, "evil.example", MAIL);
    let c = checker(&[("s1._domainkey.evil.example.", &record)], None);
    let got = c.authenticate(signed.as_bytes()).await;
    assert!(
        matches!(&got, Err(AuthError::Failed { why, .. }) if why.contains("evil.example")),
        "{got:?}"
    );
    // Claiming d=example.org with the attacker's key: example.org publishes another key.
    let (evil, _) = key();
    let (_, published) = key();
    let signed = sign(evil, "example.org", MAIL);
    let c = checker(&[("s1._domainkey.example.org.", &published)], None);
    assert!(c.authenticate(signed.as_bytes()).await.is_err());
    // And no key published at all.
    let (k, _) = key();
    let signed = sign(k, "example.org", MAIL);
    assert!(
        checker(&[], None)
            .authenticate(signed.as_bytes())
            .await
            .is_err()
    );
}

#[actix_rt::test]
async fn a_missing_signature_does_not_authenticate() {
    let c = checker(&[], Some("mx.done.example"));
    assert_eq!(
        c.authenticate(MAIL.as_bytes()).await,
        Err(AuthError::Unsigned)
    );
    let two_froms = format!("From: eve@evil.example\r\n{MAIL}");
    assert!(matches!(
        c.authenticate(two_froms.as_bytes()).await,
        Err(AuthError::ManyFroms(2))
    ));
}

#[actix_rt::test]
async fn only_the_topmost_authentication_results_of_our_mta_count() {
    let c = checker(&[], Some("mx.done.example"));
    let with = |headers: &str| format!("{headers}{MAIL}");
    let pass = "Authentication-Results: mx.done.example; spf=pass smtp.mailfrom=example.org; dkim=pass (good) header.d=example.org header.s=s1\r\n";
    assert_eq!(
        c.authenticate(with(pass).as_bytes()).await.map(|s| s.by),
        Ok(Authenticated::AuthenticationResults {
            method: "dkim".into()
        })
    );
    let dmarc = "Authentication-Results: MX.done.example 1; dmarc=pass (p=reject) header.from=example.org\r\n";
    assert!(c.authenticate(with(dmarc).as_bytes()).await.is_ok());

    // Our MTA said fail on top; a forged pass below it (written by the sender) does not count.
    let fail = "Authentication-Results: mx.done.example; dkim=fail header.d=example.org\r\n";
    assert_eq!(
        c.authenticate(with(&format!("{fail}{pass}")).as_bytes())
            .await,
        Err(AuthError::Unsigned)
    );
    // Another server's results, and a pass for another domain, do not count.
    let other = pass.replace("mx.done.example", "mx.evil.example");
    assert!(c.authenticate(with(&other).as_bytes()).await.is_err());
    let wrong_domain = pass.replace("header.d=example.org", "header.d=evil.example");
    assert!(
        c.authenticate(with(&wrong_domain).as_bytes())
            .await
            .is_err()
    );
    let dmarc_other = dmarc.replace("header.from=example.org", "header.from=evil.example");
    assert!(c.authenticate(with(&dmarc_other).as_bytes()).await.is_err());
    // Without a configured authserv-id, none counts.
    assert!(
        checker(&[], None)
            .authenticate(with(pass).as_bytes())
            .await
            .is_err()
    );
}

#[test]
fn alignment_is_the_domain_or_a_parent_with_a_dot() {
    assert!(aligned("example.org", "example.org"));
    assert!(aligned("Example.org.", "mail.example.org"));
    assert!(!aligned("org", "example.org"));
    assert!(!aligned("ample.org", "example.org"));
    assert!(!aligned("mail.example.org", "example.org"));
}

#[test]
fn results_drop_comments_and_split_on_semicolons() {
    assert_eq!(
        results("mx.a (x; y) ; dkim=pass (sig; ok) header.d=b.c; dmarc=pass \"q;r\""),
        ["mx.a", "dkim=pass  header.d=b.c", "dmarc=pass \"q;r\""]
    );
}
