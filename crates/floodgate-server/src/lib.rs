//! The Floodgate server: a gateway or demo API behind the rate-limit layer,
//! the admin listener (decision API, metrics, health), config reloads, and
//! `simulate`.
//!
//! # Layout
//!
//! - [`config`]: the YAML config file, parsed and validated.
//! - [`serve`]: starts the listeners; reloads; graceful shutdown.
//! - [`proxy`]: the gateway to the upstream.
//! - [`demo`]: built-in demo endpoints.
//! - [`admin`]: `POST /v1/check`, `/metrics`, `/healthz`, `/readyz`.
//! - [`metrics`]: Prometheus text exposition.
//! - [`logs`]: tracing setup and the rate-limited rejection log.
//! - [`simulate`]: replays a traffic trace through a policy.
//! - [`stores`]: the memory or Redis store, with its failure policy.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod config;
pub mod demo;
pub mod logs;
pub mod metrics;
pub mod proxy;
pub mod serve;
pub mod simulate;
pub mod stores;
