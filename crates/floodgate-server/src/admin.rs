//! The admin listener: `POST /v1/check` (the decision API, in
//! [`check`](crate::check)), `/metrics`, `/healthz`, `/readyz`, the admin
//! API under `/v1/` and its description, `GET /v1/openapi.json`, and the
//! dashboard under `/dashboard` (its own login, see
//! [`dashboard`](crate::dashboard)). A method
//! an endpoint does not answer gets a JSON 405 (`method_not_allowed`).
//! With admin tokens configured, every endpoint but the health checks wants
//! `Authorization: Bearer <token>` and a role that allows it (see
//! [`auth`](crate::auth)); the tokens follow config reloads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use floodgate_tower::response::{error_body, json_response};
use floodgate_tower::LimiterHandle;
use http::{HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::auth::{self, Auth};
use crate::metrics::Metrics;

/// The admin listener's state, shared: every request gets a clone of
/// one `Arc` (one reference count), whatever the state holds.
#[derive(Clone)]
pub struct Admin(Arc<AdminState>);

impl Admin {
    /// The state, shared.
    pub fn new(state: AdminState) -> Admin {
        Admin(Arc::new(state))
    }
}

impl std::ops::Deref for Admin {
    type Target = AdminState;
    fn deref(&self) -> &AdminState {
        &self.0
    }
}

/// What the admin listener's handlers reach.
pub struct AdminState {
    /// The limiter the public listener uses.
    pub handle: LimiterHandle,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Admin tokens and failed attempts (tokens swapped by reloads).
    pub auth: Arc<Auth>,
    /// False once shutdown has begun.
    pub ready: Arc<AtomicBool>,
    /// The live policy (the admin API changes it).
    pub live: Arc<crate::live::LivePolicy>,
    /// The dashboard: analytics and sessions.
    pub dashboard: Arc<crate::dashboard::Dashboard>,
}

async fn metrics(State(admin): State<Admin>) -> Response<Body> {
    let mut r = Response::new(Body::from(
        admin
            .metrics
            .render(admin.handle.limiter().policy(), admin.live.version()),
    ));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn healthz() -> Response<Body> {
    json_response(StatusCode::OK, json!({"status": "ok"}).to_string())
}

async fn readyz(State(admin): State<Admin>) -> Response<Body> {
    if admin.ready.load(Ordering::SeqCst) {
        json_response(StatusCode::OK, json!({"status": "ready"}).to_string())
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "shutting_down"}).to_string(),
        )
    }
}

/// A route that exists, asked with a method it does not answer.
async fn method_not_allowed(method: http::Method) -> Response<Body> {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        error_body(
            "method_not_allowed",
            &format!("this admin endpoint does not answer {method}"),
        ),
    )
}

/// The admin router.
pub fn router(admin: Admin) -> Router {
    let protected = Router::new()
        .route("/v1/check", post(crate::check::check))
        .route("/v1/acquire", post(crate::lease::acquire))
        .route("/v1/release", post(crate::lease::release))
        .route("/v1/renew", post(crate::lease::renew))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(crate::openapi::serve))
        .merge(crate::api::router())
        .route_layer(middleware::from_fn_with_state(
            admin.auth.clone(),
            auth::require,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::dashboard::router())
        .merge(protected)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(|| async {
            json_response::<Body>(
                StatusCode::NOT_FOUND,
                error_body("not_found", "no such admin endpoint"),
            )
        })
        .with_state(admin)
}
