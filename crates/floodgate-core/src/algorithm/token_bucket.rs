//! Token bucket: starts full with `C` tokens, refills at `r` tokens/s up to
//! `C`; a request of cost `n` is allowed iff at least `n` tokens are there.
//!
//! The level is kept in units of `1/P` token (`P` the rate's period in µs),
//! so that `e` µs refill exactly `e·k` units (`k` tokens per period).

use super::level::Level;
use super::math::{allowed, denied, div};
use crate::quota::Rate;

/// Token bucket state: the tokens, in units of `1/period_us` token.
pub type Bucket = Level;

/// A full bucket.
pub fn full(capacity: u64, rate: &Rate, now: crate::time::Timestamp) -> Bucket {
    Level {
        level: capacity * rate.period_us(),
        last: now.as_micros(),
    }
}

/// The level at `t`, refilled and capped.
fn level_at(s: &Bucket, t: u64, full: u64, k: u64) -> u64 {
    let elapsed = t.saturating_sub(s.last);
    let missing = full.saturating_sub(s.level);
    if elapsed.saturating_mul(k) >= missing {
        full
    } else {
        s.level + elapsed * k
    }
}

pub(crate) fn evaluate(
    s: &mut Bucket,
    t: u64,
    cost: u64,
    capacity: u64,
    rate: &Rate,
) -> crate::Decision {
    judge(s, t, cost, capacity, rate).0
}

/// Decides and, when allowed, consumes, in one pass.
pub(crate) fn decide(
    s: &mut Bucket,
    t: u64,
    cost: u64,
    capacity: u64,
    rate: &Rate,
) -> crate::Decision {
    let (d, after) = judge(s, t, cost, capacity, rate);
    if let Some(level) = after {
        s.set(level, t);
    }
    d
}

/// The decision, and the level after consuming when allowed.
fn judge(
    s: &Bucket,
    t: u64,
    cost: u64,
    capacity: u64,
    rate: &Rate,
) -> (crate::Decision, Option<u64>) {
    let (k, p) = (rate.amount(), rate.period_us());
    let full = capacity * p;
    let level = level_at(s, t, full, k);
    let until = |units: u64| s.wait(t, units, k);
    if cost > capacity {
        return (
            denied(capacity, div(level, p), until(full - level), None),
            None,
        );
    }
    let need = cost * p;
    if level >= need {
        let after = level - need;
        (
            allowed(capacity, div(after, p), until(full - after)),
            Some(after),
        )
    } else {
        let d = denied(
            capacity,
            div(level, p),
            until(full - level),
            Some(until(need - level)),
        );
        (d, None)
    }
}

pub(crate) fn consume(s: &mut Bucket, t: u64, cost: u64, capacity: u64, rate: &Rate) {
    let p = rate.period_us();
    let level = level_at(s, t, capacity * p, rate.amount());
    s.set(level.saturating_sub(cost * p), t);
}
