//! GCRA: `T = 1/r`; `tat' = max(tat, t) + n·T`; allowed iff
//! `tat' − t ≤ B·T`. The theoretical arrival time is kept exactly, as whole
//! µs plus a remainder in `1/k` µs.

use super::exact_time::ExactTime;
use super::math::{allowed, ceil_div, denied, div};
use crate::quota::Rate;
use crate::Decision;

/// GCRA state: the theoretical arrival time `at + frac/k` µs.
pub type Tat = ExactTime;

/// The TAT of a key nobody has used: the epoch, before any `now`.
pub const FRESH: Tat = ExactTime { at: 0, frac: 0 };

/// `max(tat, t) + n·P/k`.
fn advanced(s: &Tat, t: u64, cost: u64, k: u64, p: u64) -> Tat {
    s.not_before(t).plus(cost * p, k)
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
        let now_ahead = s.ahead(t, k);
        return (
            denied(burst, room(now_ahead), ceil_div(now_ahead, k), None),
            None,
        );
    }
    let next = advanced(s, t, cost, k, p);
    let a = next.ahead(t, k);
    if a <= tolerance {
        (allowed(burst, room(a), ceil_div(a, k)), Some(next))
    } else {
        let now_ahead = s.ahead(t, k);
        // Earliest t' with tat + n·T − t' ≤ B·T.
        let retry = s.until_plus((cost * p) as i128 - tolerance as i128, t, k);
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

/// The TAT moved back by `n·T` (a slice given back), not before the
/// epoch.
pub(crate) fn moved_back(s: &Tat, n: u64, k: u64, p: u64) -> Tat {
    s.minus(n * p, k)
}

pub(crate) fn consume(s: &mut Tat, t: u64, cost: u64, rate: &Rate) {
    *s = advanced(s, t, cost, rate.amount(), rate.period_us());
}
