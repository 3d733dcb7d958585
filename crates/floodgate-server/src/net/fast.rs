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
//!
//! A route is answered from two places: hyper's connection (any request
//! to it), and the listener's own HTTP/1.1 lane (`raw`), which answers the
//! plain ones (a `Content-Length` body within `max_body`) with the body
//! already read. The handler sees the same [`Head`] and [`PendingBody`]
//! from both.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderValue, Method, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

use super::shared::Shared;

/// A fast route's handler.
pub type Handler =
    Arc<dyn Fn(Head, PendingBody, SocketAddr) -> BoxFuture<'static, Response<Body>> + Send + Sync>;

/// What a fast route's handler asks before it decides anything: may the
/// peer, with this `Authorization` header, call the route? A refusal is
/// the answer to send. (The server's wiring gives the admin tokens'
/// check; the listener knows nothing of tokens.)
pub type Admit = Arc<
    dyn Fn(std::net::IpAddr, Option<&HeaderValue>) -> Result<(), Box<Response<Body>>> + Send + Sync,
>;

/// What a fast route's handler sees of the request head: its method and
/// path are the route's.
pub struct Head {
    /// The `Authorization` header, if any.
    pub authorization: Option<HeaderValue>,
}

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

    /// The route's method.
    pub(super) fn method(&self) -> &Method {
        &self.method
    }

    /// The route's path.
    pub(super) fn path(&self) -> &'static str {
        self.path
    }

    /// Answers a request whose `body` is read already (and within
    /// `max_body`).
    pub(super) fn call_read(
        &self,
        shared: &Arc<Shared>,
        head: Head,
        body: Bytes,
        peer: SocketAddr,
    ) -> BoxFuture<'static, Response<Body>> {
        let body = PendingBody {
            body: Pending::Read(body),
            shared: shared.clone(),
        };
        (self.handler)(head, body, peer)
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
        let head = Head {
            authorization: parts.headers.get(http::header::AUTHORIZATION).cloned(),
        };
        let body = PendingBody {
            body: Pending::Incoming(body),
            shared: shared.clone(),
        };
        (self.handler)(head, body, peer)
    }
}

/// A request body, perhaps not read yet, with its listener's bound.
pub struct PendingBody {
    body: Pending,
    shared: Arc<Shared>,
}

enum Pending {
    /// Still on the connection (hyper's).
    Incoming(Incoming),
    /// Read already, within the bound.
    Read(Bytes),
}

impl PendingBody {
    /// The whole body, or the answer when it cannot be had: the JSON 413
    /// past `max_body`, a JSON 400 when the client broke off.
    pub async fn bytes(self) -> Result<Bytes, Response<Body>> {
        let body = match self.body {
            Pending::Read(bytes) => return Ok(bytes),
            Pending::Incoming(body) => body,
        };
        let max = self.shared.limits.max_body;
        let limit = usize::try_from(max).unwrap_or(usize::MAX);
        match Limited::new(body, limit).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                self.shared.body_too_large(None);
                Err(super::body::too_large(max))
            }
            Err(e) => Err(super::body::cut_short(e)),
        }
    }
}
