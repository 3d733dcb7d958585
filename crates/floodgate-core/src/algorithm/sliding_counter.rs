//! Sliding window counter: `p = (t mod W)/W`, `est = prev·(1 − p) + curr`;
//! a request of cost `n` is allowed iff `est + n ≤ L`.
//!
//! The estimate is a double, computed as `prev·(W − e)/W + curr` in exactly
//! this order (the Lua script does the same), so both stores agree to the
//! bit. It never increases as time passes, so the retry time is found by a
//! binary search on whole microseconds and is exact.

use super::math::{allowed, denied};
use crate::Decision;

/// Sliding counter state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Start of the current window (µs).
    pub start: u64,
    /// Cost admitted in the previous window.
    pub prev: u64,
    /// Cost admitted in the current window.
    pub curr: u64,
}

/// The counters as of `t`. A clock that stepped back stays in the window
/// it already counted in.
fn roll(s: &Counter, t: u64, w: u64) -> Counter {
    let start = t - t % w;
    if start <= s.start {
        *s
    } else if start == s.start + w {
        Counter {
            start,
            prev: s.curr,
            curr: 0,
        }
    } else {
        Counter {
            start,
            prev: 0,
            curr: 0,
        }
    }
}

/// The weighted estimate at `t` (`c` already rolled to `t`).
pub fn estimate(c: &Counter, t: u64, w: u64) -> f64 {
    let e = t.saturating_sub(c.start).min(w);
    c.prev as f64 * (w - e) as f64 / w as f64 + c.curr as f64
}

fn fits(s: &Counter, t: u64, cost: u64, limit: u64, w: u64) -> bool {
    let c = roll(s, t, w);
    estimate(&c, t, w) + cost as f64 <= limit as f64
}

fn remaining(c: &Counter, t: u64, limit: u64, w: u64) -> u64 {
    let left = limit as f64 - estimate(c, t, w);
    if left <= 0.0 {
        0
    } else {
        left.floor() as u64
    }
}

fn reset(c: &Counter, t: u64, w: u64) -> u64 {
    let end = if c.curr > 0 {
        c.start + 2 * w
    } else if c.prev > 0 {
        c.start + w
    } else {
        return 0;
    };
    end.saturating_sub(t)
}

pub(crate) fn evaluate(s: &mut Counter, t: u64, cost: u64, limit: u64, w: u64) -> Decision {
    let c = roll(s, t, w);
    if cost > limit {
        return denied(limit, remaining(&c, t, limit, w), reset(&c, t, w), None);
    }
    if estimate(&c, t, w) + cost as f64 <= limit as f64 {
        let after = Counter {
            curr: c.curr + cost,
            ..c
        };
        allowed(limit, remaining(&after, t, limit, w), reset(&after, t, w))
    } else {
        // Two windows on, both counts are gone and n ≤ L fits.
        let (mut lo, mut hi) = (t, c.start.max(t - t % w) + 2 * w);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(s, mid, cost, limit, w) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        denied(
            limit,
            remaining(&c, t, limit, w),
            reset(&c, t, w),
            Some(hi - t),
        )
    }
}

pub(crate) fn consume(s: &mut Counter, t: u64, cost: u64, w: u64) {
    let c = roll(s, t, w);
    *s = Counter {
        curr: c.curr + cost,
        ..c
    };
}
