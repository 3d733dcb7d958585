//! The conformance suite: every algorithm and its edges, as data.
//!
//! Every number here is worked out by hand from DESIGN.md's algorithm table
//! (the comments show the sums), not copied from the implementation. Times
//! are µs after [`BASE`](crate::BASE), which is day-aligned, so an offset of
//! `k·W` is a window boundary for every window `W` that divides a day.

use std::time::Duration;

use floodgate_core::{LeakMode, Quota, Rate};

use crate::case::{Case, Step};
use crate::clock::SEC;

/// 100 years of 365 days, in µs: a gap long enough to overflow anything
/// that multiplies elapsed time by a rate carelessly. `BASE + YEARS_100`
/// is still below 2^53 µs, and a whole number of days.
pub const YEARS_100: u64 = 100 * 365 * 86_400 * SEC;

fn per_sec(n: u64) -> Rate {
    Rate::per_second(n).expect("valid rate")
}

fn rate(n: u64, period: Duration) -> Rate {
    Rate::new(n, period).expect("valid rate")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn tb(capacity: u64, r: Rate) -> Quota {
    Quota::token_bucket(capacity, r).expect("valid quota")
}

fn policing(capacity: u64, r: Rate) -> Quota {
    Quota::leaky_bucket(capacity, r, LeakMode::Policing).expect("valid quota")
}

fn shaping(capacity: u64, r: Rate) -> Quota {
    Quota::leaky_bucket(capacity, r, LeakMode::Shaping).expect("valid quota")
}

fn case(name: &'static str, quota: Quota, steps: Vec<Step>) -> Case {
    Case { name, quota, steps }
}

/// Every conformance case. Names are unique.
pub fn cases() -> Vec<Case> {
    let mut all = Vec::new();
    all.extend(token_bucket());
    all.extend(leaky_policing());
    all.extend(leaky_shaping());
    all.extend(fixed_window());
    all.extend(sliding_log());
    all.extend(sliding_counter());
    all.extend(gcra());
    all
}

fn token_bucket() -> Vec<Case> {
    let q = tb(3, per_sec(1));
    vec![
        // Starts full; three at the same instant (zero elapsed time), then
        // empty: the next token is 1 s away.
        case(
            "token_bucket/burst_then_refill",
            q,
            vec![
                Step::allow(0).remaining(2).reset_us(SEC),
                Step::allow(0).remaining(1).reset_us(2 * SEC),
                Step::allow(0).remaining(0).reset_us(3 * SEC),
                Step::deny(0).remaining(0).retry_us(SEC).reset_us(3 * SEC),
                Step::allow(SEC).remaining(0).reset_us(3 * SEC),
                // 0.5 token: 0.5 s to go.
                Step::deny(3 * SEC / 2)
                    .remaining(0)
                    .retry_us(SEC / 2)
                    .reset_us(5 * SEC / 2),
                Step::allow(2 * SEC).remaining(0).reset_us(3 * SEC),
            ],
        ),
        // 10 s refill 10 tokens, but the bucket holds 3.
        case(
            "token_bucket/refill_stops_at_capacity",
            q,
            vec![
                Step::allow(0).cost(3).remaining(0).reset_us(3 * SEC),
                Step::allow(10 * SEC).remaining(2).reset_us(SEC),
                Step::deny(10 * SEC)
                    .cost(3)
                    .remaining(2)
                    .retry_us(SEC)
                    .reset_us(SEC),
                Step::allow(11 * SEC).cost(3).remaining(0).reset_us(3 * SEC),
            ],
        ),
        case(
            "token_bucket/cost_above_capacity",
            q,
            vec![
                Step::deny(0).cost(4).never().remaining(3).reset_us(0),
                // The denial consumed nothing.
                Step::allow(0).cost(3).remaining(0).reset_us(3 * SEC),
                Step::deny(0).cost(4).never().remaining(0).reset_us(3 * SEC),
                Step::deny(10 * SEC)
                    .cost(u64::MAX)
                    .never()
                    .remaining(3)
                    .reset_us(0),
            ],
        ),
        case(
            "token_bucket/century_gap",
            q,
            vec![
                Step::allow(0).cost(3).remaining(0),
                Step::allow(YEARS_100)
                    .cost(3)
                    .remaining(0)
                    .reset_us(3 * SEC),
                Step::deny(YEARS_100).remaining(0).retry_us(SEC),
            ],
        ),
        // 3 tokens/s into a bucket of 1: a token every 333 333⅓ µs.
        case(
            "token_bucket/fractional_rate",
            tb(1, per_sec(3)),
            vec![
                // Empty: ⌈10⁶/3⌉ µs to refill.
                Step::allow(0).remaining(0).reset_us(333_334),
                // 1 µs later: 3/10⁶ of a token; ⌈(10⁶ − 3)/3⌉ µs to go.
                Step::deny(1)
                    .remaining(0)
                    .retry_us(333_333)
                    .reset_us(333_333),
                // 999 999/10⁶ of a token: 1 µs short.
                Step::deny(333_333).retry_us(1).reset_us(1),
                Step::allow(333_334).remaining(0).reset_us(333_334),
            ],
        ),
        // 1 token per 3 s.
        case(
            "token_bucket/slow_rate",
            tb(2, rate(1, secs(3))),
            vec![
                Step::allow(0).cost(2).remaining(0).reset_us(6 * SEC),
                Step::deny(SEC)
                    .remaining(0)
                    .retry_us(2 * SEC)
                    .reset_us(5 * SEC),
                Step::allow(3 * SEC).remaining(0).reset_us(6 * SEC),
            ],
        ),
    ]
}

fn leaky_policing() -> Vec<Case> {
    let q = policing(3, per_sec(1));
    vec![
        case(
            "leaky_policing/fill_then_leak",
            q,
            vec![
                Step::allow(0).remaining(2).reset_us(SEC),
                Step::allow(0).remaining(1).reset_us(2 * SEC),
                Step::allow(0).remaining(0).reset_us(3 * SEC),
                Step::deny(0).remaining(0).retry_us(SEC).reset_us(3 * SEC),
                Step::allow(SEC).remaining(0).reset_us(3 * SEC),
                // Level 2.5: 2.5 + 1 > 3 by 0.5.
                Step::deny(3 * SEC / 2)
                    .remaining(0)
                    .retry_us(SEC / 2)
                    .reset_us(5 * SEC / 2),
                // Drained to 0 (not below): exactly 3 fit.
                Step::allow(10 * SEC).cost(3).remaining(0).reset_us(3 * SEC),
                Step::deny(10 * SEC).cost(4).never().remaining(0),
            ],
        ),
        case(
            "leaky_policing/cost_above_capacity",
            q,
            vec![
                Step::deny(0).cost(4).never().remaining(3).reset_us(0),
                Step::allow(0).cost(3).remaining(0).reset_us(3 * SEC),
            ],
        ),
        case(
            "leaky_policing/century_gap",
            q,
            vec![
                Step::allow(0).remaining(2).reset_us(SEC),
                Step::allow(YEARS_100)
                    .cost(3)
                    .remaining(0)
                    .reset_us(3 * SEC),
                Step::deny(YEARS_100).retry_us(SEC),
            ],
        ),
        case(
            "leaky_policing/fractional_rate",
            policing(1, per_sec(3)),
            vec![
                Step::allow(0).remaining(0).reset_us(333_334),
                Step::deny(1)
                    .remaining(0)
                    .retry_us(333_333)
                    .reset_us(333_333),
                Step::deny(333_333).retry_us(1).reset_us(1),
                Step::allow(333_334).remaining(0).reset_us(333_334),
            ],
        ),
    ]
}

fn leaky_shaping() -> Vec<Case> {
    // Queue of 2 at 1/s: limit 3 (one leaves, two wait). `reset_after` is
    // when a request of any cost would leave at once again: the last
    // departure plus C/r.
    let q = shaping(2, per_sec(1));
    vec![
        case(
            "leaky_shaping/queue",
            q,
            vec![
                Step::allow(0).delay_us(0).remaining(2).reset_us(2 * SEC),
                Step::allow(0).delay_us(SEC).remaining(1).reset_us(3 * SEC),
                Step::allow(0)
                    .delay_us(2 * SEC)
                    .remaining(0)
                    .reset_us(4 * SEC),
                // Would leave at 3 s, 3 s ahead > 2: fits from 1 s.
                Step::deny(0).retry_us(SEC).remaining(0).reset_us(4 * SEC),
                // Leaves at 3 s.
                Step::allow(SEC)
                    .delay_us(2 * SEC)
                    .remaining(0)
                    .reset_us(4 * SEC),
                Step::deny(3 * SEC / 2)
                    .retry_us(SEC / 2)
                    .remaining(0)
                    .reset_us(7 * SEC / 2),
                // Idle again: leaves at once.
                Step::allow(10 * SEC)
                    .delay_us(0)
                    .remaining(2)
                    .reset_us(2 * SEC),
            ],
        ),
        case(
            "leaky_shaping/costs",
            q,
            vec![
                // The first leaves at once, whatever it costs.
                Step::allow(0)
                    .cost(2)
                    .delay_us(0)
                    .remaining(2)
                    .reset_us(2 * SEC),
                // Leaves 2 s after it: exactly C ahead.
                Step::allow(0)
                    .cost(2)
                    .delay_us(2 * SEC)
                    .remaining(0)
                    .reset_us(4 * SEC),
                // Would leave at 3 s: fits once 3 − t ≤ 2.
                Step::deny(0).retry_us(SEC).remaining(0).reset_us(4 * SEC),
                Step::deny(0).cost(3).never().remaining(0).reset_us(4 * SEC),
                // From 4 s on, idle for every cost.
                Step::allow(4 * SEC).cost(2).delay_us(0).remaining(2),
            ],
        ),
        case(
            "leaky_shaping/cost_above_capacity",
            q,
            vec![
                Step::deny(0).cost(3).never().remaining(3).reset_us(0),
                Step::allow(0).cost(2).delay_us(0).remaining(2),
            ],
        ),
        case(
            "leaky_shaping/century_gap",
            q,
            vec![
                Step::allow(0).delay_us(0),
                Step::allow(0).delay_us(SEC),
                Step::allow(0).delay_us(2 * SEC),
                Step::allow(YEARS_100).delay_us(0).remaining(2),
                Step::allow(YEARS_100).delay_us(SEC).remaining(1),
            ],
        ),
        // Queue of 1 at 3/s: departures 333 333⅓ µs apart.
        case(
            "leaky_shaping/fractional_rate",
            shaping(1, per_sec(3)),
            vec![
                Step::allow(0).delay_us(0).remaining(1).reset_us(333_334),
                // Leaves at 333 333⅓: the delay is rounded up.
                Step::allow(0)
                    .delay_us(333_334)
                    .remaining(0)
                    .reset_us(666_667),
                // Would leave at 666 666⅔, 2/3 s ahead: fits from 333 333⅓.
                Step::deny(0)
                    .retry_us(333_334)
                    .remaining(0)
                    .reset_us(666_667),
                Step::deny(333_333).retry_us(1).reset_us(333_334),
                // 666 666⅔ − 333 334 = 333 332⅔ µs ahead.
                Step::allow(333_334)
                    .delay_us(333_333)
                    .remaining(0)
                    .reset_us(666_666),
            ],
        ),
    ]
}

fn fixed_window() -> Vec<Case> {
    let q = Quota::fixed_window(3, secs(10)).expect("valid quota");
    vec![
        case(
            "fixed_window/boundary",
            q,
            vec![
                // The last µs of window [0, 10 s).
                Step::allow(10 * SEC - 1).remaining(2).reset_us(1),
                Step::allow(10 * SEC - 1).remaining(1).reset_us(1),
                Step::allow(10 * SEC - 1).remaining(0).reset_us(1),
                Step::deny(10 * SEC - 1)
                    .remaining(0)
                    .retry_us(1)
                    .reset_us(1),
                // Exactly at the boundary: a new, empty window.
                Step::allow(10 * SEC).remaining(2).reset_us(10 * SEC),
                Step::allow(10 * SEC)
                    .cost(2)
                    .remaining(0)
                    .reset_us(10 * SEC),
                Step::deny(20 * SEC - 1)
                    .remaining(0)
                    .retry_us(1)
                    .reset_us(1),
                Step::allow(20 * SEC)
                    .cost(3)
                    .remaining(0)
                    .reset_us(10 * SEC),
            ],
        ),
        case(
            "fixed_window/cost_above_limit",
            q,
            vec![
                Step::deny(0).cost(4).never().remaining(3).reset_us(0),
                Step::allow(0).cost(3).remaining(0).reset_us(10 * SEC),
                Step::deny(5 * SEC)
                    .cost(4)
                    .never()
                    .remaining(0)
                    .reset_us(5 * SEC),
                Step::deny(5 * SEC)
                    .cost(1)
                    .remaining(0)
                    .retry_us(5 * SEC)
                    .reset_us(5 * SEC),
            ],
        ),
        case(
            "fixed_window/century_gap",
            Quota::fixed_window(3, secs(60)).expect("valid quota"),
            vec![
                Step::allow(0).cost(3).remaining(0),
                Step::allow(YEARS_100)
                    .cost(3)
                    .remaining(0)
                    .reset_us(60 * SEC),
                Step::deny(YEARS_100 + 60 * SEC - 1).retry_us(1),
            ],
        ),
        // A day-long window starts on BASE: the full day until reset.
        case(
            "fixed_window/day_aligned",
            Quota::fixed_window(2, secs(86_400)).expect("valid quota"),
            vec![
                Step::allow(0).remaining(1).reset_us(86_400 * SEC),
                Step::allow(86_400 * SEC - 1).remaining(0).reset_us(1),
                Step::deny(86_400 * SEC - 1).retry_us(1),
                Step::allow(86_400 * SEC).remaining(1),
            ],
        ),
    ]
}

fn sliding_log() -> Vec<Case> {
    let q = Quota::sliding_log(3, secs(10)).expect("valid quota");
    vec![
        case(
            "sliding_log/half_open_window",
            q,
            vec![
                Step::allow(0).remaining(2).reset_us(10 * SEC),
                Step::allow(SEC).remaining(1).reset_us(10 * SEC),
                Step::allow(2 * SEC).remaining(0).reset_us(10 * SEC),
                // (t − 10 s, t] still holds the entry at 0.
                Step::deny(10 * SEC - 1)
                    .remaining(0)
                    .retry_us(1)
                    .reset_us(2 * SEC + 1),
                // At 10 s it does not.
                Step::allow(10 * SEC).remaining(0).reset_us(10 * SEC),
                // The entry at 1 s leaves at 11 s.
                Step::deny(10 * SEC + SEC / 2)
                    .remaining(0)
                    .retry_us(SEC / 2)
                    .reset_us(9 * SEC + SEC / 2),
                // Cost 2 needs the entries at 1 s and 2 s gone: 12 s.
                Step::deny(10 * SEC + SEC / 2)
                    .cost(2)
                    .retry_us(3 * SEC / 2)
                    .reset_us(9 * SEC + SEC / 2),
                Step::allow(12 * SEC)
                    .cost(2)
                    .remaining(0)
                    .reset_us(10 * SEC),
            ],
        ),
        case(
            "sliding_log/same_instant",
            q,
            vec![
                Step::allow(0).remaining(2),
                Step::allow(0).remaining(1),
                Step::allow(0).remaining(0),
                Step::deny(5 * SEC)
                    .remaining(0)
                    .retry_us(5 * SEC)
                    .reset_us(5 * SEC),
                Step::deny(5 * SEC).cost(4).never().remaining(0),
                Step::allow(10 * SEC)
                    .cost(3)
                    .remaining(0)
                    .reset_us(10 * SEC),
            ],
        ),
        case(
            "sliding_log/cost_above_limit",
            q,
            vec![
                Step::deny(0).cost(4).never().remaining(3).reset_us(0),
                Step::allow(0).cost(3).remaining(0),
            ],
        ),
        case(
            "sliding_log/century_gap",
            Quota::sliding_log(2, secs(1)).expect("valid quota"),
            vec![
                Step::allow(0).cost(2).remaining(0),
                Step::allow(YEARS_100).cost(2).remaining(0).reset_us(SEC),
                Step::deny(YEARS_100).retry_us(SEC),
            ],
        ),
    ]
}

fn sliding_counter() -> Vec<Case> {
    let q = Quota::sliding_counter(10, secs(10)).expect("valid quota");
    vec![
        case(
            "sliding_counter/weighted",
            q,
            vec![
                // Window [0, 10 s): curr 8; idle two windows on, at 20 s.
                Step::allow(5 * SEC).cost(8).remaining(2).reset_us(15 * SEC),
                // At the boundary p = 0: est = 8; 8·(1 − p) + 3 ≤ 10 once
                // p ≥ 1/8, i.e. 1.25 s in.
                Step::deny(10 * SEC)
                    .cost(3)
                    .remaining(2)
                    .retry_us(1_250_000)
                    .reset_us(10 * SEC),
                Step::allow(11_250_000)
                    .cost(3)
                    .remaining(0)
                    .reset_us(18_750_000),
                // est = 8·0.5 + 3 = 7; after: 8.
                Step::allow(15 * SEC).remaining(2).reset_us(15 * SEC),
                // Two windows on: everything forgotten.
                Step::allow(30 * SEC)
                    .cost(10)
                    .remaining(0)
                    .reset_us(20 * SEC),
                Step::deny(30 * SEC).cost(11).never().remaining(0),
            ],
        ),
        case(
            "sliding_counter/previous_window_only",
            Quota::sliding_counter(4, secs(1)).expect("valid quota"),
            vec![
                Step::allow(0).cost(4).remaining(0).reset_us(2 * SEC),
                // est = 4·(1 − p) + 1 ≤ 4 once p ≥ 1/4.
                Step::deny(SEC).remaining(0).retry_us(250_000).reset_us(SEC),
                Step::deny(1_249_999).retry_us(1),
                Step::allow(1_250_000).remaining(0).reset_us(1_750_000),
                // est = 1·1 + 0 at 2 s.
                Step::allow(2 * SEC).cost(3).remaining(0).reset_us(2 * SEC),
            ],
        ),
        case(
            "sliding_counter/cost_above_limit",
            q,
            vec![
                Step::deny(0).cost(11).never().remaining(10).reset_us(0),
                Step::allow(0).cost(10).remaining(0),
            ],
        ),
        case(
            "sliding_counter/century_gap",
            q,
            vec![
                Step::allow(0).cost(10).remaining(0),
                Step::allow(YEARS_100)
                    .cost(10)
                    .remaining(0)
                    .reset_us(20 * SEC),
                // Next window: 10·(1 − p) + 1 ≤ 10 once p ≥ 1/10.
                Step::deny(YEARS_100).retry_us(11 * SEC),
            ],
        ),
    ]
}

fn gcra() -> Vec<Case> {
    let q = Quota::gcra(per_sec(1), 3).expect("valid quota");
    vec![
        case(
            "gcra/burst_then_rate",
            q,
            vec![
                Step::allow(0).remaining(2).reset_us(SEC),
                Step::allow(0).remaining(1).reset_us(2 * SEC),
                Step::allow(0).remaining(0).reset_us(3 * SEC),
                // tat = 3 s; 3 + 1 − t ≤ 3 from t = 1 s.
                Step::deny(0).remaining(0).retry_us(SEC).reset_us(3 * SEC),
                Step::allow(SEC).remaining(0).reset_us(3 * SEC),
                Step::deny(3 * SEC / 2)
                    .remaining(0)
                    .retry_us(SEC / 2)
                    .reset_us(5 * SEC / 2),
                Step::allow(YEARS_100)
                    .cost(3)
                    .remaining(0)
                    .reset_us(3 * SEC),
                Step::deny(YEARS_100).cost(4).never().remaining(0),
            ],
        ),
        case(
            "gcra/costs",
            q,
            vec![
                Step::deny(0).cost(4).never().remaining(3).reset_us(0),
                Step::allow(0).cost(2).remaining(1).reset_us(2 * SEC),
                Step::deny(0)
                    .cost(2)
                    .remaining(1)
                    .retry_us(SEC)
                    .reset_us(2 * SEC),
                Step::allow(0).remaining(0).reset_us(3 * SEC),
            ],
        ),
        // T = 333 333⅓ µs, burst 1.
        case(
            "gcra/fractional_rate",
            Quota::gcra(per_sec(3), 1).expect("valid quota"),
            vec![
                Step::allow(0).remaining(0).reset_us(333_334),
                Step::deny(1)
                    .remaining(0)
                    .retry_us(333_333)
                    .reset_us(333_333),
                Step::deny(333_333).retry_us(1).reset_us(1),
                Step::allow(333_334).remaining(0).reset_us(333_334),
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_steps_ordered() {
        let all = cases();
        let names: HashSet<_> = all.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), all.len());
        for c in &all {
            assert!(!c.steps.is_empty(), "{}", c.name);
            assert!(
                c.steps.windows(2).all(|w| w[0].at_us <= w[1].at_us),
                "{}: steps go back in time",
                c.name
            );
        }
    }

    #[test]
    fn every_algorithm_is_covered() {
        let names: HashSet<_> = cases().iter().map(|c| c.quota.algorithm_name()).collect();
        for algo in [
            "token_bucket",
            "leaky_bucket",
            "leaky_bucket_shaping",
            "fixed_window",
            "sliding_window_log",
            "sliding_window_counter",
            "gcra",
        ] {
            assert!(names.contains(algo), "no case for {algo}");
        }
    }
}
