//! Leased slices of a limit's quota: their terms, and what a replica asks
//! of the shared store and gives back to it ([`Store::take`],
//! [`Store::give_back`](super::Store::give_back)).
//!
//! [`Store::take`]: super::Store::take

use std::time::Duration;

use super::LimitCheck;
use crate::decision::Decision;
use crate::time::Timestamp;

/// How a leased limit's slices are held: for at most `lease_us`, and each
/// at most `share_ppm` millionths of what the key has left when taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SliceTerms {
    /// The longest a replica decides from a slice (µs).
    pub lease_us: u64,
    /// The largest part of what is left a slice takes, in millionths.
    pub share_ppm: u32,
}

impl SliceTerms {
    /// The lease when the policy names none (1 s).
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(1);
    /// The shortest lease (10 ms).
    pub const MIN_LEASE: Duration = Duration::from_millis(10);
    /// The longest lease (60 s).
    pub const MAX_LEASE: Duration = Duration::from_secs(60);
    /// The share when the policy names none (0.1: a tenth of what is left).
    pub const DEFAULT_SHARE_PPM: u32 = 100_000;

    /// The default terms: a 1 s lease, a tenth of what is left.
    pub fn default_terms() -> SliceTerms {
        SliceTerms {
            lease_us: Self::DEFAULT_LEASE.as_micros() as u64,
            share_ppm: Self::DEFAULT_SHARE_PPM,
        }
    }
}

/// A slice asked for: of `check`'s key, at least `check.cost` (or
/// nothing), at most `want`, and at most `share_ppm` millionths of what
/// the key has left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceWant {
    /// The key, its quota, and the least worth taking as its cost.
    pub check: LimitCheck,
    /// The most to take.
    pub want: u64,
    /// The largest part of what is left to take, in millionths.
    pub share_ppm: u32,
}

/// A slice taken (or not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// How much was taken: 0 when not even the least asked for fits.
    pub n: u64,
    /// The store's time of the take (a give-back names it).
    pub at: Timestamp,
    /// The decision of one request of cost `n` (of the least asked for,
    /// denied, when `n` is 0).
    pub decision: Decision,
    /// How long before the caller's `now` (in the caller's time, µs) the
    /// slice was taken from the store: 0, but for a slice handed down
    /// from a region's pool, whose lease and window count from the pool's
    /// take.
    pub age_us: u64,
}

/// What is left of a slice, going back to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GiveBack {
    /// The key and its quota; `cost` is how much goes back.
    pub check: LimitCheck,
    /// When the slice was taken ([`Taken::at`]).
    pub taken_at: Timestamp,
}
