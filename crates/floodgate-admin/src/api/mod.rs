//! The admin API under `/v1/`: the live policy, rules, tiers, clients,
//! overrides, counters and history. Every change goes through
//! [`LivePolicy`](crate::live::LivePolicy): validated as the file is, kept,
//! applied and logged as an audit line naming its actor.
//!
//! # Layout
//!
//! - [`policy`]: the whole policy, its validation, history and rollback.
//! - [`resources`]: rules and tiers one by one.
//! - [`clients`]: API keys (stored only as digests).
//! - [`overrides`]: limits for one identity, with an expiry.
//! - [`counters`]: one identity's counters, inspected or reset.
//! - [`error`]: `ApiError` and its JSON answers.
//! - [`extract`]: what every route reads of a request (actor, `If-Match`,
//!   JSON bodies) and how a change is answered.

pub mod clients;
pub mod counters;
pub mod error;
pub mod extract;
pub mod overrides;
pub mod policy;
pub mod resources;

use axum::routing::{get, post, put};
use axum::Router;

use crate::control::Control;

/// The admin API's routes.
pub fn router() -> Router<Control> {
    Router::new()
        .route(
            "/v1/policy",
            get(policy::get_policy).put(policy::put_policy),
        )
        .route("/v1/policy/validate", post(policy::validate_policy))
        .route("/v1/policy/history", get(policy::history))
        .route("/v1/policy/rollback", post(policy::rollback))
        .route("/v1/rules", get(resources::list_rules))
        .route(
            "/v1/rules/{name}",
            get(resources::get_rule)
                .put(resources::put_rule)
                .delete(resources::delete_rule),
        )
        .route("/v1/tiers", get(resources::list_tiers))
        .route(
            "/v1/tiers/{name}",
            get(resources::get_tier)
                .put(resources::put_tier)
                .delete(resources::delete_tier),
        )
        .route(
            "/v1/clients",
            get(clients::list_clients).post(clients::create_client),
        )
        .route("/v1/clients/import", post(clients::import_clients))
        .route("/v1/clients/export", get(clients::export_clients))
        .route(
            "/v1/clients/{fingerprint}",
            get(clients::get_client)
                .patch(clients::patch_client)
                .delete(clients::delete_client),
        )
        .route("/v1/overrides", get(overrides::list_overrides))
        .route(
            "/v1/overrides/{rule}/{identity}",
            put(overrides::put_override)
                .get(overrides::get_override)
                .delete(overrides::delete_override),
        )
        .route(
            "/v1/counters",
            get(counters::inspect).delete(counters::reset),
        )
}
