//! Upkeep: leases that ended give back what is left of them, idle keys
//! are forgotten, spent slices of keys in use are renewed, and everything
//! goes back at a shutdown or a policy change.

use super::decide::Fetching;
use super::gate::Fetch;
use super::stats::add;
use super::{LeasedStore, RENEW_MAX};
use crate::store::join::join_all;
use crate::store::{SliceWant, Store};
use crate::time::Timestamp;

impl<S: Store> LeasedStore<S> {
    /// Ends the leases that ran out by `now` (and forgets keys idle for a
    /// whole lease), renews the spent slices of keys in use (and, with
    /// `renew_ahead`, those about to run out; one call),
    /// then gives back what is left of ended slices (one call). Call it
    /// about every tenth of the shortest lease.
    pub async fn tick(&self, now: Timestamp) {
        let t = now.as_micros();
        let mut renew: Vec<SliceWant> = Vec::new();
        // Past RENEW_MAX, the shards first in line are renewed first:
        // the line starts one shard later at each tick.
        let start = self
            .ticks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for shard in self.table.shards_from(start) {
            let mut map = shard.lock();
            let before = map.len();
            map.retain(|key, slice| {
                if slice.fetching.is_some() {
                    return true;
                }
                if slice.left > 0 && !slice.live(t) {
                    self.retire(slice, key, t);
                }
                let denial_holds = slice.denial.is_some_and(|d| t < d.until);
                // Idle: nothing held, nothing used over a lease since the
                // last slice, no denial kept.
                let idle = slice.left == 0
                    && !denial_holds
                    && t >= slice.since.saturating_add(slice.terms.lease_us)
                    && (slice.used == 0 || t >= slice.ends.saturating_add(slice.terms.lease_us));
                !idle
            });
            self.table.removed(before - map.len());
            if self.config.renew {
                let ahead = crate::time::duration_micros(self.config.renew_ahead);
                for (key, slice) in map.iter_mut() {
                    if renew.len() >= RENEW_MAX {
                        break;
                    }
                    if slice.wants_renewal(t, ahead) {
                        // Requests on the key meanwhile wait for it.
                        slice.fetching = Some(Fetch::default());
                        renew.push(slice.renewal(key, t));
                    }
                }
            }
        }
        if !renew.is_empty() {
            self.renew(renew, now).await;
        }
        self.flush(now).await;
    }

    /// Takes the slices of `wants` (marked as being taken) and installs
    /// them: one call per failure domain (a cluster shard), the domains
    /// side by side, so that a failing shard fails its own renewals only.
    async fn renew(&self, wants: Vec<SliceWant>, now: Timestamp) {
        let mut groups: Vec<(usize, Vec<SliceWant>)> = Vec::new();
        for w in wants {
            let d = self.inner.failure_domain(&w.check);
            match groups.iter_mut().find(|(g, _)| *g == d) {
                Some((_, v)) => v.push(w),
                None => groups.push((d, vec![w])),
            }
        }
        let calls = groups
            .iter()
            .map(|(_, g)| self.renew_group(g, now))
            .collect();
        join_all(calls).await;
    }

    /// One call of [`LeasedStore::renew`]; a failed call, or a tick
    /// dropped meanwhile, clears the marks (the keys' next requests take
    /// their own).
    async fn renew_group(&self, wants: &[SliceWant], now: Timestamp) {
        add(&self.counters.renew_calls, 1);
        add(&self.counters.renewed, wants.len() as u64);
        let mut guard = Fetching::new(self, wants);
        let taken = self.inner.take(wants, now).await;
        guard.disarm();
        match taken {
            Ok(taken) => self.install(wants, &taken, now.as_micros(), true),
            Err(_) => self.unfetch(wants),
        }
    }

    /// Gives back what is left of every slice (shutdown, a policy change).
    pub async fn give_back_all(&self, now: Timestamp) {
        let t = now.as_micros();
        for shard in self.table.shards() {
            let mut map = shard.lock();
            for (key, slice) in map.iter_mut() {
                self.retire(slice, key, t);
            }
            let before = map.len();
            map.retain(|_, s| s.fetching.is_some());
            self.table.removed(before - map.len());
        }
        self.flush(now).await;
    }

    async fn flush(&self, now: Timestamp) {
        let pending = std::mem::take(&mut *self.pending.lock());
        if pending.is_empty() {
            return;
        }
        let units: u64 = pending.iter().map(|g| g.check.cost).sum();
        add(&self.counters.give_back_calls, 1);
        match self.inner.give_back(&pending, now).await {
            Ok(()) => add(&self.counters.units_returned, units),
            Err(_) => add(&self.counters.units_wasted, units),
        }
    }
}
