//! A route a listener answers before its router: one method and path
//! whose handler takes the request head, its body and the peer, with no
//! router, extractors or middleware in between. The admin listener's
//! `POST /v1/check` (the decision API, called for every request of the
//! gateways that use it) is one; its handler must do what the router's
//! layers would: authenticate, and answer every error as JSON.
//!
//! The body bound holds as on the router: a `Content-Length` over
//! `max_body` gets the JSON 413 before the handler runs, and so does a
//! body that turns out longer when the handler reads it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::request::Parts;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

use super::Shared;

/// A fast route's handler.
pub type Handler =
    Arc<dyn Fn(Parts, PendingBody, SocketAddr) -> BoxFuture<'static, Response<Body>> + Send + Sync>;

/// One method and path, and its handler.
#[derive(Clone)]
pub struct FastRoute {
    method: Method,
    path: &'static str,
    handler: Handler,
}

impl FastRoute {
    /// `handler` answers `method` `path` (exactly: no query string
    /// matters, no other method); a `Content-Length` over `max_body` gets
    /// the JSON 413 first.
    pub fn new(method: Method, path: &'static str, handler: Handler) -> FastRoute {
        FastRoute {
            method,
            path,
            handler,
        }
    }

    /// Whether this route answers `req`.
    pub(super) fn matches<B>(&self, req: &http::Request<B>) -> bool {
        req.method() == self.method && req.uri().path() == self.path
    }

    /// Answers `req` from `peer`.
    pub(super) fn call(
        &self,
        shared: &Arc<Shared>,
        req: http::Request<Incoming>,
        peer: SocketAddr,
    ) -> BoxFuture<'static, Response<Body>> {
        let (parts, body) = req.into_parts();
        let max = shared.limits.max_body;
        let declared = super::body::declared_length(&parts.headers);
        if declared.is_some_and(|n| n > max) {
            shared.body_too_large(declared);
            let answer = super::linger::draining(super::body::too_large(max), body);
            return Box::pin(std::future::ready(answer));
        }
        let shared = shared.clone();
        (self.handler)(parts, PendingBody { body, shared }, peer)
    }
}

/// A request body not read yet, with its listener's bound.
pub struct PendingBody {
    body: Incoming,
    shared: Arc<Shared>,
}

impl PendingBody {
    /// The whole body, or the answer when it cannot be had: the JSON 413
    /// past `max_body`, a JSON 400 when the client broke off.
    pub async fn bytes(self) -> Result<Bytes, Response<Body>> {
        let max = self.shared.limits.max_body;
        let limit = usize::try_from(max).unwrap_or(usize::MAX);
        match Limited::new(self.body, limit).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                self.shared.body_too_large(None);
                Err(super::body::too_large(max))
            }
            Err(e) => Err(floodgate_tower::response::json_response(
                StatusCode::BAD_REQUEST,
                floodgate_tower::response::error_body(
                    "bad_request",
                    &format!("failed to read the request body: {e}"),
                ),
            )),
        }
    }
}
