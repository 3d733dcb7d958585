//! The decision API for other gateways: `POST /v1/check` and the
//! concurrency slots over HTTP JSON, and Envoy's rate limit service over
//! gRPC. Each entry point loads the limiter once per request.
//!
//! # Layout
//!
//! - [`check`]: `POST /v1/check`.
//! - [`lease`]: `POST /v1/acquire`, `/v1/release`, `/v1/renew`.
//! - [`grpc`]: `ShouldRateLimit` and gRPC health checking.

pub mod check;
pub mod grpc;
pub mod lease;

use axum::routing::post;
use axum::Router;
use floodgate_tower::LimiterHandle;

/// The decision API's HTTP routes, deciding on `handle`: `POST /v1/check`,
/// `/v1/acquire`, `/v1/release`, `/v1/renew`.
pub fn router(handle: LimiterHandle) -> Router {
    Router::new()
        .route("/v1/check", post(check::check))
        .route("/v1/acquire", post(lease::acquire))
        .route("/v1/release", post(lease::release))
        .route("/v1/renew", post(lease::renew))
        .with_state(handle)
}
