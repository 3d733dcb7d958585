//! The in-memory store: sharded hash maps behind short-held locks.
//!
//! - Keys are 64-bit hashes of `(limit_id, identity)` under a per-process
//!   random seed, so an entry costs no heap allocation and clients cannot
//!   aim collisions at one another (two of a million keys collide with
//!   probability about 3·10⁻⁸).
//! - Shards are `parking_lot` mutexes; a request whose limits span several
//!   shards locks them in shard order, so there is no deadlock and the
//!   decision over all limits is atomic.
//! - Every entry records when its state will be idle again; each shard
//!   drops idle entries every `sweep_interval`.
//! - A hard cap on keys that cannot be gamed: a shard that is full drops
//!   its idle entries (whose loss changes no decision), and never an entry
//!   that is not idle. When no idle entry is left, a new key is decided on
//!   its limit's **overflow bucket** (one per limit and shard, exempt from
//!   the cap): every key that finds no room shares it. So a flood of
//!   invented keys can never reset a limited client; while it lasts, new
//!   clients share one client's quota per limit instead of getting their
//!   own.
//! - A concurrency limit's state is the list of its holders (lease id and
//!   lease end); its entry is idle once every lease has ended, and goes
//!   as soon as its last holder releases.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

mod check;
mod shard;
mod slices;

use shard::Shard;

use super::{
    BoxFuture, GiveBack, LeaseOp, LeaseStatus, LimitCheck, SliceWant, Store, StoreError, Taken,
};
use crate::algorithm::{self, State};
use crate::decision::Decision;
use crate::quota::Quota;
use crate::time::{duration_micros, Timestamp};

/// Settings of a [`MemoryStore`].
#[derive(Clone, Copy, Debug)]
pub struct MemoryStoreConfig {
    /// Most keys held at once; past it, entries are evicted.
    pub max_keys: usize,
    /// Number of shards (rounded up to a power of two).
    pub shards: usize,
    /// How often each shard drops idle entries.
    pub sweep_interval: Duration,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        MemoryStoreConfig {
            max_keys: 1_000_000,
            shards: 64,
            sweep_interval: Duration::from_secs(10),
        }
    }
}

/// Thread-safe, sharded, bounded in-memory store.
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    shard_bits: u32,
    per_shard_cap: usize,
    sweep_us: u64,
    seed: foldhash::quality::RandomState,
    evicted: AtomicU64,
    overflowed: AtomicU64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(MemoryStoreConfig::default())
    }
}

impl MemoryStore {
    /// A store with `config`.
    pub fn new(config: MemoryStoreConfig) -> Self {
        let n = config.shards.clamp(1, 1 << 16).next_power_of_two();
        let per_shard_cap = config.max_keys.div_ceil(n).max(1);
        let shards = (0..n)
            .map(|_| {
                Mutex::new(Shard {
                    map: HashMap::default(),
                    next_sweep: 0,
                    first_idle: 0,
                    leases_expired: 0,
                })
            })
            .collect();
        MemoryStore {
            shards,
            shard_bits: n.trailing_zeros(),
            per_shard_cap,
            sweep_us: duration_micros(config.sweep_interval).max(1),
            seed: foldhash::quality::RandomState::default(),
            evicted: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
        }
    }

    fn hash(&self, check: &LimitCheck) -> u64 {
        let mut h = self.seed.build_hasher();
        h.write(check.limit_id.as_bytes());
        h.write_u8(0xff);
        h.write(check.identity.as_bytes());
        h.finish()
    }

    fn shard_of(&self, hash: u64) -> usize {
        if self.shard_bits == 0 {
            0
        } else {
            (hash >> (64 - self.shard_bits)) as usize
        }
    }

    /// Decides every check at `now`, atomically (see [`Store::check`]).
    pub fn check_sync(&self, checks: &[LimitCheck], now: Timestamp) -> Vec<Decision> {
        match checks {
            [] => Vec::new(),
            [one] => vec![self.check_one(one, now)],
            many => self.check_many(many, now),
        }
    }

    /// What each check would decide at `now`, each on its own, consuming
    /// nothing (see [`Store::inspect`]).
    pub fn inspect_sync(&self, checks: &[LimitCheck], now: Timestamp) -> Vec<Decision> {
        checks
            .iter()
            .map(|c| {
                let hash = self.hash(c);
                let mut state = match self.shards[self.shard_of(hash)].lock().map.get(&hash) {
                    Some(e) => e.state.clone(),
                    None => State::fresh(&c.quota, now),
                };
                algorithm::evaluate(&mut state, now, c.cost, &c.quota)
            })
            .collect()
    }

    /// Drops the state of every check's key (see [`Store::reset`]).
    pub fn reset_sync(&self, checks: &[LimitCheck]) -> u64 {
        checks
            .iter()
            .filter(|c| {
                let hash = self.hash(c);
                self.shards[self.shard_of(hash)]
                    .lock()
                    .map
                    .remove(&hash)
                    .is_some()
            })
            .count() as u64
    }

    /// The key of `check`'s limit's overflow bucket in the shard of
    /// `hash`: the shard bits of `hash`, the rest from the limit alone.
    fn overflow_hash(&self, check: &LimitCheck, hash: u64) -> u64 {
        let mut h = self.seed.build_hasher();
        h.write(check.limit_id.as_bytes());
        h.write_u8(0xfe);
        let low = h.finish();
        if self.shard_bits == 0 {
            return low;
        }
        let keep = 64 - self.shard_bits;
        (hash >> keep << keep) | (low & (u64::MAX >> self.shard_bits))
    }

    fn maybe_sweep(&self, shard: &mut Shard, t: u64) {
        if t >= shard.next_sweep {
            shard.sweep(t);
            shard.next_sweep = t.saturating_add(self.sweep_us);
        }
    }

    /// Drops every idle entry now (a shard also does it on its own every
    /// `sweep_interval`).
    pub fn sweep(&self, now: Timestamp) {
        for s in self.shards.iter() {
            s.lock().sweep(now.as_micros());
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map.len()).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Idle entries dropped to make room for new keys, since start (an
    /// entry that is not idle is never dropped).
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Decisions of new keys made on their limit's overflow bucket because
    /// the store was full of keys that are not idle, since start.
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Concurrency slots whose lease ended before their holder released
    /// them, found and freed since start.
    pub fn leases_expired(&self) -> u64 {
        self.shards.iter().map(|s| s.lock().leases_expired).sum()
    }

    /// Releases or renews the lease of every concurrency check at `now`
    /// (see [`Store::leases`]).
    pub fn lease_sync(
        &self,
        op: LeaseOp,
        checks: &[LimitCheck],
        now: Timestamp,
    ) -> Vec<LeaseStatus> {
        let renew = op == LeaseOp::Renew;
        let t = now.as_micros();
        checks
            .iter()
            .map(|c| {
                let (Some(lease), Quota::Concurrency { lease_us, .. }) = (c.lease, c.quota) else {
                    return LeaseStatus::Missing;
                };
                let hash = self.hash(c);
                let mut shard = self.shards[self.shard_of(hash)].lock();
                // A slot taken while the store was full is in the limit's
                // overflow bucket.
                let overflow = self.overflow_hash(c, hash);
                let mut status = LeaseStatus::Missing;
                for h in [hash, overflow] {
                    let Some(e) = shard.map.get_mut(&h) else {
                        continue;
                    };
                    let State::Concurrency(slots) = &mut e.state else {
                        continue;
                    };
                    status = if renew {
                        slots.renew(lease.get(), t, lease_us)
                    } else {
                        slots.release(lease.get(), t)
                    };
                    if status == LeaseStatus::Missing {
                        continue;
                    }
                    if renew {
                        e.idle_at = e.idle_at.max(slots.last_end(t));
                    }
                    let expired = slots.take_expired();
                    let empty = slots.holders.is_empty();
                    shard.leases_expired += expired;
                    if empty {
                        shard.map.remove(&h);
                    }
                    break;
                }
                status
            })
            .collect()
    }

    /// The most keys this store holds (besides one overflow bucket per
    /// limit and shard).
    pub fn capacity(&self) -> usize {
        self.per_shard_cap * self.shards.len()
    }
}

impl Store for MemoryStore {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        let out = self.check_sync(checks, now);
        Box::pin(std::future::ready(Ok(out)))
    }

    fn inspect<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        Box::pin(std::future::ready(Ok(self.inspect_sync(checks, now))))
    }

    fn reset<'a>(&'a self, checks: &'a [LimitCheck]) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(std::future::ready(Ok(self.reset_sync(checks))))
    }

    fn active_keys(&self) -> Option<u64> {
        Some(self.len() as u64)
    }

    fn leases<'a>(
        &'a self,
        op: LeaseOp,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        Box::pin(std::future::ready(Ok(self.lease_sync(op, checks, now))))
    }

    fn leases_expired(&self) -> Option<u64> {
        Some(self.leases_expired())
    }

    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        Box::pin(std::future::ready(Ok(self.take_sync(wants, now))))
    }

    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        _now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.give_back_sync(slices);
        Box::pin(std::future::ready(Ok(())))
    }
}
