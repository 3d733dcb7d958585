//! Token bucket and leaky bucket (policing and shaping) cases.

use super::build::{case, per_sec, policing, rate, secs, shaping, tb, YEARS_100};
use crate::case::{Case, Step};
use crate::clock::SEC;

pub(super) fn token_bucket() -> Vec<Case> {
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
    ]
}

/// Long gaps and rates that do not divide a second.
pub(super) fn token_bucket_rates() -> Vec<Case> {
    let q = tb(3, per_sec(1));
    vec![
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

pub(super) fn leaky_policing() -> Vec<Case> {
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

pub(super) fn leaky_shaping() -> Vec<Case> {
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
    ]
}

/// Costs above the queue, long gaps and rates that do not divide a second.
pub(super) fn leaky_shaping_edges() -> Vec<Case> {
    let q = shaping(2, per_sec(1));
    vec![
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
