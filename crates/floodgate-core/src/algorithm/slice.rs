//! Slices of a limit's quota, for leased decisions: a replica takes part
//! of what a key has left in one step (consumed from the shared state as
//! one request of that cost would be) and gives back what it did not use.
//!
//! Taking: of the largest cost `avail` the state would allow now (at most
//! the limit's size), take `min(want, max(need, ⌊avail · share⌋))`, or
//! nothing when not even `need` fits. So a slice is never more than
//! `share` of what is left, and near the edge it shrinks to `need`: the
//! last requests are decided one by one on the shared state. The Redis
//! script (`lua/check.lua`, mode `t`) takes the same way.
//!
//! Giving back undoes part of a consume made at `t0`, as the Redis
//! scripts' refund does: tokens go back into a bucket (up to its size), a
//! GCRA's or meter's time or level moves back, a window's count goes down
//! while it is still the window of `t0`. A sliding log gives back only a
//! whole slice (one entry of exactly that cost); shaping and concurrency
//! limits have no slices ([`leasable`]).

use super::{consume, evaluate, gcra, State};
use crate::decision::Decision;
use crate::quota::{LeakMode, Quota};
use crate::time::Timestamp;

/// One millionth: the unit of a slice's `share`.
pub const SHARE_UNIT: u32 = 1_000_000;

/// Whether `quota` can be decided from slices: every rate algorithm but
/// the shaping leaky bucket (it delays, it does not admit) and not a
/// concurrency limit (slots are held by requests, not counted).
pub fn leasable(quota: &Quota) -> bool {
    !matches!(
        quota,
        Quota::Concurrency { .. }
            | Quota::LeakyBucket {
                mode: LeakMode::Shaping,
                ..
            }
    )
}

/// The most one request may cost under `quota`: its capacity, burst or
/// per-window limit.
pub fn size(quota: &Quota) -> u64 {
    match *quota {
        Quota::TokenBucket { capacity, .. } | Quota::LeakyBucket { capacity, .. } => capacity,
        Quota::FixedWindow { limit, .. }
        | Quota::SlidingLog { limit, .. }
        | Quota::SlidingCounter { limit, .. }
        | Quota::Concurrency { limit, .. } => limit,
        Quota::Gcra { burst, .. } => burst,
    }
}

/// `⌊avail · share / 10^6⌋`, computed in doubles in this order, as the
/// Redis script does.
pub fn share_of(avail: u64, share_ppm: u32) -> u64 {
    (avail as f64 * share_ppm as f64 / SHARE_UNIT as f64).floor() as u64
}

/// How much a slice takes when `avail` is allowed now: see the module.
pub fn slice_size(avail: u64, need: u64, want: u64, share_ppm: u32) -> u64 {
    want.min(need.max(share_of(avail, share_ppm))).max(need)
}

/// Takes a slice from `state` at `now`: returns how much was taken (0: not
/// even `need` fits) and the decision of a request of that cost (of
/// `need`, denied, when nothing was taken). The state is consumed by the
/// amount taken.
pub fn take(
    state: &mut State,
    now: Timestamp,
    need: u64,
    want: u64,
    share_ppm: u32,
    quota: &Quota,
) -> (u64, Decision) {
    let denied = evaluate(state, now, need, quota);
    if !denied.allowed {
        return (0, denied);
    }
    // The largest cost allowed now: allowing is monotone in the cost.
    let (mut lo, mut hi) = (need, size(quota));
    if evaluate(state, now, hi, quota).allowed {
        lo = hi;
    }
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if evaluate(state, now, mid, quota).allowed {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let n = slice_size(lo, need, want, share_ppm);
    let d = evaluate(state, now, n, quota);
    debug_assert!(d.allowed, "a cost below what is allowed must be allowed");
    consume(state, now, n, quota);
    (n, d)
}

/// Gives back `n` of a slice taken at `t0` (see the module). Returns
/// whether anything went back.
pub fn give_back(state: &mut State, t0: Timestamp, n: u64, quota: &Quota) -> bool {
    let t0 = t0.as_micros();
    match (state, *quota) {
        (State::TokenBucket(s), Quota::TokenBucket { capacity, refill }) => {
            let full = capacity * refill.period_us();
            s.level = full.min(s.level + n * refill.period_us());
            true
        }
        (State::LeakyBucket(s), Quota::LeakyBucket { leak, .. }) => {
            s.level = s.level.saturating_sub(n * leak.period_us());
            true
        }
        (State::Gcra(s), Quota::Gcra { rate, .. }) => {
            *s = gcra::moved_back(s, n, rate.amount(), rate.period_us());
            true
        }
        (State::FixedWindow(s), Quota::FixedWindow { window_us, .. })
            if s.start == t0 - t0 % window_us =>
        {
            s.count = s.count.saturating_sub(n);
            true
        }
        (State::SlidingCounter(s), Quota::SlidingCounter { window_us, .. }) => {
            let w0 = t0 - t0 % window_us;
            if s.start == w0 {
                s.curr = s.curr.saturating_sub(n);
                true
            } else if s.start == w0 + window_us {
                s.prev = s.prev.saturating_sub(n);
                true
            } else {
                false
            }
        }
        (State::SlidingLog(s), Quota::SlidingLog { .. }) => {
            let at = s.entries.iter().rposition(|&(x, c)| x >= t0 && c == n);
            match at {
                Some(i) => {
                    s.entries.remove(i);
                    s.total -= n;
                    true
                }
                None => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
