//! GCRA: `T = 1/r`; `tat' = max(tat, t) + n·T`; allowed iff
//! `tat' − t ≤ B·T`. The theoretical arrival time is kept exactly, as whole
//! µs plus a remainder in `1/k` µs.

use super::{allowed, ceil_div, ceil_div_signed, denied, div};
use crate::quota::Rate;
use crate::Decision;

/// GCRA state: the theoretical arrival time `at + frac/k` µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tat {
    /// Whole µs.
    pub at: u64,
    /// Remainder, in `1/k` µs (`0 ≤ frac < k`).
    pub frac: u64,
}

/// `max(tat, t) + n·P/k`.
fn advanced(s: &Tat, t: u64, cost: u64, k: u64, p: u64) -> Tat {
    let base = if s.at >= t {
        *s
    } else {
        Tat { at: t, frac: 0 }
    };
    let frac = base.frac + cost * p;
    Tat {
        at: base.at + frac / k,
        frac: frac % k,
    }
}

/// `(tat − t)·k`, floored at 0.
fn ahead(s: &Tat, t: u64, k: u64) -> u64 {
    if s.at >= t {
        (s.at - t) * k + s.frac
    } else {
        0
    }
}

pub(crate) fn evaluate(s: &mut Tat, t: u64, cost: u64, burst: u64, rate: &Rate) -> Decision {
    judge(s, t, cost, burst, rate).0
}

/// Decides and, when allowed, consumes, in one pass.
pub(crate) fn decide(s: &mut Tat, t: u64, cost: u64, burst: u64, rate: &Rate) -> Decision {
    let (d, next) = judge(s, t, cost, burst, rate);
    if let Some(next) = next {
        *s = next;
    }
    d
}

/// The decision, and the new TAT when allowed.
fn judge(s: &Tat, t: u64, cost: u64, burst: u64, rate: &Rate) -> (Decision, Option<Tat>) {
    let (k, p) = (rate.amount(), rate.period_us());
    let tolerance = burst * p;
    let room = |a: u64| div(tolerance.saturating_sub(a), p);
    if cost > burst {
        let now_ahead = ahead(s, t, k);
        return (
            denied(burst, room(now_ahead), ceil_div(now_ahead, k), None),
            None,
        );
    }
    let next = advanced(s, t, cost, k, p);
    let a = ahead(&next, t, k);
    if a <= tolerance {
        (allowed(burst, room(a), ceil_div(a, k)), Some(next))
    } else {
        let now_ahead = ahead(s, t, k);
        // Earliest t' with tat + n·T − t' ≤ B·T.
        let num = s.frac as i128 + (cost * p) as i128 - tolerance as i128;
        let earliest = s.at as i128 + ceil_div_signed(num, k as i128);
        let retry = earliest - t as i128;
        debug_assert!(retry > 0, "a denied request must wait");
        let d = denied(
            burst,
            room(now_ahead),
            ceil_div(now_ahead, k),
            Some(retry as u64),
        );
        (d, None)
    }
}

pub(crate) fn consume(s: &mut Tat, t: u64, cost: u64, rate: &Rate) {
    *s = advanced(s, t, cost, rate.amount(), rate.period_us());
}
