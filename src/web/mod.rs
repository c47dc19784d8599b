//! The HTTP side: the JSON API under `/api/v1`, `/healthz`, `/metrics`, inbound-mail webhooks, the
//! routes the chat channels declare (`/telegram/webhook`), and the pages behind the links in every
//! email (one-click unsubscribe, pause).
//!
//! Handlers are thin: they authenticate, validate, and call [`App`] or storage. Errors map to
//! status codes in one place ([`ApiError`]); bodies are `{"error": "..."}`.

mod api;
mod auth;
mod inbound;
mod links;
mod tokens;

use std::net::TcpListener;

use actix_web::{
    App as HttpApp, HttpResponse, HttpServer, ResponseError, dev::Server, http::StatusCode, web,
};

use crate::app::App;
use crate::error::AppError;

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
    let server = HttpServer::new(move || {
        let mut http = HttpApp::new()
            .app_data(web::Data::new(app.clone()))
            .app_data(web::Data::new(control.clone()))
            .app_data(web::Data::new(sink.clone()))
            .app_data(
                web::JsonConfig::default()
                    .limit(1 << 20)
                    .error_handler(|e, _| {
                        ApiError(AppError::Invalid(format!("invalid JSON body: {e}"))).into()
                    }),
            )
            .app_data(web::PayloadConfig::new(app.settings.inbound_max_bytes))
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(api::metrics))
            .service(web::scope("/api/v1").configure(api::routes))
            .configure(inbound::routes)
            .configure(links::routes);
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
        http
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
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({ "error": self.0.to_string() }))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
