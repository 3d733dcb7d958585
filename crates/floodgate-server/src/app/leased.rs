//! The upkeep of leased slices: every 50 ms the leases that ended give
//! back what is left of them and the spent slices of keys in use are
//! renewed (`LeasedStore::tick`); a new limiter (a policy change) gives back
//! every slice; the shutdown, once requests are drained, gives back the
//! rest.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::Clock;
use floodgate_tower::LimiterHandle;
use tokio::sync::watch;

use floodgate_core::store::LeasedStore;
use floodgate_core::Store;

use crate::observe::metrics::store::Pooled;

/// How often ended leases are given back.
pub const TICK: Duration = Duration::from_millis(50);

/// Starts the upkeep of `leased`, until `stop` (a tick under way ends
/// first: the shutdown waits for the task before it gives back).
pub fn spawn<S: Store>(
    leased: Arc<LeasedStore<S>>,
    handle: LimiterHandle,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let clock = handle.clock().clone();
        let mut limiter = handle.limiter();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => return,
                _ = tick.tick() => {}
            }
            let now = handle.limiter();
            if !Arc::ptr_eq(&now, &limiter) {
                limiter = now;
                leased.give_back_all(clock.now()).await;
            }
            leased.tick(clock.now()).await;
        }
    })
}

/// What the shutdown runs once requests are drained: the upkeep's last
/// tick ends (a renewal under way installs its slices), then every slice
/// is given back.
pub fn at_shutdown<S: Store>(
    leased: Arc<LeasedStore<S>>,
    clock: Arc<dyn Clock>,
    upkeep: tokio::task::JoinHandle<()>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let _ = upkeep.await;
        leased.give_back_all(clock.now()).await;
        let st = leased.stats();
        tracing::info!(
            returned = st.units_returned,
            wasted = st.units_wasted,
            "leased slices given back"
        );
    })
}

/// The shutdown's give-backs of several leased stores (the region's and
/// the global store's), side by side.
pub fn all(
    ends: Vec<Pin<Box<dyn Future<Output = ()> + Send>>>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let tasks: Vec<_> = ends.into_iter().map(tokio::spawn).collect();
        for t in tasks {
            let _ = t.await;
        }
    })
}

/// Starts the upkeep of the region's pool: every tick, the pools this
/// replica put whose lease ended give what is left back to the global
/// store; until `stop`.
pub fn spawn_pool(
    pool: Arc<Pooled>,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => return,
                _ = tick.tick() => {}
            }
            pool.tick(clock.now()).await;
        }
    })
}

/// The global store's shutdown: its slices go back (into the region's
/// pool, while it lives), then the pools this replica put go back to the
/// global store.
pub fn pool_at_shutdown(
    leased_end: Pin<Box<dyn Future<Output = ()> + Send>>,
    pool: Arc<Pooled>,
    clock: Arc<dyn Clock>,
    upkeep: tokio::task::JoinHandle<()>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        leased_end.await;
        let _ = upkeep.await;
        pool.give_back_all(clock.now()).await;
    })
}
