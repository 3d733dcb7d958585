//! What a leased store counts: slices taken, given back and wasted, and
//! where its leased decisions were made.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a [`LeasedStore`](super::LeasedStore), since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeasedStats {
    /// Slices taken (each one store answer with something in it).
    pub slices_taken: u64,
    /// Units (request costs) taken in slices.
    pub units_taken: u64,
    /// Units given back to the store.
    pub units_returned: u64,
    /// Units held and neither used nor given back (a window that ended,
    /// part of a sliding log's slice, a give-back that failed): the
    /// under-admission leased mode caused.
    pub units_wasted: u64,
    /// Requests whose leased checks were decided here, from slices or a
    /// kept denial.
    pub decided_locally: u64,
    /// Requests with leased checks decided on the store instead (a slice
    /// being taken again after a wait for another request's take, the
    /// table full, a store that failed to hand one out).
    pub decided_on_store: u64,
    /// Calls that took slices.
    pub take_calls: u64,
    /// Calls that gave slices back.
    pub give_back_calls: u64,
    /// Calls the tick made to renew spent slices of keys in use.
    pub renew_calls: u64,
    /// Slices asked for in those calls.
    pub renewed: u64,
    /// Keys that found the table full.
    pub table_full: u64,
    /// Requests that waited for another request's take of a slice they
    /// needed (single flight), then decided again.
    pub waited: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub slices_taken: AtomicU64,
    pub units_taken: AtomicU64,
    pub units_returned: AtomicU64,
    pub units_wasted: AtomicU64,
    pub decided_locally: AtomicU64,
    pub decided_on_store: AtomicU64,
    pub take_calls: AtomicU64,
    pub give_back_calls: AtomicU64,
    pub renew_calls: AtomicU64,
    pub renewed: AtomicU64,
    pub table_full: AtomicU64,
    pub waited: AtomicU64,
}

pub(super) fn add(c: &AtomicU64, n: u64) {
    if n > 0 {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

impl Counters {
    pub(super) fn snapshot(&self) -> LeasedStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LeasedStats {
            slices_taken: g(&self.slices_taken),
            units_taken: g(&self.units_taken),
            units_returned: g(&self.units_returned),
            units_wasted: g(&self.units_wasted),
            decided_locally: g(&self.decided_locally),
            decided_on_store: g(&self.decided_on_store),
            take_calls: g(&self.take_calls),
            give_back_calls: g(&self.give_back_calls),
            renew_calls: g(&self.renew_calls),
            renewed: g(&self.renewed),
            table_full: g(&self.table_full),
            waited: g(&self.waited),
        }
    }
}
