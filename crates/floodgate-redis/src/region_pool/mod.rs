//! `RegionPool`: slices of the global quota handed down from the global
//! store to a region, then to its replicas.
//!
//! A replica of a region that needs a slice of a `global` limit asks its
//! region's pool first (a hash in the region's Redis, at the region's
//! latency). When the pool is missing, ended or short, it takes a slice
//! for the region from the global store: its own want times `fan` (the
//! region's replicas), keeps its own want, and puts the surplus in the
//! pool for the region's other replicas, under a lease from now. The
//! replica that put it gives back what is left once the lease ends (its
//! [`tick`](RegionPool::tick)); a replica's unused slice goes back into
//! the pool while it lives, else to the global store. An idle region
//! holds nothing once its leases end.
//!
//! Every other call (exact checks, inspections, resets, concurrency
//! slots, failure domains) goes to the global store as it is.

//!
//! A pool never outlives its lease nor the window its global take was
//! in, and a slice handed down from it counts its lease and window from
//! the pool's take ([`Taken::age_us`]): the bounds of a replica's slices
//! hold for the region's. A call on the region's Redis that fails keeps
//! the pool out of the way for a second ([`POOL_PAUSE`]): takes go to the
//! global store directly, and a failed call is never counted twice (a
//! put that may have landed is settled by its claim; a give-back into the
//! pool that may have been lost is not sent again).

mod take;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use floodgate_core::store::{BoxFuture, GiveBack, SliceWant, StoreWrapper, Taken};
use floodgate_core::{LimitCheck, Quota, Store, StoreError, Timestamp};

use crate::lazy::LazyRedisStore;
use crate::store::RedisStore;

/// How long the pool is left aside after a call on the region's Redis
/// failed.
pub const POOL_PAUSE: Duration = Duration::from_secs(1);

/// A pool this replica put in its region's store, to give back when its
/// lease ends.
struct Deposit {
    check: LimitCheck,
    at: u64,
    ends: u64,
}

/// What the pool did, since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Slices a replica took from its region's pool.
    pub from_pool: u64,
    /// Slices (of at least one unit) taken from the global store for the
    /// replica and the pool.
    pub from_global: u64,
    /// Units put in the region's pool.
    pub deposited: u64,
    /// Units a replica gave back into the pool.
    pub returned: u64,
    /// Units given back to the global store from ended pools.
    pub claimed: u64,
    /// Units that may not have reached the pool (a call on the region's
    /// Redis failed) and were not sent anywhere else, so never twice.
    pub lost: u64,
}

#[derive(Default)]
struct Counters {
    from_pool: AtomicU64,
    from_global: AtomicU64,
    deposited: AtomicU64,
    returned: AtomicU64,
    claimed: AtomicU64,
    lost: AtomicU64,
}

/// The global store, with slices handed down through a pool in the
/// region's store.
pub struct RegionPool<G> {
    /// The region's Redis; `None` (a region on the memory store): slices
    /// go from the global store to the replica directly.
    region: Option<LazyRedisStore>,
    global: G,
    fan: u64,
    max_keys: usize,
    deposits: Mutex<HashMap<String, Deposit>>,
    counters: Counters,
    /// Until when (µs, local time) the pool is left aside.
    paused_until: AtomicU64,
}

fn add(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

/// What goes back of `n` units of a pool that ended `late` µs ago: a
/// bucket's refill since then does not go back twice (as for a replica's
/// slice held past its lease).
fn late_cut(quota: &Quota, n: u64, late: u64) -> u64 {
    match *quota {
        Quota::TokenBucket { refill: r, .. }
        | Quota::Gcra { rate: r, .. }
        | Quota::LeakyBucket { leak: r, .. } => {
            let refilled = (r.amount() as u128 * late as u128).div_ceil(r.period_us() as u128);
            n.saturating_sub(refilled.min(u64::MAX as u128) as u64)
        }
        _ => n,
    }
}

impl<G: Store> RegionPool<G> {
    /// Slices of `global` handed down through a pool in `region`'s store;
    /// a take for the region asks `fan` times a replica's want; at most
    /// `max_keys` pools put by this replica at once (past that, a
    /// surplus goes straight back to the global store).
    pub fn new(
        region: Option<LazyRedisStore>,
        global: G,
        fan: u64,
        max_keys: usize,
    ) -> RegionPool<G> {
        RegionPool {
            region,
            global,
            fan: fan.max(1),
            max_keys: max_keys.max(1),
            deposits: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            paused_until: AtomicU64::new(0),
        }
    }

    /// The region's Redis store, when connected and not left aside.
    fn region(&self, t: u64) -> Option<&RedisStore> {
        if t < self.paused_until.load(Ordering::Relaxed) {
            return None;
        }
        self.region.as_ref().and_then(LazyRedisStore::connected)
    }

    /// A call on the region's Redis failed at `t`.
    fn pool_failed(&self, t: u64) {
        let until = t.saturating_add(POOL_PAUSE.as_micros() as u64);
        self.paused_until.fetch_max(until, Ordering::Relaxed);
    }

    /// The global store.
    pub fn global(&self) -> &G {
        &self.global
    }

    /// The counters.
    pub fn stats(&self) -> PoolStats {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PoolStats {
            from_pool: l(&c.from_pool),
            from_global: l(&c.from_global),
            deposited: l(&c.deposited),
            returned: l(&c.returned),
            claimed: l(&c.claimed),
            lost: l(&c.lost),
        }
    }

    /// Pools this replica put and has not given back yet.
    pub fn deposits(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Deposit>> {
        self.deposits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives back to the global store what is left of the pools this
    /// replica put whose lease ended by `now`.
    pub async fn tick(&self, now: Timestamp) {
        self.claim(now, false).await;
    }

    /// Gives back every pool this replica put (at shutdown).
    pub async fn give_back_all(&self, now: Timestamp) {
        self.claim(now, true).await;
    }

    /// Claims the ended pools (or all), side by side, and gives what they
    /// held back to the global store in one call. A pool whose claim
    /// failed is tried again at the next tick, until its key has expired
    /// in the region's Redis.
    async fn claim(&self, now: Timestamp, all: bool) {
        let t = now.as_micros();
        let Some(rs) = self.region(t) else {
            return;
        };
        let ended: Vec<(String, Deposit)> = {
            let mut d = self.lock();
            let keys: Vec<String> = d
                .iter()
                .filter(|(_, v)| all || v.ends <= t)
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| d.remove(&k).map(|v| (k, v)))
                .collect()
        };
        if ended.is_empty() {
            return;
        }
        let claims = futures_util::future::join_all(
            ended.iter().map(|(key, dep)| rs.pool_claim(key, dep.at)),
        )
        .await;
        let mut back = Vec::new();
        let mut failed = false;
        for ((key, dep), r) in ended.into_iter().zip(claims) {
            match r {
                Ok(0) => {}
                Ok(n) => {
                    let n = late_cut(&dep.check.quota, n, t.saturating_sub(dep.ends));
                    if n > 0 {
                        add(&self.counters.claimed, n);
                        back.push(give_back(&dep.check, n, dep.at));
                    }
                }
                Err(_) => {
                    failed = true;
                    // Its key lives 2 leases and a second past its end.
                    let lease = dep.check.sync.map_or(1_000_000, |s| s.lease_us);
                    if t < dep.ends.saturating_add(2 * lease + 1_000_000) {
                        self.lock().insert(key, dep);
                    }
                }
            }
        }
        if failed {
            self.pool_failed(t);
        }
        if !back.is_empty() {
            let _ = self.global.give_back(&back, now).await;
        }
    }
}

fn give_back(check: &LimitCheck, n: u64, at: u64) -> GiveBack {
    let mut check = check.clone();
    check.cost = n;
    GiveBack {
        check,
        taken_at: Timestamp::from_micros(at),
    }
}

impl<G: Store> StoreWrapper for RegionPool<G> {
    type Inner = G;

    fn inner(&self) -> &G {
        &self.global
    }

    fn reset<'a>(&'a self, checks: &'a [LimitCheck]) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            if let Some(rs) = self.region.as_ref().and_then(LazyRedisStore::connected) {
                for c in checks {
                    let key = rs.pool_key(&c.identity, &c.limit_id);
                    self.lock().remove(&key);
                    let _ = rs.pool_clear(&key).await;
                }
            }
            self.global.reset(checks).await
        })
    }

    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        Box::pin(async move {
            match self.region(now.as_micros()) {
                Some(rs) => self.take_pooled(rs, wants, now).await,
                None => self.global.take(wants, now).await,
            }
        })
    }

    /// Into the pool each slice came from while it lives (side by side),
    /// the rest to the global store in one call. A give-back into the
    /// pool that failed may have landed: it is not sent again.
    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let t = now.as_micros();
            let mut rest = Vec::new();
            match self.region(t) {
                None => rest.extend_from_slice(slices),
                Some(rs) => {
                    let tries = futures_util::future::join_all(slices.iter().map(|s| {
                        let key = rs.pool_key(&s.check.identity, &s.check.limit_id);
                        async move {
                            rs.pool_return(&key, t, s.taken_at.as_micros(), s.check.cost)
                                .await
                        }
                    }))
                    .await;
                    for (s, r) in slices.iter().zip(tries) {
                        match r {
                            Ok(true) => add(&self.counters.returned, s.check.cost),
                            Ok(false) => rest.push(s.clone()),
                            Err(_) => {
                                self.pool_failed(t);
                                add(&self.counters.lost, s.check.cost);
                            }
                        }
                    }
                }
            }
            if rest.is_empty() {
                Ok(())
            } else {
                self.global.give_back(&rest, now).await
            }
        })
    }
}
