//! The gRPC listener's services: Envoy's rate limit service
//! (`envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`) and gRPC
//! health checking (`grpc.health.v1.Health`), served on the shared
//! listener machinery over HTTP/2 with its bounds.
//!
//! # Layout
//!
//! - [`conn`]: a connection served on the `h2` crate: its streams, the
//!   paths, health checking.
//! - [`unary`]: `ShouldRateLimit`'s framing, bounds and answer.
//! - [`service`]: `ShouldRateLimit`: the request checked and decided.
//! - [`status`]: a verdict into the response: a status per descriptor,
//!   the overall code and the rate-limit headers, as prost's message.
//! - [`encode`]: the same response written straight into its frame, as
//!   the service answers it.

pub mod conn;
pub mod encode;
pub mod service;
pub mod status;
pub mod unary;

use std::sync::Arc;

use floodgate_tower::LimiterHandle;

pub use conn::Grpc;
pub use service::RateLimits;

/// The gRPC services deciding on `handle`; messages larger than
/// `max_message` bytes are refused (`OUT_OF_RANGE`) before they are read
/// whole.
pub fn services(handle: LimiterHandle, max_message: usize) -> Arc<Grpc> {
    Grpc::new(RateLimits::new(handle), max_message)
}
