//! Upkeep: leases that ended give back what is left of them, idle keys
//! are forgotten, spent slices of keys in use are renewed, and everything
//! goes back at a shutdown or a policy change.

use super::gate::Fetch;
use super::stats::add;
use super::{LeasedStore, RENEW_MAX};
use crate::store::{SliceWant, Store};
use crate::time::Timestamp;

impl<S: Store> LeasedStore<S> {
    /// Ends the leases that ran out by `now` (and forgets keys idle for a
    /// whole lease), renews the spent slices of keys in use (one call),
    /// then gives back what is left of ended slices (one call). Call it
    /// about every tenth of the shortest lease.
    pub async fn tick(&self, now: Timestamp) {
        let t = now.as_micros();
        let mut renew: Vec<SliceWant> = Vec::new();
        for shard in self.table.shards() {
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
                for (key, slice) in map.iter_mut() {
                    if renew.len() >= RENEW_MAX {
                        break;
                    }
                    if slice.wants_renewal(t) {
                        // Requests on the key meanwhile wait for it.
                        slice.fetching = Some(Fetch::default());
                        renew.push(slice.renewal(key, t));
                    }
                }
            }
        }
        if !renew.is_empty() {
            self.renew(&renew, now).await;
        }
        self.flush(now).await;
    }

    /// Takes the slices of `wants` (marked as being taken) in one call and
    /// installs them; a failed call clears the marks (the keys' next
    /// requests take their own).
    async fn renew(&self, wants: &[SliceWant], now: Timestamp) {
        add(&self.counters.renew_calls, 1);
        add(&self.counters.renewed, wants.len() as u64);
        match self.inner.take(wants, now).await {
            Ok(taken) => self.install(wants, &taken, now.as_micros()),
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
