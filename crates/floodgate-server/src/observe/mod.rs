//! What the data plane tells operators: Prometheus metrics and logs
//! (tracing setup and the rate-limited rejection log).
//!
//! # Layout
//!
//! - [`metrics`]: Prometheus text exposition.
//! - [`logs`]: tracing setup and the rejection log.

pub mod logs;
pub mod metrics;
