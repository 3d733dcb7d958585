//! Leaky bucket, as a meter (policing) and as a queue (shaping).
//!
//! Policing: the level starts at 0 and leaks at `r`/s; a request of cost `n`
//! is allowed iff `level + n ≤ C`. Levels are in units of `1/P`, as in the
//! token bucket.
//!
//! Shaping: requests leave at a constant rate. The first leaves at once;
//! each later one at `s = max(t, last_departure + n/r)`, and it is allowed,
//! held for `s − t`, iff `(s − t)·r ≤ C` (at most `C` wait ahead of it). So
//! from idle a burst of `C + 1` unit requests is admitted: one leaves at
//! once and `C` queue. The departure time is kept exactly, as whole µs plus
//! a remainder in `1/k` µs.

use super::exact_time::ExactTime;
use super::level::Level;
use super::math::{allowed, ceil_div, denied};
use crate::quota::Rate;
use crate::Decision;

/// Policing state: the level, in units of `1/period_us` request.
pub type Meter = Level;

fn level_at(s: &Meter, t: u64, k: u64) -> u64 {
    let elapsed = t.saturating_sub(s.last);
    if elapsed.saturating_mul(k) >= s.level {
        0
    } else {
        s.level - elapsed * k
    }
}

pub(crate) fn evaluate_policing(
    s: &mut Meter,
    t: u64,
    cost: u64,
    capacity: u64,
    rate: &Rate,
) -> Decision {
    let (k, p) = (rate.amount(), rate.period_us());
    let full = capacity * p;
    let level = level_at(s, t, k);
    let until = |units: u64| s.wait(t, units, k);
    // Saturating: a state carried over from a larger capacity may hold more.
    let room = full.saturating_sub(level) / p;
    if cost > capacity {
        return denied(capacity, room, until(level), None);
    }
    let after = level + cost * p;
    if after <= full {
        allowed(capacity, (full - after) / p, until(after))
    } else {
        denied(capacity, room, until(level), Some(until(after - full)))
    }
}

pub(crate) fn consume_policing(s: &mut Meter, t: u64, cost: u64, _capacity: u64, rate: &Rate) {
    let level = level_at(s, t, rate.amount());
    s.set(level + cost * rate.period_us(), t);
}

/// Shaping state: the last departure, `at + frac/k` µs, or none yet
/// (`frac == NO_DEPARTURE`; a Redis key that does not exist).
pub type Queue = ExactTime;

/// `Queue::frac` of a queue nobody has used: its first request leaves at
/// once, whenever it comes (even within `n/r` of the epoch).
pub const NO_DEPARTURE: u64 = u64::MAX;

/// The queue of a key nobody has used: no departure yet.
pub const FRESH: Queue = ExactTime {
    at: 0,
    frac: NO_DEPARTURE,
};

/// This request's departure: `max(t, last + n·P/k)`.
fn departure(s: &Queue, t: u64, cost: u64, k: u64, p: u64) -> Queue {
    if s.frac == NO_DEPARTURE {
        return ExactTime::whole(t);
    }
    s.plus(cost * p, k).not_before(t)
}

/// Unit requests admissible at `t` after departure `last`: the next leaves
/// `w` ahead of `t` (scaled), each later one `P` after it, and all those
/// with `w + j·P ≤ C·P` fit.
fn room(last: &Queue, t: u64, capacity: u64, k: u64, p: u64) -> u64 {
    let w = departure(last, t, 1, k, p).ahead(t, k);
    let full = capacity * p;
    if w > full {
        0
    } else {
        (full - w) / p + 1
    }
}

/// µs from `t` until the queue is idle after departure `last`: until a
/// request of any cost `n ≤ C` would leave at once, i.e. `last + C·P/k`
/// (rounded up). Not merely until `last`: a request arriving between the
/// two still waits for `last + n·P/k`, so a store that dropped the state
/// at `last` would let it through at once.
fn idle_after(last: &Queue, t: u64, capacity: u64, k: u64, p: u64) -> u64 {
    if last.frac == NO_DEPARTURE {
        return 0;
    }
    last.until_plus((capacity * p) as i128, t, k).max(0) as u64
}

pub(crate) fn evaluate_shaping(
    s: &mut Queue,
    t: u64,
    cost: u64,
    capacity: u64,
    rate: &Rate,
) -> Decision {
    let (k, p) = (rate.amount(), rate.period_us());
    let limit = capacity + 1;
    let drain = |q: &Queue| idle_after(q, t, capacity, k, p);
    if cost > capacity {
        return denied(limit, room(s, t, capacity, k, p), drain(s), None);
    }
    let dep = departure(s, t, cost, k, p);
    let wait = dep.ahead(t, k);
    if wait <= capacity * p {
        let mut d = allowed(limit, room(&dep, t, capacity, k, p), drain(&dep));
        d.delay = super::math::us(ceil_div(wait, k));
        d
    } else {
        // Earliest t' with (last + n·P/k − t')·k ≤ C·P.
        let retry = s.until_plus((cost * p) as i128 - (capacity * p) as i128, t, k);
        debug_assert!(retry > 0, "a denied request must wait");
        let retry = retry as u64;
        denied(limit, room(s, t, capacity, k, p), drain(s), Some(retry))
    }
}

pub(crate) fn consume_shaping(s: &mut Queue, t: u64, cost: u64, rate: &Rate) {
    *s = departure(s, t, cost, rate.amount(), rate.period_us());
}
