//! What the data plane tells operators: Prometheus metrics and logs
//! (tracing setup and the rate-limited rejection log).
//!
//! # Layout
//!
//! - [`metrics`]: Prometheus text exposition.
//! - [`logs`]: tracing setup and the rejection log.
//! - [`log_limit`]: the `redis` crate's log floods held back and
//!   summarised.

pub mod log_limit;
pub mod logs;
pub mod metrics;
