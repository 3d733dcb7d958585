//! The upgrade request to the upstream, on a connection of its own, and
//! what the client is answered: the upstream's `101` (then the relay
//! starts), its refusal as it is, or the gateway's own error.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use floodgate_tower::response::{error_body, json_response};
use http::header::{self, HeaderValue, RETRY_AFTER};
use http::{Extensions, Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::budget::Budget;
use super::{relay, WebSockets};
use crate::gateway::proxy::{strip_hop_by_hop, upstream_parts, Gateway};

/// Extensions the gateway cannot relay: it reads and writes the frames,
/// so no extension (such as `permessage-deflate`) may change them.
const SEC_WEBSOCKET_EXTENSIONS: &str = "sec-websocket-extensions";

/// Forwards the upgrade request `req` (already allowed by the rules) to
/// the upstream and, when it switches protocols, relays the connection.
pub async fn forward(
    gw: &Gateway,
    ws: &Arc<WebSockets>,
    peer: SocketAddr,
    mut req: Request<Body>,
) -> Response<Body> {
    let Some(slot) = ws.admit() else {
        return too_many(ws);
    };
    // Taken before the request is taken apart: the client's side of the
    // connection once the 101 is sent.
    let client_side: Option<OnUpgrade> = req.extensions_mut().remove::<OnUpgrade>();
    let budget = match Budget::for_request(ws, peer, &req) {
        Ok(b) => b,
        Err(e) => {
            return json_response(
                StatusCode::UNAUTHORIZED,
                error_body("unauthorized", &e.to_string()),
            )
        }
    };
    let (parts, body) = req.into_parts();
    let mut parts = match upstream_parts(gw, peer, parts) {
        Ok(p) => p,
        Err(answer) => return *answer,
    };
    parts.extensions = Extensions::new();
    let h = &mut parts.headers;
    h.remove(SEC_WEBSOCKET_EXTENSIONS);
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    let outgoing = Request::from_parts(parts, body);

    let mut resp = match ask(gw, ws, outgoing).await {
        Ok(r) => r,
        Err(answer) => return *answer,
    };
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    let upstream_side = hyper::upgrade::on(&mut resp);
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if !switching {
        // The upstream refused the upgrade: its answer passes as it is.
        ws.metrics.websocket().not_opened("upstream_declined");
        return Response::from_parts(parts, Body::new(body));
    }
    let Some(client_side) = client_side else {
        // Only a request served by the listener carries its connection.
        ws.metrics.websocket().not_opened("upstream_error");
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_body("internal_error", "This connection cannot be upgraded."),
        );
    };
    parts.headers.remove(SEC_WEBSOCKET_EXTENSIONS);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    parts
        .headers
        .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    ws.metrics.websocket().opened();
    let ws = ws.clone();
    tokio::spawn(async move {
        match tokio::try_join!(client_side, upstream_side) {
            Ok((client, upstream)) => {
                relay::run(&ws, TokioIo::new(client), TokioIo::new(upstream), budget).await;
            }
            Err(e) => {
                ws.metrics.websocket().closed("client_error");
                tracing::debug!(error = %e, "WebSocket upgrade not completed");
            }
        }
        drop(slot);
    });
    Response::from_parts(parts, Body::empty())
}

/// The 503 of an upgrade past `max_connections`.
fn too_many(ws: &WebSockets) -> Response<Body> {
    ws.metrics.websocket().not_opened("refused");
    ws.warn(
        "max_connections",
        "WebSocket upgrade refused: too many connections open (503)",
    );
    let mut r = json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        error_body(
            "too_many_websockets",
            "Too many WebSocket connections are open. Retry later.",
        ),
    );
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// The upstream's answer to the upgrade request, or the gateway's own
/// (502, 504) when it has none in time.
async fn ask(
    gw: &Gateway,
    ws: &WebSockets,
    outgoing: Request<Body>,
) -> Result<Response<hyper::body::Incoming>, Box<Response<Body>>> {
    let upstream = gw.upstream();
    let started = std::time::Instant::now();
    match tokio::time::timeout(upstream.timeout, send(upstream, outgoing)).await {
        Ok(Ok(resp)) => {
            gw.metrics()
                .upstream_response(resp.status().as_u16(), started.elapsed());
            Ok(resp)
        }
        Ok(Err(e)) => {
            gw.metrics().upstream_error("connect", started.elapsed());
            ws.metrics.websocket().not_opened("upstream_error");
            tracing::warn!(upstream = %upstream.base, error = %e, "WebSocket upgrade to the upstream failed");
            Err(Box::new(json_response(
                StatusCode::BAD_GATEWAY,
                error_body("bad_gateway", "The upstream service is unavailable."),
            )))
        }
        Err(_) => {
            gw.metrics().upstream_error("timeout", started.elapsed());
            ws.metrics.websocket().not_opened("upstream_error");
            tracing::warn!(upstream = %upstream.base, timeout = ?upstream.timeout, "WebSocket upgrade: the upstream did not answer in time");
            Err(Box::new(json_response(
                StatusCode::GATEWAY_TIMEOUT,
                error_body(
                    "gateway_timeout",
                    "The upstream service did not answer in time.",
                ),
            )))
        }
    }
}

/// Sends `req` to the upstream on a new connection that may switch
/// protocols.
async fn send(
    upstream: &crate::config::Upstream,
    req: Request<Body>,
) -> Result<Response<hyper::body::Incoming>, Box<dyn std::error::Error + Send + Sync>> {
    let authority = upstream
        .base
        .authority()
        .ok_or("the upstream has no authority")?;
    let port = authority.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((authority.host(), port)).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "WebSocket upstream connection ended");
        }
    });
    Ok(sender.send_request(req).await?)
}
