//! The data plane's listeners: the public one (the gateway to the
//! upstream, or the demo endpoints, behind overload shedding and the
//! rate-limit layer) and the gRPC one (Envoy's rate limit service).

use std::sync::Arc;

use axum::Router;
use floodgate_tower::RateLimitLayer;
use tokio::sync::watch;

use super::parts::Parts;
use crate::config::Config;
use crate::decide::grpc;
use crate::gateway::websocket::WebSockets;
use crate::gateway::{demo, overload, proxy};
use crate::net::{Listener, Workers};

/// The public listener: its application behind the rate-limit layer;
/// `stop` also ends its WebSocket relays, which are returned so that the
/// shutdown can wait for them.
pub fn listener(
    config: &Config,
    parts: &Parts,
    workers: &Arc<Workers>,
    stop: &watch::Receiver<bool>,
) -> (Listener, Option<Arc<WebSockets>>) {
    let mut relays = None;
    let app: Router = match &config.upstream {
        Some(u) => {
            relays = u.websocket.clone().map(|s| {
                WebSockets::new(s, parts.metrics.clone(), parts.handle.clone(), stop.clone())
            });
            Router::new()
                .fallback(proxy::forward)
                .with_state(proxy::Gateway::new(
                    u.clone(),
                    parts.metrics.clone(),
                    parts.overload.clone(),
                    relays.clone(),
                    config.threads,
                ))
        }
        None => demo::router(),
    }
    .layer(RateLimitLayer::new(parts.handle.clone()));
    // Shedding comes first: a request past the in-flight bound costs no
    // decision and consumes no quota.
    let app = match &parts.overload {
        Some(o) => app.layer(axum::middleware::from_fn_with_state(
            o.clone(),
            overload::admit,
        )),
        None => app,
    };
    // The gateway's errors are JSON already, and its upstream's answers
    // pass as they are.
    let listener = Listener::new(
        "public",
        app,
        config.public_connections(),
        parts.metrics.clone(),
        config.upstream.is_none(),
    )
    .on(workers.clone());
    (listener, relays)
}

/// The gRPC listener, serving Envoy's rate limit service within its
/// bounds.
pub fn grpc_listener(config: &Config, parts: &Parts, workers: &Arc<Workers>) -> Listener {
    let limits = config.grpc_connections();
    let max_message = usize::try_from(limits.max_body).unwrap_or(usize::MAX);
    let services = grpc::services(parts.handle.clone(), max_message);
    Listener::grpc("grpc", services, limits, parts.metrics.clone()).on(workers.clone())
}
