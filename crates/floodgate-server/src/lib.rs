//! The Floodgate server: a gateway or demo API behind the rate-limit layer,
//! the admin listener (decision API, metrics, health), config reloads, and
//! `simulate`.
//!
//! # Layout
//!
//! - [`config`]: the config file as the server runs it (the document and
//!   its validation are `floodgate-config`'s); [`summary`] prints it.
//! - [`listener`]: the accept loop and connection bounds (timeouts,
//!   open connections, head and body sizes).
//! - [`server`]: `run(config, listeners, shutdown, reloads)`, `start`;
//!   the listeners and graceful shutdown.
//! - [`reload`]: config reloads, and the changes that need a restart.
//! - [`proxy`]: the gateway to the upstream.
//! - [`websocket`]: the gateway's WebSocket proxying, its bounds and
//!   message limits.
//! - [`demo`]: built-in demo endpoints.
//! - [`admin`]: the admin router: `/metrics`, `/healthz`, `/readyz`.
//! - [`analytics`]: bounded per-rule series and top identities.
//! - [`dashboard`]: `/dashboard`, its login, sessions and data.
//! - [`fleet`]: on Redis, each replica's report for the fleet view.
//! - [`auth`]: admin tokens, roles, and the admin router's middleware.
//! - [`check`]: `POST /v1/check`, the decision API.
//! - [`lease`]: `POST /v1/acquire`, `/v1/release` and `/v1/renew`, the
//!   decision API's concurrency slots.
//! - [`grpc`]: the gRPC listener's services: Envoy's rate limit
//!   service (`ShouldRateLimit`) and health checking.
//! - [`import`]: `floodgate import envoy-ratelimit`, reference
//!   configuration as a policy file.
//! - [`cli`]: `floodgate admin`, the admin API from the command line.
//! - [`openapi`]: `GET /v1/openapi.json`, the admin API's description.
//! - [`error`]: `ServerError`, `ReloadError`.
//! - [`metrics`]: Prometheus text exposition.
//! - [`logs`]: tracing setup and the rate-limited rejection log.
//! - [`simulate`]: replays a traffic trace through a policy.
//! - [`stores`]: the memory or Redis store, with its failure policy.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod analytics;
pub mod api;
pub mod auth;
pub mod check;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod error;
pub mod fleet;
pub mod grpc;
pub mod import;
pub mod lease;
pub mod listener;
pub mod live;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod overload;
pub mod proxy;
pub mod reload;
pub mod server;
pub mod simulate;
pub mod stores;
pub mod summary;
pub mod websocket;

pub use error::{ReloadError, ServerError};
pub use server::{run, start, Listeners, Options, Running};
