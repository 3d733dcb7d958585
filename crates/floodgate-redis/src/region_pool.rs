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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use floodgate_core::store::{BoxFuture, GiveBack, SliceWant, StoreWrapper, Taken};
use floodgate_core::{Decision, LimitCheck, Store, StoreError, Timestamp};

use crate::lazy::LazyRedisStore;
use crate::store::{PoolDeposit, RedisStore};

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
    /// Slices taken from the global store (for the replica and the pool).
    pub from_global: u64,
    /// Units put in the region's pool.
    pub deposited: u64,
    /// Units a replica gave back into the pool.
    pub returned: u64,
    /// Units given back to the global store from ended pools.
    pub claimed: u64,
}

#[derive(Default)]
struct Counters {
    from_pool: AtomicU64,
    from_global: AtomicU64,
    deposited: AtomicU64,
    returned: AtomicU64,
    claimed: AtomicU64,
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
}

fn add(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
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
        }
    }

    /// The region's Redis store, when connected.
    fn region(&self) -> Option<&RedisStore> {
        self.region.as_ref().and_then(LazyRedisStore::connected)
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

    /// Gives back every pool this replica put (at shutdown, or a policy
    /// change).
    pub async fn give_back_all(&self, now: Timestamp) {
        self.claim(now, true).await;
    }

    async fn claim(&self, now: Timestamp, all: bool) {
        let t = now.as_micros();
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
        let Some(rs) = self.region() else {
            return;
        };
        let mut back = Vec::new();
        for (key, dep) in ended {
            if let Ok(n) = rs.pool_claim(&key, dep.at).await {
                if n > 0 {
                    add(&self.counters.claimed, n);
                    back.push(give_back(&dep.check, n, dep.at));
                }
            }
        }
        if !back.is_empty() {
            let _ = self.global.give_back(&back, now).await;
        }
    }

    /// Takes from the region's pool, then what is missing from the
    /// global store for the region.
    async fn take_pooled(
        &self,
        rs: &RedisStore,
        wants: &[SliceWant],
        now: Timestamp,
    ) -> Result<Vec<Taken>, StoreError> {
        let t = now.as_micros();
        let keys: Vec<String> = wants
            .iter()
            .map(|w| rs.pool_key(&w.check.identity, &w.check.limit_id))
            .collect();
        let tries = futures_util::future::join_all(
            wants
                .iter()
                .zip(&keys)
                .map(|(w, k)| rs.pool_take(k, t, w.want, w.check.cost)),
        )
        .await;
        let mut out: Vec<Option<Taken>> = vec![None; wants.len()];
        let mut misses = Vec::new();
        for (i, r) in tries.into_iter().enumerate() {
            match r {
                Ok(Some(p)) => {
                    add(&self.counters.from_pool, 1);
                    out[i] = Some(Taken {
                        n: p.n,
                        at: Timestamp::from_micros(p.at),
                        decision: Decision {
                            allowed: true,
                            limit: floodgate_core::algorithm::slice::size(&wants[i].check.quota),
                            remaining: p.remaining.saturating_add(p.left),
                            reset_after: Duration::from_micros(p.reset_at.saturating_sub(t)),
                            retry_after: None,
                            delay: Duration::ZERO,
                        },
                    });
                }
                _ => misses.push(i),
            }
        }
        if !misses.is_empty() {
            let region_wants: Vec<SliceWant> = misses
                .iter()
                .map(|&i| SliceWant {
                    want: wants[i].want.saturating_mul(self.fan),
                    share_ppm: (wants[i].share_ppm as u64 * self.fan).min(1_000_000) as u32,
                    ..wants[i].clone()
                })
                .collect();
            let got = match self.global.take(&region_wants, now).await {
                Ok(got) => got,
                Err(e) => {
                    // The pool's units taken for this call go back into it.
                    for (i, taken) in out.iter().enumerate() {
                        if let Some(tk) = taken {
                            let _ = rs.pool_return(&keys[i], t, tk.at.as_micros(), tk.n).await;
                        }
                    }
                    return Err(e);
                }
            };
            add(&self.counters.from_global, got.len() as u64);
            let mut back = Vec::new();
            for (&i, g) in misses.iter().zip(&got) {
                out[i] = Some(
                    self.hand_down(rs, &keys[i], &wants[i], *g, t, &mut back)
                        .await,
                );
            }
            if !back.is_empty() {
                let _ = self.global.give_back(&back, now).await;
            }
            if got.len() < misses.len() {
                // A short answer: the rest is left to the caller, and the
                // pool's units taken for it go back into the pool.
                let first_missing = misses[got.len()];
                for (i, taken) in out.iter().enumerate().skip(first_missing) {
                    if let Some(tk) = taken {
                        let _ = rs.pool_return(&keys[i], t, tk.at.as_micros(), tk.n).await;
                    }
                }
                out.truncate(first_missing);
            }
        }
        Ok(out.into_iter().map_while(|t| t).collect())
    }

    /// Of a slice the global store handed the region, the replica keeps
    /// its want, at most its part (`1/fan`) but at least its request's
    /// cost; the surplus goes into the pool (or back, when the pool is
    /// taken or this replica holds `max_keys` pools already).
    async fn hand_down(
        &self,
        rs: &RedisStore,
        key: &str,
        w: &SliceWant,
        g: Taken,
        t: u64,
        back: &mut Vec<GiveBack>,
    ) -> Taken {
        let mine =
            g.n.min(w.want)
                .min(g.n.div_ceil(self.fan))
                .max(g.n.min(w.check.cost));
        let surplus = g.n - mine;
        if surplus == 0 {
            return Taken { n: mine, ..g };
        }
        let at = g.at.as_micros();
        let lease = w.check.sync.map_or(1_000_000, |s| s.lease_us);
        let deposit = PoolDeposit {
            n: surplus,
            at,
            ends: t.saturating_add(lease),
            remaining: g.decision.remaining,
            reset_at: t.saturating_add(g.decision.reset_after.as_micros() as u64),
        };
        let full = self.lock().len() >= self.max_keys;
        let put = if full {
            None
        } else {
            rs.pool_put(key, t, deposit, 2 * lease / 1000 + 1000)
                .await
                .ok()
                .flatten()
        };
        match put {
            Some((old_n, old_at)) => {
                add(&self.counters.deposited, surplus);
                if old_n > 0 && old_at > 0 {
                    // An ended pool nobody gave back yet.
                    back.push(give_back(&w.check, old_n, old_at));
                }
                self.lock().insert(
                    key.to_string(),
                    Deposit {
                        check: w.check.clone(),
                        at,
                        ends: deposit.ends,
                    },
                );
                let mut decision = g.decision;
                decision.remaining = decision.remaining.saturating_add(surplus);
                Taken {
                    n: mine,
                    at: g.at,
                    decision,
                }
            }
            None => {
                back.push(give_back(&w.check, surplus, at));
                Taken { n: mine, ..g }
            }
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
            if let Some(rs) = self.region() {
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
            match self.region() {
                Some(rs) => self.take_pooled(rs, wants, now).await,
                None => self.global.take(wants, now).await,
            }
        })
    }

    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let t = now.as_micros();
            let mut rest = Vec::new();
            for s in slices {
                let pooled = match self.region() {
                    Some(rs) => {
                        let key = rs.pool_key(&s.check.identity, &s.check.limit_id);
                        rs.pool_return(&key, t, s.taken_at.as_micros(), s.check.cost)
                            .await
                            .unwrap_or(false)
                    }
                    None => false,
                };
                if pooled {
                    add(&self.counters.returned, s.check.cost);
                } else {
                    rest.push(s.clone());
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
