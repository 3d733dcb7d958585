//! GCRA cases.

use floodgate_core::Quota;

use super::build::{case, per_sec, YEARS_100};
use crate::case::{Case, Step};
use crate::clock::SEC;

pub(super) fn gcra() -> Vec<Case> {
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
