//! The gRPC listener's services: Envoy's rate limit service
//! (`envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`) and gRPC
//! health checking (`grpc.health.v1.Health`), served on the shared
//! listener machinery over HTTP/2 with its bounds.
//!
//! # Layout
//!
//! - [`unary`]: `ShouldRateLimit` as the listener's fast route: framing,
//!   bounds, the answer.
//! - [`service`]: `ShouldRateLimit`: the request checked and decided.
//! - [`status`]: a verdict into the response: a status per descriptor,
//!   the overall code and the rate-limit headers.

pub mod service;
pub mod status;
pub mod unary;

use axum::Router;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::SERVICE_NAME;
use floodgate_tower::LimiterHandle;

use crate::listener::fast::FastRoute;

pub use service::RateLimits;

/// The gRPC services: `ShouldRateLimit` as a fast route (messages larger
/// than `max_message` bytes are refused, `OUT_OF_RANGE`, before they are
/// read whole), and the router for health checking. Other paths answer
/// HTTP 404, which gRPC clients read as `UNIMPLEMENTED`.
pub async fn router(handle: LimiterHandle, max_message: usize) -> (Router, FastRoute) {
    let rls = unary::route(RateLimits::new(handle), max_message);
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(SERVICE_NAME, tonic_health::ServingStatus::Serving)
        .await;
    let app = Router::new().route_service("/grpc.health.v1.Health/{method}", health);
    (app, rls)
}
