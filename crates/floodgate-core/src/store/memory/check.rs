//! Deciding checks on the memory store: one check under one lock, or the
//! checks of one request together under the locks of their shards.

use std::sync::atomic::Ordering;

use parking_lot::MutexGuard;

use super::shard::{Entry, Shard};
use super::MemoryStore;
use crate::algorithm::{self, State};
use crate::decision::Decision;
use crate::store::LimitCheck;
use crate::time::{duration_micros, Timestamp};

impl MemoryStore {
    /// Decides one check (the common case, with one lock and no sorting).
    pub fn check_one(&self, check: &LimitCheck, now: Timestamp) -> Decision {
        let mut hash = self.hash(check);
        let mut shard = self.shards[self.shard_of(hash)].lock();
        let t = now.as_micros();
        self.maybe_sweep(&mut shard, t);
        // Only a full shard needs to know whether the key is new.
        if shard.map.len() >= self.per_shard_cap
            && !shard.map.contains_key(&hash)
            && !shard.has_room(t, self.per_shard_cap, 0, &self.evicted)
        {
            hash = self.overflow_hash(check, hash);
            self.overflowed.fetch_add(1, Ordering::Relaxed);
        }
        let lease = check.lease.map(|l| l.get());
        if let Some(entry) = shard.map.get_mut(&hash) {
            let d = algorithm::decide_as(&mut entry.state, now, check.cost, &check.quota, lease);
            let expired = drain_expired(&mut entry.state);
            if d.allowed {
                entry.idle_at = idle_at(t, &d);
                let idle = entry.idle_at;
                shard.first_idle = shard.first_idle.min(idle);
            }
            shard.leases_expired += expired;
            return d;
        }
        let mut state = State::fresh(&check.quota, now);
        let d = algorithm::decide_as(&mut state, now, check.cost, &check.quota, lease);
        if d.allowed && takes_state(check) {
            shard.insert(
                hash,
                Entry {
                    idle_at: idle_at(t, &d),
                    state,
                },
            );
        }
        d
    }

    pub(super) fn check_many(&self, checks: &[LimitCheck], now: Timestamp) -> Vec<Decision> {
        let t = now.as_micros();
        let mut hashes: Vec<u64> = checks.iter().map(|c| self.hash(c)).collect();
        let mut locked = self.lock_shards(&hashes);
        self.route_overflow(&mut locked, checks, &mut hashes, t);
        let (decisions, local) = self.decide_all(&mut locked, checks, &hashes, now);
        if decisions.iter().all(|d| d.allowed) {
            self.commit(&mut locked, checks, &hashes, &decisions, now);
            self.write_back(&mut locked, checks, &hashes, &decisions, local, now);
        }
        drop(locked);
        decisions
    }

    /// Locks the shards of `hashes` in shard order: no two requests can
    /// wait on each other.
    fn lock_shards(&self, hashes: &[u64]) -> Locked<'_> {
        let mut order: Vec<usize> = hashes.iter().map(|&h| self.shard_of(h)).collect();
        order.sort_unstable();
        order.dedup();
        let guards = order.iter().map(|&i| self.shards[i].lock()).collect();
        Locked { order, guards }
    }

    /// New keys that find no room go to their limit's overflow bucket (in
    /// the same shard, so the locks taken cover it).
    fn route_overflow(
        &self,
        locked: &mut Locked<'_>,
        checks: &[LimitCheck],
        hashes: &mut [u64],
        t: u64,
    ) {
        let mut new_in: Vec<usize> = vec![0; locked.order.len()];
        for i in 0..checks.len() {
            let g = locked.slot(self.shard_of(hashes[i]));
            let shard = &mut locked.guards[g];
            if shard.map.len() + checks.len() < self.per_shard_cap {
                continue; // room for every key of this request
            }
            let seen_before = hashes[..i].contains(&hashes[i]);
            if seen_before || shard.map.contains_key(&hashes[i]) {
                continue;
            }
            if shard.has_room(t, self.per_shard_cap, new_in[g], &self.evicted) {
                new_in[g] += 1;
            } else {
                let old = hashes[i];
                let overflow = self.overflow_hash(&checks[i], old);
                for h in hashes[i..].iter_mut().filter(|h| **h == old) {
                    *h = overflow;
                }
                self.overflowed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Decides every check. Keys that are new, or that appear more than
    /// once in this request, are decided on a private copy (returned): a
    /// repeated key must see the cost of its earlier checks (or a bucket
    /// of 1 would admit a request costing it 2), and new keys are inserted
    /// only at the end, so an insertion that evicts cannot remove a key
    /// this request is still using.
    fn decide_all(
        &self,
        locked: &mut Locked<'_>,
        checks: &[LimitCheck],
        hashes: &[u64],
        now: Timestamp,
    ) -> (Vec<Decision>, Vec<(u64, State)>) {
        let mut local: Vec<(u64, State)> = Vec::new();
        let mut decisions = Vec::with_capacity(checks.len());
        for (i, c) in checks.iter().enumerate() {
            let g = locked.shard(self.shard_of(hashes[i]));
            let repeated = hashes.iter().filter(|&&h| h == hashes[i]).count() > 1;
            let state = if let Some(j) = local.iter().position(|(h, _)| *h == hashes[i]) {
                &mut local[j].1
            } else if let (Some(e), false) = (g.map.get_mut(&hashes[i]), repeated) {
                &mut e.state
            } else {
                let s = match g.map.get(&hashes[i]) {
                    Some(e) => e.state.clone(),
                    None => State::fresh(&c.quota, now),
                };
                local.push((hashes[i], s));
                &mut local.last_mut().expect("pushed").1
            };
            let d = algorithm::evaluate(state, now, c.cost, &c.quota);
            if d.allowed && repeated {
                algorithm::consume_as(state, now, c.cost, &c.quota, lease_of(c));
            }
            decisions.push(d);
        }
        (decisions, local)
    }

    /// Consumes in place the checks decided on the shards' own entries (no
    /// insertion has evicted anything yet).
    fn commit(
        &self,
        locked: &mut Locked<'_>,
        checks: &[LimitCheck],
        hashes: &[u64],
        decisions: &[Decision],
        now: Timestamp,
    ) {
        let t = now.as_micros();
        for (i, c) in checks.iter().enumerate() {
            let g = locked.shard(self.shard_of(hashes[i]));
            // A key decided on a copy is not in the map yet, or is repeated.
            let Some(e) = g.map.get_mut(&hashes[i]) else {
                continue;
            };
            if hashes.iter().filter(|&&h| h == hashes[i]).count() > 1 {
                continue;
            }
            algorithm::consume_as(&mut e.state, now, c.cost, &c.quota, lease_of(c));
            e.idle_at = e.idle_at.max(idle_at(t, &decisions[i]));
            g.leases_expired += drain_expired(&mut e.state);
        }
    }

    /// Writes back the copies, already consumed for repeated keys and
    /// still to consume for new ones.
    fn write_back(
        &self,
        locked: &mut Locked<'_>,
        checks: &[LimitCheck],
        hashes: &[u64],
        decisions: &[Decision],
        local: Vec<(u64, State)>,
        now: Timestamp,
    ) {
        let t = now.as_micros();
        for (hash, mut state) in local {
            let mut idle = t;
            let mut keep = false;
            for (i, c) in checks
                .iter()
                .enumerate()
                .filter(|(i, _)| hashes[*i] == hash)
            {
                if hashes.iter().filter(|&&h| h == hash).count() == 1 {
                    algorithm::consume_as(&mut state, now, c.cost, &c.quota, lease_of(c));
                }
                idle = idle.max(idle_at(t, &decisions[i]));
                keep |= takes_state(c);
            }
            let g = locked.shard(self.shard_of(hash));
            g.leases_expired += drain_expired(&mut state);
            if !keep && !g.map.contains_key(&hash) {
                continue;
            }
            match g.map.get_mut(&hash) {
                Some(e) => {
                    e.state = state;
                    e.idle_at = e.idle_at.max(idle);
                }
                // Room was made (or it is an overflow bucket) above.
                None => g.insert(
                    hash,
                    Entry {
                        idle_at: idle,
                        state,
                    },
                ),
            }
        }
    }
}

/// The shards one request locked, in shard order.
struct Locked<'s> {
    order: Vec<usize>,
    guards: Vec<MutexGuard<'s, Shard>>,
}

impl Locked<'_> {
    /// Where shard `shard` is among the locked ones.
    fn slot(&self, shard: usize) -> usize {
        self.order.binary_search(&shard).expect("locked")
    }

    /// Locked shard `shard`.
    fn shard(&mut self, shard: usize) -> &mut Shard {
        let g = self.slot(shard);
        &mut self.guards[g]
    }
}

fn idle_at(t: u64, d: &Decision) -> u64 {
    t.saturating_add(duration_micros(d.reset_after))
}

fn lease_of(c: &LimitCheck) -> Option<u64> {
    c.lease.map(|l| l.get())
}

/// Whether an allowed check leaves state worth keeping: a concurrency check
/// without a lease takes no slot.
fn takes_state(c: &LimitCheck) -> bool {
    c.lease.is_some() || !c.quota.is_concurrency()
}

/// The leases a concurrency state found ended, now counted.
fn drain_expired(state: &mut State) -> u64 {
    match state {
        State::Concurrency(s) => s.take_expired(),
        _ => 0,
    }
}
