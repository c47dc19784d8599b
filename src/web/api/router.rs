//! The one list of the API's routes, used twice: [`Router::serving`] registers each with actix,
//! [`Router::listing`] only records it, so a test can check that the OpenAPI document describes
//! exactly the routes the server answers (`openapi::tests`).
//!
//! Invariant: every route under `/api/v1` is declared through a [`Router`], never with
//! `ServiceConfig::route` directly, or the document can silently miss it.

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};

pub struct Router<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    listed: Vec<(Method, &'static str)>,
}

impl<'a> Router<'a> {
    /// Registers every declared route on `cfg`.
    pub fn serving(cfg: &'a mut web::ServiceConfig) -> Router<'a> {
        Router {
            cfg: Some(cfg),
            listed: Vec::new(),
        }
    }

    /// Only records the declared routes.
    pub fn listing() -> Router<'static> {
        Router {
            cfg: None,
            listed: Vec::new(),
        }
    }

    /// The routes declared so far: method and path (relative to `/api/v1`), in order.
    pub fn listed(&self) -> &[(Method, &'static str)] {
        &self.listed
    }

    pub fn route<F, Args>(&mut self, method: Method, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        if let Some(cfg) = self.cfg.as_deref_mut() {
            cfg.route(path, web::method(method.clone()).to(handler));
        }
        self.listed.push((method, path));
        self
    }

    pub fn get<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::GET, path, handler)
    }

    pub fn post<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::POST, path, handler)
    }

    pub fn patch<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::PATCH, path, handler)
    }

    pub fn delete<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::DELETE, path, handler)
    }
}
