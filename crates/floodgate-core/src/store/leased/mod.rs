//! `LeasedStore`: decides leased limits (checks with
//! [`LimitCheck::sync`]) from slices of their quota this replica took from
//! the store it wraps, and every other limit on that store.
//!
//! - A key's first request, or one that finds its slice spent or its lease
//!   ended, takes a slice ([`Store::take`]): its size follows the key's
//!   demand here over a lease, and the store caps it at a share of what
//!   is left, so near the edge a slice is one request and decisions are
//!   the store's own. The slices a request needs are taken in one call.
//! - A request is admitted from its slices, all or nothing: its checks
//!   reserve from each slice in turn, and a check that cannot gives the
//!   others back (a local rollback). Limits of the request that are not
//!   leased are decided on the store after the leased ones reserved; a
//!   denial there gives the reservations back.
//! - A denial the store gave for a key is kept until its retry time (at
//!   most a lease): requests on a key over its limit cost no call.
//! - While one request takes a key's slice, the others on that key wait
//!   for it (single flight) and decide from the new slice; one that finds
//!   the key being taken again after its wait is decided on the store
//!   (exactly), as are requests whose keys find the table full, and
//!   requests whose slice could not be taken (the store failed: the
//!   wrapped store's failure policy decides).
//! - [`LeasedStore::tick`] ends the leases that ran out and gives back
//!   what is left of them, in one call; [`LeasedStore::give_back_all`]
//!   does it for every slice (shutdown, a policy change).
//! - The tick also renews, in one call, the slices that were spent while
//!   their lease still ran and the store had more left (a key in use):
//!   their next requests find a slice in place instead of each taking one
//!   on its own call ([`LeasedStoreConfig::renew`]).
//!
//! The bounds this keeps are in `docs/leased.md` and proved by the
//! simulation in `sim.rs`.

mod decide;
mod gate;
#[cfg(test)]
mod in_flight_tests;
#[cfg(test)]
mod rollback_tests;
#[cfg(test)]
mod sim;
mod stats;
mod table;
#[cfg(test)]
mod tests;
mod upkeep;

use stats::Counters;
pub use stats::LeasedStats;
use table::{Key, Table};

use super::{
    BoxFuture, GiveBack, LeaseOp, LeaseStatus, LimitCheck, SliceWant, Store, StoreError, Taken,
};
use crate::algorithm::slice::leasable;
use crate::decision::Decision;
use crate::time::Timestamp;

/// Settings of a [`LeasedStore`].
#[derive(Clone, Copy, Debug)]
pub struct LeasedStoreConfig {
    /// Most keys holding a slice (or a kept denial) at once; a request on
    /// a new key past it is decided on the store.
    pub max_keys: usize,
    /// Whether [`LeasedStore::tick`] renews spent slices of keys in use
    /// (at most [`RENEW_MAX`] a tick, in one call).
    pub renew: bool,
    /// With `renew`, a slice of a key in use is also renewed this long
    /// before it would run out (its lease ending, or its units at the
    /// key's rate), at most half its lease: its requests then never wait
    /// for a take while the key is busy. For a store far away (a global
    /// store across regions): about a round trip and a tick. Zero (the
    /// default): only spent slices are renewed.
    pub renew_ahead: std::time::Duration,
}

impl Default for LeasedStoreConfig {
    fn default() -> Self {
        LeasedStoreConfig {
            max_keys: 100_000,
            renew: true,
            renew_ahead: std::time::Duration::ZERO,
        }
    }
}

/// The most slices one tick renews (one call of this many takes keeps
/// Redis busy for a few milliseconds at most); the rest wait for the next
/// tick or take their own.
pub const RENEW_MAX: usize = 256;

/// A store that decides leased limits from slices (see the module).
pub struct LeasedStore<S> {
    inner: S,
    table: Table,
    config: LeasedStoreConfig,
    counters: Counters,
    /// What is left of ended slices, waiting for the next give-back.
    pending: parking_lot::Mutex<Vec<GiveBack>>,
    /// Ticks so far (where the next tick's renewals start).
    ticks: std::sync::atomic::AtomicUsize,
}

/// A reservation a request made on a slice.
struct Reserved {
    key: Key,
    cost: u64,
    gen: u64,
    taken_at: Timestamp,
}

/// What deciding from the slices alone came to.
enum Local {
    /// Every leased check decided: its decision (`None` for the others),
    /// the reservations made, and whether one was denied.
    Decided(Vec<Option<Decision>>, Vec<Reserved>, bool),
    /// These slices must be taken first.
    Take(Vec<SliceWant>),
    /// Another request is taking a slice this one needs: wait for it.
    Wait(std::sync::Arc<gate::Gate>),
    /// Decide the request on the store.
    OnStore,
}

fn is_leased(c: &LimitCheck) -> bool {
    c.sync.is_some() && c.lease.is_none() && leasable(&c.quota)
}

fn key_of(c: &LimitCheck) -> Key {
    (c.limit_id.clone(), c.identity.clone())
}

impl<S: Store> LeasedStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, config: LeasedStoreConfig) -> LeasedStore<S> {
        LeasedStore {
            inner,
            table: Table::new(),
            config,
            counters: Counters::default(),
            pending: parking_lot::Mutex::new(Vec::new()),
            ticks: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The counters since start.
    pub fn stats(&self) -> LeasedStats {
        self.counters.snapshot()
    }

    /// Keys holding a slice or a kept denial.
    pub fn keys(&self) -> usize {
        self.table.len()
    }

    /// Units held in slices not given back yet (live or ended since the
    /// last tick).
    pub fn held_units(&self) -> u64 {
        self.table
            .shards()
            .map(|s| s.lock().values().map(|sl| sl.left).sum::<u64>())
            .sum()
    }

    /// Units held in live slices at `now`: at most this much is admitted
    /// here that the store already counts as spent.
    pub fn held(&self, now: Timestamp) -> u64 {
        let t = now.as_micros();
        self.table
            .shards()
            .map(|s| {
                s.lock()
                    .values()
                    .filter(|sl| sl.live(t))
                    .map(|sl| sl.left)
                    .sum::<u64>()
            })
            .sum()
    }
}

impl<S: Store> Store for LeasedStore<S> {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        if !checks.iter().any(is_leased) {
            return self.inner.check(checks, now);
        }
        Box::pin(self.check_leased(checks, now))
    }

    fn inspect<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        self.inner.inspect(checks, now)
    }

    fn reset<'a>(&'a self, checks: &'a [LimitCheck]) -> BoxFuture<'a, Result<u64, StoreError>> {
        for c in checks {
            let key = key_of(c);
            if self.table.shard(&key).lock().remove(&key).is_some() {
                self.table.removed(1);
            }
        }
        self.inner.reset(checks)
    }

    fn active_keys(&self) -> Option<u64> {
        self.inner.active_keys()
    }

    fn leases<'a>(
        &'a self,
        op: LeaseOp,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        self.inner.leases(op, checks, now)
    }

    fn leases_expired(&self) -> Option<u64> {
        self.inner.leases_expired()
    }

    fn failure_domain(&self, check: &LimitCheck) -> usize {
        self.inner.failure_domain(check)
    }

    fn domain_name(&self, domain: usize) -> Option<String> {
        self.inner.domain_name(domain)
    }

    fn domains_epoch(&self) -> u64 {
        self.inner.domains_epoch()
    }

    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        self.inner.take(wants, now)
    }

    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.give_back(slices, now)
    }
}
