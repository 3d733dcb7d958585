//! The admin listener: `POST /v1/check` (the decision API, in
//! [`check`](crate::check)), `/metrics`, `/healthz`, `/readyz`. With
//! `admin.token` set, every endpoint but the health checks wants
//! `Authorization: Bearer <token>`; the token follows config reloads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::routing::{get, post};
use axum::Router;
use floodgate_tower::response::{error_body, json_response};
use floodgate_tower::LimiterHandle;
use http::{HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::metrics::Metrics;

/// The admin listener's state.
#[derive(Clone)]
pub struct Admin {
    /// The limiter the public listener uses.
    pub handle: LimiterHandle,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Required bearer token (swapped by reloads).
    pub token: Arc<ArcSwapOption<String>>,
    /// False once shutdown has begun.
    pub ready: Arc<AtomicBool>,
}

async fn metrics(State(admin): State<Admin>) -> Response<Body> {
    let mut r = Response::new(Body::from(admin.metrics.render()));
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

/// Compares without leaking the position of the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authenticate(State(admin): State<Admin>, req: Request, next: Next) -> Response<Body> {
    if let Some(token) = admin.token.load_full() {
        let given = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            let mut r = json_response(
                StatusCode::UNAUTHORIZED,
                error_body(
                    "unauthorized",
                    "this endpoint wants Authorization: Bearer <admin token>",
                ),
            );
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
            return r;
        }
    }
    next.run(req).await
}

/// The admin router.
pub fn router(admin: Admin) -> Router {
    let protected = Router::new()
        .route("/v1/check", post(crate::check::check))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(admin.clone(), authenticate));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(protected)
        .fallback(|| async {
            json_response::<Body>(
                StatusCode::NOT_FOUND,
                error_body("not_found", "no such admin endpoint"),
            )
        })
        .with_state(admin)
}
