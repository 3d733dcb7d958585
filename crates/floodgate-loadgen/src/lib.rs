//! `floodgate-loadgen`: an open-loop load generator for Floodgate and any
//! HTTP API (and Envoy's rate limit service API over gRPC). It sends requests on a schedule (a steady rate with peaks)
//! from many clients (API keys or source addresses), measures latency
//! without coordinated omission, counts 200/429/other/errors and, given
//! the floodgate policy, compares how many requests were allowed with how
//! many should have been.
//!
//! # Layout
//!
//! - [`schedule`]: rate profile → exact send times (pure).
//! - [`keys`]: which client sends each request (uniform, zipf, round robin)
//!   and its API key or address (pure).
//! - [`scenario`]: the scenario file and presets.
//! - [`client`]: connection pools and the request of each client.
//! - [`grpc`]: gRPC mode, Envoy's `ShouldRateLimit` over HTTP/2.
//! - [`record`]: `Outcome` and `Record`, what became of each request.
//! - [`run`]: open-loop dispatcher and closed-loop workers.
//! - [`expect`]: the policy replay (expected verdicts).
//! - [`report`]: percentiles, counts, accuracy; text and JSON.
//! - [`upstream`]: a tiny upstream for benchmarks.
//! - `error`: [`Error`], what can go wrong before a run starts.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use floodgate_loadgen::schedule::{Arrivals, RateProfile};
//!
//! let times = RateProfile::steady(4.0, Duration::from_secs(1)).send_times(Arrivals::Uniform, 0);
//! assert_eq!(times, [0, 250, 500, 750].map(Duration::from_millis));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
mod error;
pub mod expect;
pub mod grpc;
pub mod keys;
pub mod record;
pub mod report;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod upstream;

pub use error::Error;

/// Runs `scenario` and reports; with `policy`, replays it for the
/// accuracy figure.
pub async fn run_and_report(
    scenario: &scenario::Scenario,
    load: run::Load,
    policy: Option<&floodgate_config::ConfigFile>,
) -> report::Report {
    let result = run::run(scenario, load).await;
    let expected = match policy {
        Some(config) => {
            let clients = client::Clients::new(scenario);
            Some(expect::expected(config, &clients, &result).await)
        }
        None => None,
    };
    let offered = matches!(load, run::Load::Open)
        .then(|| scenario.profile.total() / scenario.profile.duration.as_secs_f64());
    report::Report::new(
        &scenario.name,
        scenario.mode,
        &scenario.url.to_string(),
        offered,
        &result,
        expected.as_deref(),
    )
}
