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
