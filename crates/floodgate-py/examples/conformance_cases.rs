//! Prints the conformance cases of `floodgate-testkit` as JSON, each
//! limit in the policy document's form, for the Python package's tests
//! (`tests/test_conformance.py`) to replay through the Python API.
//!
//! `cargo run -p floodgate-py --example conformance_cases > cases.json`

use floodgate_config::units::{format_duration, format_rate};
use floodgate_core::{LeakMode, Quota, RetryAfter};
use floodgate_testkit::{cases, Step, BASE_US};
use serde_json::{json, Value};

/// The limit as a policy document writes it; `None` for a quota no case
/// of the suite uses through a policy.
fn limit(q: &Quota) -> Option<Value> {
    Some(match q {
        Quota::TokenBucket { capacity, refill } => json!({
            "algorithm": "token_bucket", "capacity": capacity, "refill": format_rate(refill),
        }),
        Quota::LeakyBucket {
            capacity,
            leak,
            mode,
        } => json!({
            "algorithm": "leaky_bucket", "capacity": capacity, "rate": format_rate(leak),
            "mode": match mode { LeakMode::Policing => "policing", LeakMode::Shaping => "shaping" },
        }),
        Quota::FixedWindow { limit, window_us } => json!({
            "algorithm": "fixed_window", "limit": limit, "window": format_duration(*window_us),
        }),
        Quota::SlidingLog { limit, window_us } => json!({
            "algorithm": "sliding_window_log", "limit": limit, "window": format_duration(*window_us),
        }),
        Quota::SlidingCounter { limit, window_us } => json!({
            "algorithm": "sliding_window_counter", "limit": limit,
            "window": format_duration(*window_us),
        }),
        Quota::Gcra { rate, burst } => json!({
            "algorithm": "gcra", "rate": format_rate(rate), "burst": burst,
        }),
        _ => return None,
    })
}

fn step(s: &Step) -> Value {
    json!({
        "at_us": s.at_us,
        "cost": s.cost,
        "allowed": s.expect_allowed,
        "remaining": s.expect_remaining,
        "retry_us": match s.expect_retry {
            Some(RetryAfter::After(d) | RetryAfter::Unavailable(d)) => json!(d.as_micros() as u64),
            Some(RetryAfter::Never) => json!("never"),
            None => Value::Null,
        },
        "reset_us": s.expect_reset_us,
        "delay_us": s.expect_delay_us,
    })
}

fn main() {
    let all: Vec<Value> = cases()
        .iter()
        .filter_map(|c| {
            Some(json!({
                "name": c.name,
                "limit": limit(&c.quota)?,
                "limit_size": c.quota.limit(),
                "shaping": matches!(c.quota, Quota::LeakyBucket { mode: LeakMode::Shaping, .. }),
                "steps": c.steps.iter().map(step).collect::<Vec<_>>(),
            }))
        })
        .collect();
    println!("{}", json!({ "base_us": BASE_US, "cases": all }));
}
