//! Inbound mail over HTTP. Every endpoint answers `200` only once the message is durable in the
//! inbound log (the same `InboundMail` path as the SMTP listener), and each is off until its
//! secret is configured:
//! - `POST /inbound/email` (`[inbound_http] raw_secret`, sent as `Authorization: Bearer`): the
//!   raw RFC 5322 message as the body (envelope in optional `X-Envelope-From` / `X-Envelope-To`
//!   headers);
//! - `POST /inbound/sendgrid?secret=S` (`sendgrid_secret`): SendGrid Inbound Parse in raw mode;
//! - `POST /inbound/mailgun` (`mailgun_signing_key`): a Mailgun route in MIME mode, verified by
//!   its signature, with old timestamps and reused tokens refused. Seen tokens are kept in the
//!   database for the timestamp window: shared by every web worker, kept across restarts.
//!
//! The bodies are read by `bots::email::webhook`; this module owns the secrets and answers.

use actix_web::{HttpRequest, HttpResponse, web};
use bots::bus::{InboundMail, InboundRefused};
use bots::email::webhook::{self, WebhookError, WebhookMail};

use crate::app::App;
use crate::config::Secret;
use crate::error::AppError;
use crate::web::ApiResult;

/// The inbound actor, as the web server sees it.
#[derive(Clone)]
pub struct InboundSink(pub actix::Recipient<InboundMail>);

/// Mailgun posts older than this are refused (replay protection); tokens are remembered as long.
const MAILGUN_MAX_AGE_SECS: i64 = 300;
/// Longer Mailgun tokens are refused before they are remembered (Mailgun's are 50 characters).
const MAX_TOKEN_LEN: usize = 256;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/inbound/email", web::post().to(raw_email))
        .route("/inbound/sendgrid", web::post().to(sendgrid))
        .route("/inbound/mailgun", web::post().to(mailgun));
}

async fn deliver(
    req: &HttpRequest,
    via: &'static str,
    mail: WebhookMail,
) -> ApiResult<HttpResponse> {
    let sink = req
        .app_data::<web::Data<InboundSink>>()
        .ok_or_else(|| AppError::Unavailable("inbound mail is not being accepted".into()))?;
    let mail = InboundMail {
        via,
        mail_from: mail.mail_from,
        rcpt_to: mail.rcpt_to,
        raw: mail.raw,
    };
    match sink.0.send(mail).await {
        Ok(Ok(accepted)) => Ok(HttpResponse::Ok().json(serde_json::json!({ "id": accepted.id }))),
        Ok(Err(InboundRefused::Permanent(m))) => Err(AppError::Invalid(m).into()),
        Ok(Err(InboundRefused::Transient(m))) => Err(AppError::Unavailable(m).into()),
        Err(e) => Err(AppError::Unavailable(e.to_string()).into()),
    }
}

/// The endpoint's secret, or `404` naming the key that turns it on.
fn enabled<'a>(secret: &'a Option<Secret>, path: &str, key: &str) -> Result<&'a Secret, AppError> {
    secret.as_ref().ok_or_else(|| {
        AppError::NotFound(format!("{path} (set [inbound_http] {key} to enable it)"))
    })
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn webhook_error(e: WebhookError) -> AppError {
    if e.is_unauthorized() {
        AppError::Unauthorized(e.to_string())
    } else {
        AppError::Invalid(e.to_string())
    }
}

async fn raw_email(
    req: HttpRequest,
    app: web::Data<App>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let secret = enabled(&app.settings.raw_secret, "/inbound/email", "raw_secret")?;
    let given = header(&req, "Authorization");
    if !given
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| secret.matches(t.trim()))
    {
        return Err(AppError::Unauthorized(
            "wrong or missing Authorization: Bearer <[inbound_http] raw_secret>".into(),
        )
        .into());
    }
    if body.is_empty() {
        return Err(AppError::Invalid(
            "empty body: POST the raw message (RFC 5322) as the body".into(),
        )
        .into());
    }
    let mail = WebhookMail {
        mail_from: header(&req, "X-Envelope-From").unwrap_or_default(),
        rcpt_to: header(&req, "X-Envelope-To")
            .map(|v| webhook::split_addresses(&v))
            .unwrap_or_default(),
        raw: body.to_vec(),
    };
    deliver(&req, "http", mail).await
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
    let secret = enabled(
        &app.settings.sendgrid_secret,
        "/inbound/sendgrid",
        "sendgrid_secret",
    )?;
    if !q.secret.as_deref().is_some_and(|s| secret.matches(s)) {
        return Err(AppError::Unauthorized("wrong or missing ?secret=".into()).into());
    }
    let content_type = header(&req, "Content-Type").unwrap_or_default();
    let mail = webhook::sendgrid(&content_type, &body).map_err(webhook_error)?;
    deliver(&req, "sendgrid", mail).await
}

async fn mailgun(
    req: HttpRequest,
    app: web::Data<App>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let key = enabled(
        &app.settings.mailgun_signing_key,
        "/inbound/mailgun",
        "mailgun_signing_key",
    )?;
    let content_type = header(&req, "Content-Type").unwrap_or_default();
    let now = app.now().timestamp();
    let post = webhook::mailgun(
        &content_type,
        &body,
        key.expose().as_bytes(),
        now,
        MAILGUN_MAX_AGE_SECS,
    )
    .map_err(webhook_error)?;
    if post.token.len() > MAX_TOKEN_LEN {
        return Err(AppError::Unauthorized("Mailgun token too long".into()).into());
    }
    let store = app.store.clone();
    let token = post.token.clone();
    let fresh =
        web::block(move || store.claim_nonce("mailgun", &token, now, 2 * MAILGUN_MAX_AGE_SECS))
            .await
            .map_err(|e| AppError::Unavailable(e.to_string()))?
            .map_err(AppError::from)?;
    if !fresh {
        return Err(AppError::Unauthorized("Mailgun token reused (replay?)".into()).into());
    }
    deliver(&req, "mailgun", post.mail).await
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use actix::{Actor, Context, Handler};
    use actix_web::{App as HttpApp, test};
    use bots::bus::InboundAccepted;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

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
    const SENDGRID: &str = "sendgrid-secret-0123";
    const MAILGUN: &str = "key-mailgun-0123456789";
    const RAW_SECRET: &str = "raw-secret-0123456789";

    fn app_on(store: storage::Store, raw_secret: Option<&str>) -> App {
        let mut config = crate::config::Config::default();
        config.inbound_http.sendgrid_secret = Some(SENDGRID.into());
        config.inbound_http.mailgun_signing_key = Some(MAILGUN.into());
        config.inbound_http.raw_secret = raw_secret.map(str::to_string);
        let settings = config.validate("test").unwrap();
        let clock = ManualClock::new(chrono::DateTime::from_timestamp(NOW, 0).unwrap());
        App::new(store, settings, Arc::new(clock)).unwrap()
    }

    fn app() -> App {
        app_on(storage::Store::temporary().unwrap(), Some(RAW_SECRET))
    }

    macro_rules! service {
        ($app:expr, $got:expr) => {
            test::init_service(
                HttpApp::new()
                    .app_data(web::Data::new($app))
                    .app_data(web::Data::new(InboundSink(
                        Recorder($got.clone()).start().recipient(),
                    )))
                    .configure(routes),
            )
            .await
        };
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
        let mut mac = <Hmac<Sha256>>::new_from_slice(MAILGUN.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(token.as_bytes());
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    }

    const RAW: &str = "From: ada@example.com\r\nTo: reply+abc@donebot.localhost\r\nSubject: Re: hi\r\n\r\nshipped it\r\n";

    #[actix_rt::test]
    async fn sendgrid_raw_mode_is_accepted_only_with_the_secret() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let svc = service!(app(), got);
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
            .uri(&format!("/inbound/sendgrid?secret={SENDGRID}"))
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
    async fn the_raw_endpoint_is_off_without_its_secret_and_needs_the_bearer() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let post = |auth: Option<&str>| {
            let mut req = test::TestRequest::post()
                .uri("/inbound/email")
                .set_payload(RAW);
            if let Some(a) = auth {
                req = req.insert_header(("Authorization", a.to_string()));
            }
            req.to_request()
        };
        let off = service!(app_on(storage::Store::temporary().unwrap(), None), got);
        assert_eq!(test::call_service(&off, post(None)).await.status(), 404);
        assert_eq!(
            test::call_service(&off, post(Some(&format!("Bearer {RAW_SECRET}"))))
                .await
                .status(),
            404
        );

        let on = service!(app(), got);
        assert_eq!(test::call_service(&on, post(None)).await.status(), 401);
        assert_eq!(
            test::call_service(&on, post(Some("Bearer raw-secret-012345678")))
                .await
                .status(),
            401
        );
        assert!(got.lock().unwrap().is_empty());
        assert_eq!(
            test::call_service(&on, post(Some(&format!("Bearer {RAW_SECRET}"))))
                .await
                .status(),
            200
        );
        assert_eq!(got.lock().unwrap().len(), 1);
    }

    #[actix_rt::test]
    async fn mailgun_posts_are_verified_and_not_replayable() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let svc = service!(app(), got);
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

    #[actix_rt::test]
    async fn a_mailgun_token_is_refused_by_another_worker() {
        let ts = NOW.to_string();
        let sig = signature(&ts, "tok-r");
        let fields = [
            ("body-mime", RAW),
            ("recipient", "reply+abc@donebot.localhost"),
            ("timestamp", ts.as_str()),
            ("token", "tok-r"),
            ("signature", sig.as_str()),
        ];
        let post = || {
            let (ct, body) = multipart(&fields);
            test::TestRequest::post()
                .uri("/inbound/mailgun")
                .insert_header(("content-type", ct))
                .set_payload(body)
                .to_request()
        };
        let got = Arc::new(Mutex::new(Vec::new()));
        let app = app_on(storage::Store::temporary().unwrap(), None);
        // Two workers: actix-web builds each one's app data (and, before, each one's set of
        // seen tokens) separately; what they share is the database.
        let first = service!(app.clone(), got);
        let second = service!(app, got);
        assert_eq!(test::call_service(&first, post()).await.status(), 200);
        assert_eq!(test::call_service(&second, post()).await.status(), 401);
        assert_eq!(got.lock().unwrap().len(), 1);
    }

    // `test` is actix-web's module here: the attribute is spelled out.
    #[::core::prelude::v1::test]
    fn remembered_tokens_survive_a_restart_and_are_forgotten_after_the_window() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = storage::Store::open(dir.path()).unwrap();
            assert!(store.claim_nonce("mailgun", "a", 1000, 600).unwrap());
        }
        // sled releases its lock once its background threads let go of the database: bounded.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let store = loop {
            match storage::Store::open(dir.path()) {
                Ok(s) => break s,
                Err(e) if std::time::Instant::now() < deadline => {
                    assert!(matches!(e, storage::StorageError::Locked { .. }), "{e}");
                    std::thread::yield_now();
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert!(!store.claim_nonce("mailgun", "a", 1500, 600).unwrap());
        assert!(store.claim_nonce("other", "a", 1500, 600).unwrap());
        assert!(store.claim_nonce("mailgun", "a", 1601, 600).unwrap());
    }
}
