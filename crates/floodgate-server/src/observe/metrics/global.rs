//! The global store's metrics, for a replica in one region of several:
//! its region and share, the slices of `global` limits it holds, where
//! their decisions were made, the global store's latency and whether it
//! is out of reach (a partition), and what a partition's decisions on the
//! region's share charged back once healed.

use std::sync::Arc;

use floodgate_core::store::RegionShare;

use super::primitives::{header, label, sample, single, Histogram};
use super::store::{GlobalLeased, Pooled, Resilient};

/// What the global metrics read at scrape time.
pub struct Source {
    /// This replica's region.
    pub share: RegionShare,
    /// The global Redis in its failure policy.
    pub redis: Arc<Resilient>,
    /// The region's pool in front of it.
    pub pool: Arc<Pooled>,
    /// The slices leased from it.
    pub leased: Arc<GlobalLeased>,
    /// The latency of its calls.
    pub latency: Arc<Histogram>,
    /// The store deciding each limit where its scope counts it.
    pub scoped: Arc<floodgate_core::store::ScopedStore>,
}

/// Writes the global store's families.
pub fn render(out: &mut String, g: &Source) {
    header(
        out,
        "floodgate_region_info",
        "This replica's region and its weight (its share of a region_weighted limit, and of a global limit while the global store is out of reach).",
        "gauge",
    );
    out.push_str(&format!(
        "floodgate_region_info{{region=\"{}\",weight=\"{}\"}} 1\n",
        label(&g.share.name),
        g.share.weight_ppm as f64 / 1e6
    ));
    let r = g.redis.stats();
    single(
        out,
        "floodgate_global_partitioned",
        "1 while the global store is out of reach from this replica (its circuit breaker open): global limits are decided on this region's static share.",
        "gauge",
        u8::from(g.redis.breaker_state() == floodgate_redis::BreakerState::Open),
    );
    single(
        out,
        "floodgate_global_store_errors_total",
        "Calls to the global store that failed.",
        "counter",
        r.store_errors,
    );
    single(
        out,
        "floodgate_global_fallback_decisions_total",
        "Global limits decided without the global store: on this region's static share (local), or by a rule's fail_open / fail_closed.",
        "counter",
        r.degraded_local + r.degraded_open + r.degraded_closed,
    );
    header(
        out,
        "floodgate_global_charge_back_units_total",
        "Units admitted on this region's share during a partition and charged to the global store once it answered (charged), or that no longer fitted (lost).",
        "counter",
    );
    for (outcome, v) in [("charged", r.charged_units), ("lost", r.charge_lost_units)] {
        sample(
            out,
            "floodgate_global_charge_back_units_total",
            &[("outcome", outcome)],
            v,
        );
    }
    g.latency.render(
        out,
        "floodgate_global_store_latency_seconds",
        "Latency of calls to the global store (takes, give-backs, exact global decisions).",
    );
    let st = g.leased.stats();
    single(
        out,
        "floodgate_global_slices_taken_total",
        "Slices of global limits this replica took (from its region's pool, or from the global store).",
        "counter",
        st.slices_taken,
    );
    header(
        out,
        "floodgate_global_decisions_total",
        "Requests with leased global limits: decided here from slices at local latency, or on the global store (or its failure policy).",
        "counter",
    );
    for (place, v) in [
        ("local", st.decided_locally),
        ("store", st.decided_on_store),
    ] {
        sample(
            out,
            "floodgate_global_decisions_total",
            &[("where", place)],
            v,
        );
    }
    header(
        out,
        "floodgate_global_calls_total",
        "Calls for slices of global limits (to the region's pool first, then the global store): taken for a request, renewed at the tick, given back.",
        "counter",
    );
    for (call, v) in [
        ("take", st.take_calls),
        ("renew", st.renew_calls),
        ("give_back", st.give_back_calls),
    ] {
        sample(out, "floodgate_global_calls_total", &[("call", call)], v);
    }
    single(
        out,
        "floodgate_global_held_units",
        "Units of global limits this replica holds in slices and has not admitted yet.",
        "gauge",
        g.leased.held_units(),
    );
    let p = g.pool.stats();
    header(
        out,
        "floodgate_region_pool_slices_total",
        "Slices of global limits this replica got from its region's pool (pool), or took (of at least one unit) from the global store for itself and the pool (global).",
        "counter",
    );
    for (from, v) in [("pool", p.from_pool), ("global", p.from_global)] {
        sample(
            out,
            "floodgate_region_pool_slices_total",
            &[("from", from)],
            v,
        );
    }
    header(
        out,
        "floodgate_region_pool_units_total",
        "Units this replica put in its region's pool (deposited), gave back into it (returned), gave back to the global store from ended pools (claimed), and that may not have reached the pool when a call on the region's Redis failed (lost: never sent twice).",
        "counter",
    );
    for (outcome, v) in [
        ("deposited", p.deposited),
        ("returned", p.returned),
        ("claimed", p.claimed),
        ("lost", p.lost),
    ] {
        sample(
            out,
            "floodgate_region_pool_units_total",
            &[("outcome", outcome)],
            v,
        );
    }
    single(
        out,
        "floodgate_region_pools",
        "Pools this replica put in its region's store and has not given back yet.",
        "gauge",
        g.pool.deposits() as u64,
    );
    single(
        out,
        "floodgate_region_undo_failures_total",
        "Requests a global limit denied whose region limits could not be given back (the region's store failed meanwhile): they stay consumed there.",
        "counter",
        g.scoped.undo_failures(),
    );
    single(
        out,
        "floodgate_global_keys",
        "Keys of global limits holding a slice or a kept denial.",
        "gauge",
        g.leased.keys() as u64,
    );
}
