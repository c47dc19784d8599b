//! Inbound mail over HTTP: `POST /inbound/email` takes one raw RFC 5322 message as the body.
//! The answer is `200` only once the message is durable in the inbound log.

use actix_web::{HttpRequest, HttpResponse, web};
use bots::bus::{InboundMail, InboundRefused};

use crate::error::AppError;
use crate::web::ApiResult;

/// The inbound actor, as the web server sees it.
#[derive(Clone)]
pub struct InboundSink(pub actix::Recipient<InboundMail>);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/inbound/email", web::post().to(raw_email));
}

async fn raw_email(req: HttpRequest, body: web::Bytes) -> ApiResult<HttpResponse> {
    if body.is_empty() {
        return Err(AppError::Invalid(
            "empty body: POST the raw message (RFC 5322) as the body".into(),
        )
        .into());
    }
    let sink = req
        .app_data::<web::Data<InboundSink>>()
        .ok_or_else(|| AppError::Unavailable("inbound mail is not being accepted".into()))?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let rcpt_to = header("X-Envelope-To")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    let mail = InboundMail {
        via: "http",
        mail_from: header("X-Envelope-From").unwrap_or_default(),
        rcpt_to,
        raw: body.to_vec(),
    };
    match sink.0.send(mail).await {
        Ok(Ok(accepted)) => Ok(HttpResponse::Ok().json(serde_json::json!({ "id": accepted.id }))),
        Ok(Err(InboundRefused::Permanent(m))) => Err(AppError::Invalid(m).into()),
        Ok(Err(InboundRefused::Transient(m))) => Err(AppError::Unavailable(m).into()),
        Err(e) => Err(AppError::Unavailable(e.to_string()).into()),
    }
}
