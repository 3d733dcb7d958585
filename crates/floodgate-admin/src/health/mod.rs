//! The store's health as the dashboard and the fleet reports show it:
//! its kind; with Redis, whether it answers, the breaker, the decisions
//! taken without it and its latency over the last minute.
//!
//! # Layout
//!
//! - [`latency`]: the store's latency over the last minute.

pub mod latency;

use floodgate_redis::BreakerState;
use serde_json::{json, Value};

use crate::analytics::Snapshot;
use crate::view::StoreView;
use latency::Window;

/// Identities in each top list (dashboard and fleet reports).
pub const TOP: usize = 10;

/// Store health: the store's kind; with Redis, whether it answers, the
/// breaker, the decisions taken without it and its latency over the last
/// minute; decision latency.
pub fn store(view: &dyn StoreView, window: &Window, s: &Snapshot) -> Value {
    let latency = json!({
        "decisions": s.latency.count,
        "p50_us": s.latency.p50_us,
        "p99_us": s.latency.p99_us,
    });
    match view.redis() {
        None => json!({ "kind": "memory", "latency": latency }),
        Some(r) => {
            let st = r.stats;
            let breaker = r.breaker;
            json!({
                "kind": "redis",
                "redis_up": breaker == BreakerState::Closed && r.connected,
                "breaker": match breaker {
                    BreakerState::Closed => "closed",
                    BreakerState::Open => "open",
                },
                "store_errors": st.store_errors,
                "fallback_decisions": {
                    "total": st.degraded(),
                    "fail_open": st.degraded_open,
                    "fail_closed": st.degraded_closed,
                    "local": st.degraded_local,
                },
                "outage_charge_back": {
                    "charged_units": st.charged_units,
                    "lost_units": st.charge_lost_units,
                    "owing_keys": st.owing_keys,
                },
                "redis_calls": r.calls,
                "leased": r.leased.map(|(l, held)| json!({
                    "decided_locally": l.decided_locally,
                    "decided_on_store": l.decided_on_store,
                    "held_units": held,
                    "units_taken": l.units_taken,
                    "units_returned": l.units_returned,
                    "units_wasted": l.units_wasted,
                })),
                "latency": latency,
                "store_latency": window.last_minute(s.now, view.store_latency()),
            })
        }
    }
}
