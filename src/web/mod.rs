//! The HTTP side: the JSON API under `/api/v1`, `/healthz`, `/metrics`, inbound-mail webhooks, the
//! routes the chat channels declare (`/telegram/webhook`), and the pages behind the links in every
//! email (one-click unsubscribe, pause), and the web pages for people ([`pages`]: sign-in by a
//! link sent by email, the team's feed, search, settings; [`session`]: who is signed in).
//!
//! Handlers are thin: they authenticate, validate, and call [`App`] or storage. Errors map to
//! status codes in one place ([`ApiError`]).
//!
//! Invariant: every error answer, on every route, has one shape: `{"error": {"code": "...",
//! "message": "..."}}` with the matching status, or an HTML page on the pages people open from an
//! email ([`links`]). Handlers' errors get it from [`ApiError`]; the extractors' errors (bad JSON,
//! query or path, too large, wrong content type) from the handlers set on their configs; whatever
//! the framework answers on its own (unknown path, wrong method, a body over the payload limit)
//! from [`uniform_errors`], which rewrites any error answer that is not already JSON or HTML.

mod api;
mod auth;
mod client;
mod inbound;
mod links;
mod pages;
pub mod queues;
mod session;
mod tokens;

use std::net::TcpListener;

use actix_web::{
    App as HttpApp, HttpResponse, HttpServer, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{Server, ServiceRequest, ServiceResponse},
    error::{JsonPayloadError, PayloadError},
    http::{StatusCode, header},
    middleware::{Next, from_fn},
    web,
};

use crate::app::App;
use crate::error::AppError;

pub use api::MemberView;
pub use auth::ControlToken;
pub use inbound::InboundSink;
pub use tokens::TokenView;

/// Starts the web server on an already bound listener.
pub fn start(
    app: App,
    control: ControlToken,
    sink: InboundSink,
    channels: crate::channels::Running,
    listener: TcpListener,
) -> std::io::Result<Server> {
    let routes: Vec<bots::channel::Route> = channels.all().flat_map(|c| c.routes()).collect();
    // One for every worker: the limit is per client, whichever worker answers it.
    let ask_limiter = web::Data::new(client::AskLimiter::default());
    let server = HttpServer::new(move || {
        let mut http = HttpApp::new()
            .app_data(web::Data::new(app.clone()))
            .app_data(ask_limiter.clone())
            .app_data(web::Data::new(control.clone()))
            .app_data(web::Data::new(sink.clone()))
            .app_data(
                web::JsonConfig::default()
                    .limit(JSON_LIMIT)
                    .error_handler(|e, _| json_error(e).into()),
            )
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                HttpError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("invalid query string: {}", source_text(&e)),
                )
                .into()
            }))
            .app_data(web::PathConfig::default().error_handler(|e, _| {
                HttpError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no such path: {}", source_text(&e)),
                )
                .into()
            }))
            .app_data(web::PayloadConfig::new(app.settings.inbound_max_bytes))
            .wrap(from_fn(uniform_errors))
            .default_service(web::to(unknown_path))
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(api::metrics))
            .service(
                web::scope("/api/v1")
                    .configure(api::routes)
                    .service(method_check()),
            )
            .configure(inbound::routes)
            .configure(links::routes)
            .configure(pages::routes);
        for route in &routes {
            let handler = route.handler.clone();
            let app = app.clone();
            http = http.route(
                &route.path,
                web::post().to(move |req: actix_web::HttpRequest, body: web::Bytes| {
                    channel_route(app.clone(), handler.clone(), req, body)
                }),
            );
        }
        http.service(method_check())
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}

/// A chat channel's route (a webhook): the channel checks and answers; the app only carries it.
async fn channel_route(
    app: App,
    handler: std::sync::Arc<dyn bots::channel::RouteHandler>,
    req: actix_web::HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let answer = handler
        .handle(bots::channel::HttpRequest {
            headers,
            body: body.to_vec(),
            now: app.now(),
        })
        .await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if answer.body.is_null() {
        // Nothing to say (Slack shows a JSON body of a slash command's answer as a message).
        return HttpResponse::build(status).finish();
    }
    HttpResponse::build(status).json(answer.body)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// The largest JSON body a route that takes one accepts.
const JSON_LIMIT: usize = 1 << 20;

/// Registered after every other route of its router: a resource with no routes of its own, so its
/// built-in default answers every request that reached it. The router has by then tried (and
/// recorded the methods of) every resource whose path matches, so that answer is `405` with an
/// `Allow` header when the path exists under another method, and `405` without one when no path
/// matched, which [`uniform_errors`] turns into a `404`. This keeps the `405` right without each
/// route file having to group its routes by path.
fn method_check() -> actix_web::Resource {
    web::resource("/{any:.*}")
}

async fn unknown_path(req: actix_web::HttpRequest) -> HttpError {
    HttpError::not_found(req.path())
}

/// The innermost error's text, without actix's own prefixes ("Query deserialize error: ").
fn source_text(e: &dyn std::error::Error) -> String {
    e.source().map_or_else(|| e.to_string(), |s| s.to_string())
}

fn json_error(e: JsonPayloadError) -> HttpError {
    match e {
        JsonPayloadError::OverflowKnownLength { .. }
        | JsonPayloadError::Overflow { .. }
        | JsonPayloadError::Payload(PayloadError::Overflow) => HttpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the JSON body is larger than {JSON_LIMIT} bytes"),
        ),
        JsonPayloadError::ContentType => HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected a JSON body (Content-Type: application/json)",
        ),
        JsonPayloadError::Deserialize(e) => HttpError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("invalid JSON body: {e}"),
        ),
        other => HttpError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("cannot read the body: {other}"),
        ),
    }
}

/// Gives the framework's own error answers (empty `404`/`405`, plain-text `413`, a handler's
/// error that is not an [`ApiError`]) the one error shape: JSON, or HTML on the pages for people.
async fn uniform_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Handlers' and extractors' errors arrive as responses (actix renders them in the handler's
    // service); an `Err` here could only come from a middleware inside this one, and there is none.
    // (The request cannot be cloned beforehand to answer one: routing needs it unshared.)
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(res);
    }
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        return Ok(res);
    }
    let allow = res.headers().get(header::ALLOW).cloned();
    let error = match (status, &allow) {
        (StatusCode::METHOD_NOT_ALLOWED, None) => HttpError::not_found(res.request().path()),
        (StatusCode::METHOD_NOT_ALLOWED, Some(allow)) => HttpError::new(
            status,
            "method_not_allowed",
            format!(
                "{} is not allowed on {}; allowed: {}",
                res.request().method(),
                res.request().path(),
                allow.to_str().unwrap_or_default()
            ),
        ),
        _ => {
            let message = res
                .response()
                .error()
                .map(|e| e.to_string())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
            HttpError::new(status, status_code_name(status), message)
        }
    };
    let path = res.request().path();
    let mut answer = if links::is_page(path) {
        links::error_page(error.status, &error.message)
    } else if pages::is_page(path) {
        pages::error_page(error.status, &error.message)
    } else {
        error.error_response()
    };
    if let Some(allow) = allow.filter(|_| status == StatusCode::METHOD_NOT_ALLOWED) {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(res.into_response(answer))
}

/// The `code` of an error known only by its status.
fn status_code_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    }
}

/// An error answer by status, code and message: the one body shape every error has.
#[derive(Debug)]
pub struct HttpError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl HttpError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            code,
            message: message.into(),
        }
    }

    fn not_found(path: &str) -> HttpError {
        HttpError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such path: {path}"),
        )
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        }))
    }
}

impl actix_web::Responder for HttpError {
    type Body = BoxBody;

    fn respond_to(self, _: &actix_web::HttpRequest) -> HttpResponse {
        self.error_response()
    }
}

/// An [`AppError`] as an HTTP answer.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl ApiError {
    /// The machine-readable `code` of the error body.
    fn code(&self) -> &'static str {
        match &self.0 {
            AppError::Invalid(_) => "invalid",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::Unavailable(_) => "unavailable",
            AppError::Storage(_) => "internal",
        }
    }

    /// The text for the client: everything but an internal failure, whose details are for the
    /// operator's log only.
    fn message(&self) -> String {
        match &self.0 {
            AppError::Storage(_) => "internal error; the server's log has the details".into(),
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            AppError::Invalid(_) => StatusCode::BAD_REQUEST,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self.0, AppError::Storage(_)) {
            tracing::error!(error = %self.0, "request failed");
        }
        HttpError::new(self.status_code(), self.code(), self.message()).error_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
