//! Floodgate's control plane: the live policy and every change to it,
//! the admin API under `/v1/`, admin tokens, the dashboard, its
//! analytics, and the fleet view.
//!
//! It sees the data plane only through the [`LimiterHandle`] the live
//! policy swaps limiters into and the [`StoreView`] the server gives it;
//! the data plane never imports this crate's types (the server's wiring
//! joins the two).
//!
//! # Layout
//!
//! - [`control`]: the state every handler reaches ([`Control`]).
//! - [`live`]: the live policy: its version, history, backends and
//!   changes.
//! - [`api`]: the admin API's routes and errors.
//! - [`auth`]: admin tokens, roles, and the admin listener's middleware.
//! - [`dashboard`]: `/dashboard`, its login, sessions and data.
//! - [`analytics`]: bounded per-rule series and top identities, fed by
//!   the decisions.
//! - [`health`]: the store's health as the dashboard shows it.
//! - [`fleet`]: on Redis, each replica's report for the fleet view.
//! - [`openapi`]: `GET /v1/openapi.json`, the admin API's description.
//! - [`view`]: what the control plane reads of the data plane's store.
//! - [`response`]: the JSON error answers.
//!
//! [`LimiterHandle`]: floodgate_tower::LimiterHandle

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod analytics;
pub mod api;
pub mod auth;
pub mod control;
pub mod dashboard;
pub mod fleet;
pub mod health;
pub mod live;
pub mod openapi;
pub mod response;
pub mod view;

use axum::routing::get;
use axum::Router;

pub use control::{Control, ControlState};
pub use view::{RedisHealth, StoreView};

/// The admin API under `/v1/` and its description,
/// `GET /v1/openapi.json`: the caller puts them behind
/// [`auth::require`] with the other protected routes of its listener.
pub fn api_router(control: Control) -> Router {
    api::router()
        .route("/v1/openapi.json", get(openapi::serve))
        .with_state(control)
}

/// The dashboard under `/dashboard`, with its own login.
pub fn dashboard_router(control: Control) -> Router {
    dashboard::router().with_state(control)
}
