//! What the control plane reads of the data plane's store: the dashboard
//! and the fleet view show the Redis store's health and latency. The
//! server implements [`StoreView`]; the control plane never names its
//! types.

use floodgate_core::store::LeasedStats;
use floodgate_redis::{BreakerState, ResilienceStats};

/// The Redis store's health, as the dashboard shows it.
#[derive(Clone, Debug)]
pub struct RedisHealth {
    /// The breaker.
    pub breaker: BreakerState,
    /// Whether a connection is up.
    pub connected: bool,
    /// Errors and decisions taken by the failure policy.
    pub stats: ResilienceStats,
    /// Decision calls sent to Redis since start.
    pub calls: u64,
    /// The leased slices: counters, and units held now.
    pub leased: Option<(LeasedStats, u64)>,
}

/// A latency histogram, cumulative since start: bucket upper bounds
/// (seconds), the count in each bucket, and the total.
pub type Buckets = (&'static [f64], Vec<u64>, u64);

/// The data plane's store, seen from the control plane.
pub trait StoreView: Send + Sync + 'static {
    /// The Redis store's health; `None` on the memory store.
    fn redis(&self) -> Option<RedisHealth>;
    /// The Redis store's call latency histogram.
    fn store_latency(&self) -> Buckets;
}
