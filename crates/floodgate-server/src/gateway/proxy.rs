//! The gateway: forwards allowed requests to the upstream over pooled
//! keep-alive connections, streaming bodies both ways.
//!
//! Hop-by-hop headers (and those named in `Connection`) are dropped in both
//! directions; `X-Forwarded-For`, `Forwarded`, `X-Forwarded-Proto` and
//! `X-Forwarded-Host` are added. Upstream unreachable → 502, too slow →
//! 504, both with a JSON body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use floodgate_tower::response::{error_body, json_response};
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use floodgate_tower::headers::FLOODGATE_DEGRADED;
use floodgate_tower::Degraded;

use crate::config::Upstream;
use crate::gateway::overload::Overload;
use crate::gateway::websocket::{self, WebSockets};
use crate::observe::metrics::Metrics;

/// Headers that belong to one connection, not to the message.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The gateway's shared state: one pointer, cloned for every request.
#[derive(Clone)]
pub struct Gateway(Arc<Shared>);

impl std::ops::Deref for Gateway {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What a [`Gateway`] holds.
pub struct Shared {
    /// One per serving thread (see [`workers`](crate::net::workers)).
    clients: Vec<Client<HttpConnector, Body>>,
    upstream: Arc<Upstream>,
    metrics: Arc<Metrics>,
    overload: Option<Arc<Overload>>,
    websocket: Option<Arc<WebSockets>>,
}

impl Gateway {
    /// A gateway to `upstream`, served by `threads` serving threads.
    pub fn new(
        upstream: Upstream,
        metrics: Arc<Metrics>,
        overload: Option<Arc<Overload>>,
        websocket: Option<Arc<WebSockets>>,
        threads: usize,
    ) -> Gateway {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(upstream.timeout.min(Duration::from_secs(5))));
        let clients = (0..threads.max(1))
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(60))
                    .pool_max_idle_per_host(256)
                    .build(connector.clone())
            })
            .collect();
        Gateway(Arc::new(Shared {
            clients,
            upstream: Arc::new(upstream),
            metrics,
            overload,
            websocket,
        }))
    }

    /// The client of the serving thread this runs on: its pooled
    /// connections' tasks run on this thread, so a request wakes no other.
    fn client(&self) -> &Client<HttpConnector, Body> {
        let i = crate::net::workers::current().unwrap_or(0);
        &self.clients[i % self.clients.len()]
    }

    /// The upstream.
    pub(crate) fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in HOP_BY_HOP {
        headers.remove(*h);
    }
}

fn forwarded_for(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("\"[{v6}]\""),
    }
}

/// Whether forwarding failed because the request body was cut at the
/// listener's `max_body`.
fn body_too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The request's head as the upstream gets it: its URI on the upstream,
/// hop-by-hop headers dropped, forwarding headers added; or the answer
/// when it cannot be forwarded.
pub(crate) fn upstream_parts(
    gw: &Gateway,
    peer: SocketAddr,
    mut parts: http::request::Parts,
) -> Result<http::request::Parts, Box<Response<Body>>> {
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_string();
    let base = &gw.upstream.base;
    let uri = match Uri::builder()
        .scheme(base.scheme_str().unwrap_or("http"))
        .authority(base.authority().map_or("", |a| a.as_str()))
        .path_and_query(path_and_query)
        .build()
    {
        Ok(u) => u,
        Err(e) => {
            return Err(Box::new(json_response(
                StatusCode::BAD_REQUEST,
                error_body("bad_request", &format!("cannot forward this URI: {e}")),
            )))
        }
    };
    let original_host = parts.headers.get(header::HOST).cloned();
    strip_hop_by_hop(&mut parts.headers);
    // A client naming it in `Connection` must not hide the soft-limit
    // marker from the upstream.
    if let Some(d) = parts.extensions.get::<Degraded>() {
        parts.headers.insert(FLOODGATE_DEGRADED, d.header_value());
    }
    let h = &mut parts.headers;
    let peer_ip = peer.ip();
    let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {peer_ip}"),
        None => peer_ip.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert("x-forwarded-for", v);
    }
    let mut fwd = format!("for={};proto=http", forwarded_for(peer_ip));
    if let Some(host) = original_host.as_ref().and_then(|v| v.to_str().ok()) {
        if host
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b';' && b != b',')
        {
            fwd.push_str(&format!(";host=\"{host}\""));
        }
    }
    let fwd = match h.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {fwd}"),
        None => fwd,
    };
    if let Ok(v) = HeaderValue::from_str(&fwd) {
        h.insert(header::FORWARDED, v);
    }
    if !h.contains_key("x-forwarded-proto") {
        h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    }
    if let Some(host) = original_host {
        if !h.contains_key("x-forwarded-host") {
            h.insert("x-forwarded-host", host);
        }
    }
    if let Some(a) = base.authority() {
        if let Ok(v) = HeaderValue::from_str(a.as_str()) {
            h.insert(header::HOST, v);
        }
    }
    parts.uri = uri;
    parts.version = http::Version::HTTP_11;
    Ok(parts)
}

/// The axum handler: forwards the request as it is (a WebSocket upgrade
/// to [`websocket::forward`] when the gateway proxies them).
pub async fn forward(
    State(gw): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response<Body> {
    if let Some(ws) = &gw.websocket {
        if websocket::is_upgrade(&req) {
            return websocket::forward(&gw, ws, peer, req).await;
        }
    }
    let (parts, body) = req.into_parts();
    let parts = match upstream_parts(&gw, peer, parts) {
        Ok(p) => p,
        Err(answer) => return *answer,
    };
    let outgoing = Request::from_parts(parts, body);

    let started = Instant::now();
    match tokio::time::timeout(gw.upstream.timeout, gw.client().request(outgoing)).await {
        Ok(Ok(resp)) => {
            let elapsed = started.elapsed();
            gw.metrics
                .upstream_response(resp.status().as_u16(), elapsed);
            if let Some(o) = &gw.overload {
                o.sample(elapsed, false);
            }
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        // The request body went past `max_body` while it was forwarded:
        // the client's fault, not the upstream's.
        Ok(Err(e)) if body_too_large(&e) => json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            error_body("payload_too_large", "The request body is too large."),
        ),
        Ok(Err(e)) => {
            gw.metrics.upstream_error("connect", started.elapsed());
            if let Some(o) = &gw.overload {
                o.sample(started.elapsed(), true);
            }
            tracing::warn!(upstream = %gw.upstream.base, error = %e, "upstream request failed");
            json_response(
                StatusCode::BAD_GATEWAY,
                error_body("bad_gateway", "The upstream service is unavailable."),
            )
        }
        Err(_) => {
            gw.metrics.upstream_error("timeout", started.elapsed());
            if let Some(o) = &gw.overload {
                o.sample(started.elapsed(), true);
            }
            tracing::warn!(upstream = %gw.upstream.base, timeout = ?gw.upstream.timeout, "upstream timed out");
            json_response(
                StatusCode::GATEWAY_TIMEOUT,
                error_body(
                    "gateway_timeout",
                    "The upstream service did not answer in time.",
                ),
            )
        }
    }
}
