//! The store's metrics: the Redis store's latency (timed by [`Timed`],
//! which wraps it inside its failure policy, so a call timed is a call
//! made to Redis), errors, breaker and fallback decisions.

use std::sync::Arc;
use std::time::Instant;

use floodgate_core::store::BoxFuture;
use floodgate_core::store::{LeasedStore, StoreWrapper};
use floodgate_core::{Decision, LimitCheck, Store, StoreError, Timestamp};
use floodgate_redis::{BreakerState, LazyRedisStore, ResilientStore};

use super::primitives::{header, sample, single, Histogram};

/// A Redis store, its checks timed, behind its failure policy.
pub type Resilient = ResilientStore<Timed<LazyRedisStore>>;

/// The Redis store as the limiter sees it: leased limits decided from
/// slices, the rest on [`Resilient`].
pub type Leased = LeasedStore<Arc<Resilient>>;

/// The global store (in one region of several), slices handed down
/// through the region's pool.
pub type Pooled = floodgate_redis::RegionPool<Arc<Resilient>>;

/// The global store as the limiter sees it: `global` limits decided from
/// slices handed down through the region's pool, the rest on the global
/// store.
pub type GlobalLeased = LeasedStore<Arc<Pooled>>;

/// Histogram buckets (seconds) for store latency: 50µs to 1s.
pub const STORE_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// A store whose limit checks are timed into a histogram, failed ones
/// included.
pub struct Timed<S> {
    inner: S,
    latency: Arc<Histogram>,
}

impl<S> Timed<S> {
    /// Times `inner`'s checks, takes and give-backs into `latency`.
    pub fn new(inner: S, latency: Arc<Histogram>) -> Timed<S> {
        Timed { inner, latency }
    }

    /// The timed store.
    pub fn timed(&self) -> &S {
        &self.inner
    }
}

/// `check`, `take` and `give_back` (the calls on a request's path and
/// the slices' upkeep) are timed; the rest goes to the inner store as it
/// is.
impl<S: Store> StoreWrapper for Timed<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        Box::pin(async move {
            let started = Instant::now();
            let r = Store::check(&self.inner, checks, now).await;
            self.latency.observe(started.elapsed());
            r
        })
    }

    fn take<'a>(
        &'a self,
        wants: &'a [floodgate_core::store::SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<floodgate_core::store::Taken>, StoreError>> {
        Box::pin(async move {
            let started = Instant::now();
            let r = Store::take(&self.inner, wants, now).await;
            self.latency.observe(started.elapsed());
            r
        })
    }

    fn give_back<'a>(
        &'a self,
        slices: &'a [floodgate_core::store::GiveBack],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let started = Instant::now();
            let r = Store::give_back(&self.inner, slices, now).await;
            self.latency.observe(started.elapsed());
            r
        })
    }
}

/// Writes the Redis store's families; `latency` is its [`Timed`]
/// histogram.
pub fn render_redis(out: &mut String, r: &Resilient, latency: &Histogram) {
    let st = r.stats();
    latency.render(
        out,
        "floodgate_store_duration_seconds",
        "Time of one call to Redis (one round trip): a limit check, or a take or give-back of leased slices; failed ones included.",
    );
    single(
        out,
        "floodgate_store_errors_total",
        "Calls to Redis that failed (errors and timeouts).",
        "counter",
        st.store_errors,
    );
    single(
        out,
        "floodgate_store_short_circuited_total",
        "Requests that skipped Redis because the breaker was open.",
        "counter",
        st.short_circuited,
    );
    single(
        out,
        "floodgate_store_breaker_opened_total",
        "Times the circuit breaker opened.",
        "counter",
        st.breaker_opened,
    );
    single(
        out,
        "floodgate_store_refund_failures_total",
        "Cross-slot give-backs that could not be applied.",
        "counter",
        r.inner().inner().refund_failures(),
    );
    let (calls, carried) = r.inner().timed().gather_stats();
    single(
        out,
        "floodgate_store_calls_total",
        "Decision calls sent to Redis (checks, slices taken and given back); several requests gathered under load go in one.",
        "counter",
        calls,
    );
    single(
        out,
        "floodgate_store_call_requests_total",
        "Requests those calls carried.",
        "counter",
        carried,
    );
    single(
        out,
        "floodgate_store_breaker_open",
        "Whether the Redis circuit breaker is open (1) or closed (0).",
        "gauge",
        u8::from(r.breaker_state() == BreakerState::Open),
    );
    single(
        out,
        "floodgate_store_breakers_open",
        "Redis nodes (cluster shards; 1 for a single server) whose circuit breaker is open.",
        "gauge",
        r.open_domains().len(),
    );
    header(
        out,
        "floodgate_store_outage_units_total",
        "Units admitted on the local store while Redis was away: charged to Redis when it answered again, or lost (the key's state was spent meanwhile, or too many keys owed).",
        "counter",
    );
    for (outcome, v) in [
        ("charged", st.charged_units),
        ("lost", st.charge_lost_units),
    ] {
        sample(
            out,
            "floodgate_store_outage_units_total",
            &[("outcome", outcome)],
            v,
        );
    }
    single(
        out,
        "floodgate_store_outage_owing_keys",
        "Keys that admitted locally and are not charged to Redis yet.",
        "gauge",
        st.owing_keys,
    );
    single(
        out,
        "floodgate_store_outage_dropped_keys_total",
        "Keys whose local debt was dropped because too many keys owed (store.max_keys).",
        "counter",
        st.charge_dropped_keys,
    );
    header(
        out,
        "floodgate_degraded_decisions_total",
        "Limit checks decided without Redis, by failure mode.",
        "counter",
    );
    for (mode, v) in [
        ("fail_open", st.degraded_open),
        ("fail_closed", st.degraded_closed),
        ("local", st.degraded_local),
    ] {
        sample(
            out,
            "floodgate_degraded_decisions_total",
            &[("mode", mode)],
            v,
        );
    }
}
