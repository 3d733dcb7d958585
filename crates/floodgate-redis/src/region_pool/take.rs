//! A replica's take through its region's pool: from the pool first, then
//! what is missing from the global store for the region, the surplus
//! handed down into the pool.

use std::time::Duration;

use floodgate_core::algorithm::slice::size;
use floodgate_core::store::{GiveBack, SliceWant, Taken};
use floodgate_core::{Decision, Quota, Store, StoreError, Timestamp};

use super::{add, give_back, late_cut, Deposit, RegionPool};
use crate::store::{PoolDeposit, RedisStore};

impl<G: Store> RegionPool<G> {
    /// Takes from the region's pool, then what is missing from the
    /// global store for the region.
    pub(super) async fn take_pooled(
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
                            limit: size(&wants[i].check.quota),
                            remaining: p.remaining.saturating_add(p.left),
                            reset_after: Duration::from_micros(p.reset_at.saturating_sub(t)),
                            retry_after: None,
                            delay: Duration::ZERO,
                        },
                        age_us: t.saturating_sub(p.born),
                    });
                }
                Ok(None) => misses.push(i),
                Err(_) => {
                    self.pool_failed(t);
                    misses.push(i);
                }
            }
        }
        if misses.is_empty() {
            return Ok(out.into_iter().map_while(|t| t).collect());
        }
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
                self.put_back(rs, &keys, &out, 0, t).await;
                return Err(e);
            }
        };
        add(
            &self.counters.from_global,
            got.iter().filter(|g| g.n > 0).count() as u64,
        );
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
            self.put_back(rs, &keys, &out, first_missing, t).await;
            out.truncate(first_missing);
        }
        Ok(out.into_iter().map_while(|t| t).collect())
    }

    /// Puts the pool's units of `out[from..]` back into their pools.
    async fn put_back(
        &self,
        rs: &RedisStore,
        keys: &[String],
        out: &[Option<Taken>],
        from: usize,
        t: u64,
    ) {
        for (i, taken) in out.iter().enumerate().skip(from) {
            if let Some(tk) = taken {
                if rs
                    .pool_return(&keys[i], t, tk.at.as_micros(), tk.n)
                    .await
                    .is_err()
                {
                    self.pool_failed(t);
                    add(&self.counters.lost, tk.n);
                }
            }
        }
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
        // A pool never outlives its lease nor the window its take was in.
        let window_left = match w.check.quota {
            Quota::FixedWindow { window_us, .. } | Quota::SlidingCounter { window_us, .. } => {
                window_us - at % window_us
            }
            _ => u64::MAX,
        };
        let deposit = PoolDeposit {
            n: surplus,
            at,
            ends: t.saturating_add(lease.min(window_left)),
            remaining: g.decision.remaining,
            reset_at: t.saturating_add(g.decision.reset_after.as_micros() as u64),
        };
        if self.lock().len() >= self.max_keys {
            back.push(give_back(&w.check, surplus, at));
            return Taken { n: mine, ..g };
        }
        let remember = |this: &Self| {
            this.lock().insert(
                key.to_string(),
                Deposit {
                    check: w.check.clone(),
                    at,
                    ends: deposit.ends,
                },
            );
        };
        match rs.pool_put(key, t, deposit, 2 * lease / 1000 + 1000).await {
            Ok(Some(old)) => {
                add(&self.counters.deposited, surplus);
                if old.n > 0 && old.at > 0 {
                    // An ended pool nobody gave back yet, cut by what a
                    // bucket refilled since it ended.
                    let n = late_cut(&w.check.quota, old.n, t.saturating_sub(old.ends));
                    if n > 0 {
                        add(&self.counters.claimed, n);
                        back.push(give_back(&w.check, n, old.at));
                    }
                }
                remember(self);
                let mut decision = g.decision;
                decision.remaining = decision.remaining.saturating_add(surplus);
                Taken {
                    n: mine,
                    at: g.at,
                    decision,
                    age_us: 0,
                }
            }
            Ok(None) => {
                back.push(give_back(&w.check, surplus, at));
                Taken { n: mine, ..g }
            }
            Err(_) => {
                // It may have been put: the claim at its end settles it
                // (a surplus that was not put is then lost, never
                // counted twice).
                self.pool_failed(t);
                remember(self);
                Taken { n: mine, ..g }
            }
        }
    }
}
