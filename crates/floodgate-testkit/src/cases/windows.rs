//! Fixed window, sliding log and sliding counter cases.

use floodgate_core::Quota;

use super::build::{case, secs, YEARS_100};
use crate::case::{Case, Step};
use crate::clock::SEC;

pub(super) fn fixed_window() -> Vec<Case> {
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

pub(super) fn sliding_log() -> Vec<Case> {
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

pub(super) fn sliding_counter() -> Vec<Case> {
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
