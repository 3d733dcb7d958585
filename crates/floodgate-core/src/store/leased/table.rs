//! The slices one replica holds, one per key, and what each knows: how
//! much is left, until when, how fast it was used, and a denial the store
//! gave while it lasts.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::gate::Fetch;
use crate::algorithm::slice;
use crate::decision::{Decision, RetryAfter};
use crate::quota::Quota;
use crate::store::{GiveBack, LimitCheck, SliceTerms, SliceWant, Taken};
use crate::time::{duration_micros, Timestamp};

/// A key: the limit and the identity.
pub(super) type Key = (Arc<str>, Arc<str>);

/// A denial the store gave, kept until the earlier of its retry time and
/// the lease's end: requests costing as much or more are denied without
/// asking again.
#[derive(Clone, Copy, Debug)]
pub(super) struct Denial {
    /// Local µs it was given at.
    pub at: u64,
    /// Local µs it holds until.
    pub until: u64,
    /// The cost it was given for.
    pub cost: u64,
    /// The store's decision.
    pub decision: Decision,
}

/// One key's slice.
#[derive(Clone, Debug)]
pub(super) struct Slice {
    pub quota: Quota,
    pub terms: SliceTerms,
    /// What is left to admit.
    pub left: u64,
    /// The slice's size when taken.
    pub taken: u64,
    /// The store's time of the take.
    pub taken_at: Timestamp,
    /// Local µs the slice was taken at.
    pub since: u64,
    /// Local µs the lease ends at (the window's end for windows).
    pub ends: u64,
    /// Local µs the window of the take ends at (`u64::MAX`: not a window).
    pub window_end: u64,
    /// Admitted from this slice.
    pub used: u64,
    /// When a request last reserved from it (local µs).
    pub last_used: u64,
    /// The next slice's size.
    pub want: u64,
    /// What the store had left after the take.
    pub store_remaining: u64,
    /// Local µs the key would be idle at, as the take's decision said.
    pub idle_at: u64,
    pub denial: Option<Denial>,
    /// A request is taking the next slice: others wait for it (once),
    /// then decide on the store.
    pub fetching: Option<Fetch>,
    /// The slice's generation, unique in the table (0: nothing installed
    /// yet): a reservation made on one slice is never returned to
    /// another, even one installed after the key was dropped or replaced.
    pub gen: u64,
    /// The table's last generation when this key entered the table: a
    /// reservation of an older generation was made before the key was
    /// dropped (a reset), and counts for nothing now.
    pub born: u64,
}

impl Slice {
    pub(super) fn empty(check: &LimitCheck, terms: SliceTerms, t: u64) -> Slice {
        Slice {
            quota: check.quota,
            terms,
            left: 0,
            taken: 0,
            taken_at: Timestamp::from_micros(t),
            since: t,
            ends: t,
            window_end: u64::MAX,
            used: 0,
            last_used: 0,
            // Nothing known of the key's demand yet: as much as the share
            // allows (the store caps it); later slices follow the demand.
            want: u64::MAX,
            store_remaining: 0,
            idle_at: t,
            denial: None,
            fetching: None,
            gen: 0,
            born: 0,
        }
    }

    /// Whether the slice may still admit at `t`.
    pub(super) fn live(&self, t: u64) -> bool {
        t < self.ends
    }

    /// The decision of a request admitted from this slice, `left` already
    /// reduced: what the replica holds plus what the store had left.
    pub(super) fn allowed(&self, t: u64) -> Decision {
        Decision {
            allowed: true,
            limit: slice::size(&self.quota),
            remaining: self.left.saturating_add(self.store_remaining),
            reset_after: std::time::Duration::from_micros(self.idle_at.saturating_sub(t)),
            retry_after: None,
            delay: std::time::Duration::ZERO,
        }
    }

    /// The kept denial for a request of `cost` at `t`, if it still holds.
    pub(super) fn denied(&self, t: u64, cost: u64) -> Option<Decision> {
        let d = self.denial?;
        if t >= d.until || cost < d.cost {
            return None;
        }
        let mut decision = d.decision;
        if let Some(RetryAfter::After(w)) = decision.retry_after {
            let left = duration_micros(w).saturating_sub(t - d.at).max(1);
            decision.retry_after = Some(RetryAfter::After(std::time::Duration::from_micros(left)));
        }
        Some(decision)
    }

    /// The size of the next slice, from how fast this one was used: the
    /// demand over a lease, growing at most fourfold a step, at least 1.
    pub(super) fn next_want(&self, t: u64) -> u64 {
        let lease = self.terms.lease_us.max(1);
        let elapsed = t.saturating_sub(self.since).clamp(lease / 100 + 1, lease);
        let demand = (self.used as u128 * lease as u128).div_ceil(elapsed as u128);
        let cap = self.taken.max(1).saturating_mul(4);
        (demand.min(u64::MAX as u128) as u64).clamp(1, cap)
    }

    /// Ends the current slice at `t`: returns what of it goes back, and
    /// how much cannot (a window that ended, part of a sliding log's
    /// slice, what a bucket refilled while the slice was held past its
    /// lease), and sets the next slice's size.
    pub(super) fn retire(&mut self, key: &Key, t: u64) -> (Option<GiveBack>, u64) {
        let left = std::mem::take(&mut self.left);
        if self.taken > 0 {
            self.want = self.next_want(t);
        }
        let late = t.saturating_sub(self.ends);
        self.ends = self.ends.min(t);
        if left == 0 {
            return (None, 0);
        }
        let whole = left == self.taken;
        let back = match self.quota {
            Quota::FixedWindow { .. } | Quota::SlidingCounter { .. } if t >= self.window_end => 0,
            Quota::SlidingLog { .. } if !whole => 0,
            // A bucket refilled while the slice was held past its lease:
            // what it refilled meanwhile does not go back twice.
            Quota::TokenBucket { refill: r, .. }
            | Quota::Gcra { rate: r, .. }
            | Quota::LeakyBucket { leak: r, .. } => {
                let refilled = (r.amount() as u128 * late as u128).div_ceil(r.period_us() as u128);
                left.saturating_sub(refilled.min(u64::MAX as u128) as u64)
            }
            _ => left,
        };
        if back == 0 {
            return (None, left);
        }
        let mut check = LimitCheck::new(key.0.clone(), key.1.clone(), self.quota, back);
        check.sync = Some(self.terms);
        let g = GiveBack {
            check,
            taken_at: self.taken_at,
        };
        (Some(g), left - back)
    }

    /// Whether the tick should renew this slice at `t`: it was spent
    /// while its lease runs, the store had more left when it was taken,
    /// and no denial or take is under way.
    pub(super) fn wants_renewal(&self, t: u64, ahead_us: u64) -> bool {
        let renewable = self.taken > 0
            && self.live(t)
            && self.store_remaining > 0
            && self.denial.is_none()
            && self.fetching.is_none();
        renewable && (self.left == 0 || self.runs_out_within(t, ahead_us))
    }

    /// Whether a slice still holding units, of a key used over the last
    /// `ahead_us` (at most half the lease), would run out within it: its
    /// lease ending, or its units at the rate they were used at.
    fn runs_out_within(&self, t: u64, ahead_us: u64) -> bool {
        let ahead = ahead_us.min(self.terms.lease_us / 2);
        if ahead == 0 || self.used == 0 || t.saturating_sub(self.last_used) > ahead {
            return false;
        }
        let elapsed = t.saturating_sub(self.since).max(1);
        let need = (self.used as u128 * ahead as u128).div_ceil(elapsed as u128);
        self.ends <= t.saturating_add(ahead) || need >= self.left as u128
    }

    /// What a renewal of this slice asks the store for (see
    /// [`Slice::wants_renewal`]): a slice sized by the demand, for a
    /// request of one.
    pub(super) fn renewal(&self, key: &Key, t: u64) -> SliceWant {
        let mut check = LimitCheck::new(key.0.clone(), key.1.clone(), self.quota, 1);
        check.sync = Some(self.terms);
        SliceWant {
            want: self.next_want(t),
            share_ppm: self.terms.share_ppm,
            check,
        }
    }

    /// Installs a slice the store handed out at local `t`, as generation
    /// `gen` (see [`Table::next_gen`]).
    pub(super) fn install(&mut self, taken: &Taken, need: u64, t: u64, gen: u64) {
        // The requests waiting for it decide again once it is in place:
        // the mark is dropped (they are woken) at the end of this call.
        let _done = self.fetching.take();
        self.gen = gen;
        if taken.n == 0 {
            let wait = match taken.decision.retry_after {
                Some(RetryAfter::After(w)) => duration_micros(w),
                _ => self.terms.lease_us,
            };
            self.denial = Some(Denial {
                at: t,
                until: t.saturating_add(wait.min(self.terms.lease_us)),
                cost: need,
                decision: taken.decision,
            });
            self.taken = 0;
            self.used = 0;
            self.since = t;
            return;
        }
        let store_t = taken.at.as_micros();
        let window_left = match self.quota {
            Quota::FixedWindow { window_us, .. } | Quota::SlidingCounter { window_us, .. } => {
                window_us - store_t % window_us
            }
            _ => u64::MAX,
        };
        self.denial = None;
        self.left = taken.n;
        self.taken = taken.n;
        self.taken_at = taken.at;
        self.since = t;
        self.used = 0;
        // A slice handed down from a region's pool: its window and lease
        // count from the pool's take, `age_us` ago.
        let taken_t = t.saturating_sub(taken.age_us);
        self.window_end = taken_t.saturating_add(window_left);
        self.ends = taken_t
            .saturating_add(self.terms.lease_us)
            .min(self.window_end);
        self.store_remaining = taken.decision.remaining;
        self.idle_at = t.saturating_add(duration_micros(taken.decision.reset_after));
    }
}

/// The slices, in shards (one lock each).
pub(super) struct Table {
    shards: Box<[Mutex<HashMap<Key, Slice>>]>,
    seed: foldhash::fast::FixedState,
    /// Keys held (kept beside the maps: counting them takes no lock).
    count: AtomicUsize,
    /// The last generation handed out.
    gens: AtomicU64,
}

impl Table {
    pub(super) fn new() -> Table {
        Table {
            shards: (0..16).map(|_| Mutex::new(HashMap::new())).collect(),
            seed: foldhash::fast::FixedState::default(),
            count: AtomicUsize::new(0),
            gens: AtomicU64::new(0),
        }
    }

    /// The last generation handed out.
    pub(super) fn last_gen(&self) -> u64 {
        self.gens.load(Ordering::Relaxed)
    }

    /// A generation no slice of this table had before.
    pub(super) fn next_gen(&self) -> u64 {
        self.gens.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(super) fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub(super) fn added(&self, n: usize) {
        self.count.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn removed(&self, n: usize) {
        self.count.fetch_sub(n, Ordering::Relaxed);
    }

    pub(super) fn shard(&self, key: &Key) -> &Mutex<HashMap<Key, Slice>> {
        &self.shards[(self.seed.hash_one(key) % self.shards.len() as u64) as usize]
    }

    pub(super) fn shards(&self) -> impl Iterator<Item = &Mutex<HashMap<Key, Slice>>> {
        self.shards.iter()
    }

    /// Every shard once, from the `start`-th (modulo their number).
    pub(super) fn shards_from(
        &self,
        start: usize,
    ) -> impl Iterator<Item = &Mutex<HashMap<Key, Slice>>> {
        let n = self.shards.len();
        self.shards.iter().cycle().skip(start % n).take(n)
    }

    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}
