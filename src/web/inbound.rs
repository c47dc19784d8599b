//! Inbound mail over HTTP. Every endpoint answers `200` only once the message is durable in the
//! inbound log (the same `InboundMail` path as the SMTP listener):
//! - `POST /inbound/email`: the raw RFC 5322 message as the body (envelope in optional
//!   `X-Envelope-From` / `X-Envelope-To` headers);
//! - `POST /inbound/sendgrid?secret=S`: SendGrid Inbound Parse in raw mode (`multipart/form-data`
//!   with the message in the `email` field and the envelope as JSON in `envelope`);
//! - `POST /inbound/mailgun`: a Mailgun route in MIME mode (`body-mime`, `recipient`, `sender`),
//!   verified by `signature == hex(HMAC-SHA256(key, timestamp + token))`, with old timestamps and
//!   reused tokens refused.
//!
//! Multipart form bodies are parsed with mailparse (they are MIME), so no extra parser is needed.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::{HttpRequest, HttpResponse, web};
use bots::bus::{InboundMail, InboundRefused};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::app::App;
use crate::domain::token::constant_time_eq;
use crate::error::AppError;
use crate::web::ApiResult;

/// The inbound actor, as the web server sees it.
#[derive(Clone)]
pub struct InboundSink(pub actix::Recipient<InboundMail>);

/// Mailgun posts older than this are refused (replay protection).
const MAILGUN_MAX_AGE_SECS: i64 = 300;

/// Mailgun tokens seen recently, with their timestamps (replay protection).
#[derive(Default)]
pub struct SeenTokens(Mutex<HashMap<String, i64>>);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(SeenTokens::default()))
        .route("/inbound/email", web::post().to(raw_email))
        .route("/inbound/sendgrid", web::post().to(sendgrid))
        .route("/inbound/mailgun", web::post().to(mailgun));
}

async fn deliver(req: &HttpRequest, mail: InboundMail) -> ApiResult<HttpResponse> {
    let sink = req
        .app_data::<web::Data<InboundSink>>()
        .ok_or_else(|| AppError::Unavailable("inbound mail is not being accepted".into()))?;
    match sink.0.send(mail).await {
        Ok(Ok(accepted)) => Ok(HttpResponse::Ok().json(serde_json::json!({ "id": accepted.id }))),
        Ok(Err(InboundRefused::Permanent(m))) => Err(AppError::Invalid(m).into()),
        Ok(Err(InboundRefused::Transient(m))) => Err(AppError::Unavailable(m).into()),
        Err(e) => Err(AppError::Unavailable(e.to_string()).into()),
    }
}

async fn raw_email(req: HttpRequest, body: web::Bytes) -> ApiResult<HttpResponse> {
    if body.is_empty() {
        return Err(AppError::Invalid(
            "empty body: POST the raw message (RFC 5322) as the body".into(),
        )
        .into());
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let rcpt_to = header("X-Envelope-To")
        .map(|v| split_addresses(&v))
        .unwrap_or_default();
    let mail = InboundMail {
        via: "http",
        mail_from: header("X-Envelope-From").unwrap_or_default(),
        rcpt_to,
        raw: body.to_vec(),
    };
    deliver(&req, mail).await
}

#[derive(serde::Deserialize)]
struct SecretQuery {
    secret: Option<String>,
}

async fn sendgrid(
    req: HttpRequest,
    app: web::Data<App>,
    q: web::Query<SecretQuery>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let Some(secret) = &app.settings.sendgrid_secret else {
        return Err(AppError::NotFound(
            "/inbound/sendgrid (set [inbound_http] sendgrid_secret to enable it)".into(),
        )
        .into());
    };
    if !q
        .secret
        .as_deref()
        .is_some_and(|s| constant_time_eq(s.as_bytes(), secret.as_bytes()))
    {
        return Err(AppError::Unauthorized("wrong or missing ?secret=".into()).into());
    }
    let fields = form_fields(&req, &body)?;
    let raw = fields.get("email").ok_or_else(|| {
        AppError::Invalid(
            "no `email` field: enable \"POST the raw, full MIME message\" in SendGrid".into(),
        )
    })?;
    let (mail_from, rcpt_to) = match fields
        .get("envelope")
        .map(|e| serde_json::from_slice::<serde_json::Value>(e))
    {
        Some(Ok(env)) => (
            env["from"].as_str().unwrap_or_default().to_string(),
            env["to"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Some(Err(e)) => {
            return Err(AppError::Invalid(format!("`envelope` is not JSON: {e}")).into());
        }
        None => (
            String::new(),
            fields
                .get("to")
                .map(|t| split_addresses(&String::from_utf8_lossy(t)))
                .unwrap_or_default(),
        ),
    };
    deliver(
        &req,
        InboundMail {
            via: "sendgrid",
            mail_from,
            rcpt_to,
            raw: raw.clone(),
        },
    )
    .await
}

async fn mailgun(
    req: HttpRequest,
    app: web::Data<App>,
    seen: web::Data<SeenTokens>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let Some(key) = &app.settings.mailgun_signing_key else {
        return Err(AppError::NotFound(
            "/inbound/mailgun (set [inbound_http] mailgun_signing_key to enable it)".into(),
        )
        .into());
    };
    let fields = form_fields(&req, &body)?;
    let text = |name: &str| {
        fields
            .get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    let (timestamp, token, signature) = (text("timestamp"), text("token"), text("signature"));
    let mut mac =
        <Hmac<Sha256>>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    let expected = data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes());
    if token.is_empty()
        || !constant_time_eq(
            expected.as_bytes(),
            signature.to_ascii_lowercase().as_bytes(),
        )
    {
        return Err(AppError::Unauthorized("bad Mailgun signature".into()).into());
    }
    let now = app.now().timestamp();
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| AppError::Unauthorized("bad Mailgun timestamp".into()))?;
    if (now - ts).abs() > MAILGUN_MAX_AGE_SECS {
        return Err(AppError::Unauthorized("Mailgun timestamp too old (replay?)".into()).into());
    }
    {
        let mut seen = seen.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, t| now - *t <= MAILGUN_MAX_AGE_SECS);
        if seen.insert(token, ts).is_some() {
            return Err(AppError::Unauthorized("Mailgun token reused (replay?)".into()).into());
        }
    }
    let raw = fields.get("body-mime").ok_or_else(|| {
        AppError::Invalid("no `body-mime` field: forward to a URL ending in \"mime\"".into())
    })?;
    let rcpt_to = split_addresses(&text("recipient"));
    deliver(
        &req,
        InboundMail {
            via: "mailgun",
            mail_from: text("sender"),
            rcpt_to,
            raw: raw.clone(),
        },
    )
    .await
}

fn split_addresses(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

/// The fields of a `multipart/form-data` or `application/x-www-form-urlencoded` body.
fn form_fields(req: &HttpRequest, body: &[u8]) -> Result<HashMap<String, Vec<u8>>, AppError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| AppError::Invalid(format!("bad form body: {e}")))?;
        return Ok(pairs
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect());
    }
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(AppError::Invalid(format!(
            "expected multipart/form-data, got {content_type:?}"
        )));
    }
    let mut mime = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
    mime.extend_from_slice(body);
    let parsed = mailparse::parse_mail(&mime)
        .map_err(|e| AppError::Invalid(format!("bad multipart body: {e}")))?;
    let mut fields = HashMap::new();
    for part in &parsed.subparts {
        let disposition = part.get_content_disposition();
        if let Some(name) = disposition.params.get("name") {
            let value = part
                .get_body_raw()
                .map_err(|e| AppError::Invalid(format!("bad field {name:?}: {e}")))?;
            fields.insert(name.clone(), value);
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix::{Actor, Context, Handler};
    use actix_web::{App as HttpApp, test};
    use bots::bus::InboundAccepted;

    use super::*;
    use crate::clock::ManualClock;

    /// Records what reached the inbound actor and accepts it.
    #[derive(Default)]
    struct Recorder(Arc<Mutex<Vec<InboundMail>>>);

    impl Actor for Recorder {
        type Context = Context<Self>;
    }

    impl Handler<InboundMail> for Recorder {
        type Result = Result<InboundAccepted, InboundRefused>;
        fn handle(&mut self, m: InboundMail, _: &mut Context<Self>) -> Self::Result {
            let mut got = self.0.lock().unwrap();
            got.push(m);
            Ok(InboundAccepted {
                id: got.len() as u64,
            })
        }
    }

    const NOW: i64 = 1_780_000_000;

    fn app() -> App {
        let mut config = crate::config::Config::default();
        config.inbound_http.sendgrid_secret = Some("s3cret".into());
        config.inbound_http.mailgun_signing_key = Some("key-abc".into());
        let settings = config.validate("test").unwrap();
        let clock = ManualClock::new(chrono::DateTime::from_timestamp(NOW, 0).unwrap());
        App::new(
            storage::Store::temporary().unwrap(),
            settings,
            Arc::new(clock),
        )
        .unwrap()
    }

    fn multipart(fields: &[(&str, &str)]) -> (String, Vec<u8>) {
        let boundary = "xYzZY";
        let mut body = String::new();
        for (name, value) in fields {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        (
            format!("multipart/form-data; boundary={boundary}"),
            body.into_bytes(),
        )
    }

    fn signature(timestamp: &str, token: &str) -> String {
        let mut mac = <Hmac<Sha256>>::new_from_slice(b"key-abc").unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(token.as_bytes());
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    }

    const RAW: &str = "From: ada@example.com\r\nTo: reply+abc@donebot.localhost\r\nSubject: Re: hi\r\n\r\nshipped it\r\n";

    #[actix_rt::test]
    async fn sendgrid_raw_mode_is_accepted_only_with_the_secret() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = InboundSink(Recorder(got.clone()).start().recipient());
        let svc = test::init_service(
            HttpApp::new()
                .app_data(web::Data::new(app()))
                .app_data(web::Data::new(sink))
                .configure(routes),
        )
        .await;
        let envelope = r#"{"to":["reply+abc@donebot.localhost"],"from":"ada@example.com"}"#;
        let (ct, body) = multipart(&[("email", RAW), ("envelope", envelope), ("to", "x@y")]);

        let wrong = test::TestRequest::post()
            .uri("/inbound/sendgrid?secret=nope")
            .insert_header(("content-type", ct.as_str()))
            .set_payload(body.clone())
            .to_request();
        assert_eq!(test::call_service(&svc, wrong).await.status(), 401);
        assert!(got.lock().unwrap().is_empty());

        let ok = test::TestRequest::post()
            .uri("/inbound/sendgrid?secret=s3cret")
            .insert_header(("content-type", ct.as_str()))
            .set_payload(body)
            .to_request();
        assert_eq!(test::call_service(&svc, ok).await.status(), 200);
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].raw, RAW.as_bytes());
        assert_eq!(got[0].rcpt_to, ["reply+abc@donebot.localhost"]);
        assert_eq!(
            (got[0].via, got[0].mail_from.as_str()),
            ("sendgrid", "ada@example.com")
        );
    }

    #[actix_rt::test]
    async fn mailgun_posts_are_verified_and_not_replayable() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = InboundSink(Recorder(got.clone()).start().recipient());
        let svc = test::init_service(
            HttpApp::new()
                .app_data(web::Data::new(app()))
                .app_data(web::Data::new(sink))
                .configure(routes),
        )
        .await;
        let ts = NOW.to_string();
        let post = |fields: &[(&str, &str)]| {
            let (ct, body) = multipart(fields);
            test::TestRequest::post()
                .uri("/inbound/mailgun")
                .insert_header(("content-type", ct))
                .set_payload(body)
                .to_request()
        };
        let sig = signature(&ts, "tok1");
        let good = [
            ("body-mime", RAW),
            ("recipient", "reply+abc@donebot.localhost"),
            ("sender", "ada@example.com"),
            ("timestamp", ts.as_str()),
            ("token", "tok1"),
            ("signature", sig.as_str()),
        ];
        assert_eq!(test::call_service(&svc, post(&good)).await.status(), 200);
        assert_eq!(
            test::call_service(&svc, post(&good)).await.status(),
            401,
            "a reused token is a replay"
        );

        let forged = [
            ("body-mime", RAW),
            ("timestamp", ts.as_str()),
            ("token", "tok2"),
            ("signature", sig.as_str()),
        ];
        assert_eq!(test::call_service(&svc, post(&forged)).await.status(), 401);
        let old_ts = (NOW - 3600).to_string();
        let old_sig = signature(&old_ts, "tok3");
        let old = [
            ("body-mime", RAW),
            ("timestamp", old_ts.as_str()),
            ("token", "tok3"),
            ("signature", old_sig.as_str()),
        ];
        assert_eq!(test::call_service(&svc, post(&old)).await.status(), 401);

        let got = got.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].via, got[0].raw.as_slice()),
            ("mailgun", RAW.as_bytes())
        );
    }
}
