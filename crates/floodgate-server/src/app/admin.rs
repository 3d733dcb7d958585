//! The admin listener: the data plane's own routes (`POST /v1/check` and
//! the leases, `/metrics`, `/healthz`, `/readyz`) beside the control
//! plane's (the admin API under `/v1/`, its description, the dashboard).
//! A method an endpoint does not answer gets a JSON 405
//! (`method_not_allowed`), an unknown path a JSON 404. With admin tokens
//! configured, every endpoint but the health checks and the dashboard
//! (which has its own login) wants `Authorization: Bearer <token>` and a
//! role that allows it; the tokens follow config reloads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::middleware;
use axum::routing::get;
use axum::Router;
use floodgate_admin::{auth, Control};
use floodgate_tower::response::{error_body, json_response};
use floodgate_tower::LimiterHandle;
use http::{HeaderValue, Method, Response, StatusCode};
use serde_json::json;

use super::parts::Parts;
use crate::config::Config;
use crate::decide::check;
use crate::net::fast::Admit;
use crate::net::{Listener, Workers};
use crate::observe::metrics::Metrics;

/// What `/metrics` and `/readyz` read.
#[derive(Clone)]
struct Health {
    metrics: Arc<Metrics>,
    handle: LimiterHandle,
    control: Control,
    ready: Arc<AtomicBool>,
}

async fn metrics(State(h): State<Health>) -> Response<Body> {
    let text = h
        .metrics
        .render(h.handle.limiter().policy(), h.control.live.version());
    let mut r = Response::new(Body::from(text));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn healthz() -> Response<Body> {
    json_response(StatusCode::OK, json!({"status": "ok"}).to_string())
}

async fn readyz(State(h): State<Health>) -> Response<Body> {
    if h.ready.load(Ordering::SeqCst) {
        json_response(StatusCode::OK, json!({"status": "ready"}).to_string())
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "shutting_down"}).to_string(),
        )
    }
}

/// A route that exists, asked with a method it does not answer.
async fn method_not_allowed(method: Method) -> Response<Body> {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        error_body(
            "method_not_allowed",
            &format!("this admin endpoint does not answer {method}"),
        ),
    )
}

/// The admin router.
fn router(parts: &Parts, control: &Control, ready: Arc<AtomicBool>) -> Router {
    let health = Health {
        metrics: parts.metrics.clone(),
        handle: parts.handle.clone(),
        control: control.clone(),
        ready,
    };
    let decisions = crate::decide::router(parts.handle.clone());
    let protected = Router::new()
        .route("/metrics", get(metrics))
        .with_state(health.clone())
        .merge(decisions)
        .merge(floodgate_admin::api_router(control.clone()))
        .route_layer(middleware::from_fn_with_state(
            control.auth.clone(),
            auth::require,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health)
        .merge(floodgate_admin::dashboard_router(control.clone()))
        .merge(protected)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(|| async {
            json_response::<Body>(
                StatusCode::NOT_FOUND,
                error_body("not_found", "no such admin endpoint"),
            )
        })
}

/// The admin tokens' check, as the decision API's fast route asks it.
fn admit(control: &Control) -> Admit {
    let auth = control.auth.clone();
    Arc::new(move |peer, authorization| {
        auth::authorize_header(&auth, Some(peer), &Method::POST, "/v1/check", authorization)
            .map(|_| ())
    })
}

/// The admin listener, with `POST /v1/check` on its fast route.
pub fn listener(
    config: &Config,
    parts: &Parts,
    control: &Control,
    ready: Arc<AtomicBool>,
    workers: Arc<Workers>,
) -> Listener {
    let app = router(parts, control, ready);
    Listener::new(
        "admin",
        app,
        config.admin_connections(),
        parts.metrics.clone(),
        true,
    )
    .with_fast_route(check::fast_route(parts.handle.clone(), admit(control)))
    .on(workers)
}
