//! The arithmetic every algorithm shares: rounded divisions and the
//! decisions it answers with.

use std::time::Duration;

use crate::decision::{Decision, RetryAfter};

/// `ceil(a / b)` for `b > 0`.
pub(crate) fn ceil_div(a: u64, b: u64) -> u64 {
    // Rates in lowest terms often have an amount of 1: skip the division.
    if b == 1 {
        a
    } else {
        a.div_ceil(b)
    }
}

/// `floor(a / b)` for `b > 0`.
pub(crate) fn div(a: u64, b: u64) -> u64 {
    if b == 1 {
        a
    } else {
        a / b
    }
}

/// `ceil(a / b)` for signed `a` and `b > 0`.
pub(crate) fn ceil_div_signed(a: i128, b: i128) -> i128 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 {
        q
    } else {
        q + 1
    }
}

pub(crate) fn us(d: u64) -> Duration {
    Duration::from_micros(d)
}

pub(crate) fn allowed(limit: u64, remaining: u64, reset_after: u64) -> Decision {
    Decision {
        allowed: true,
        limit,
        remaining,
        reset_after: us(reset_after),
        retry_after: None,
        delay: Duration::ZERO,
    }
}

pub(crate) fn denied(limit: u64, remaining: u64, reset_after: u64, retry: Option<u64>) -> Decision {
    Decision {
        allowed: false,
        limit,
        remaining,
        reset_after: us(reset_after),
        retry_after: Some(match retry {
            Some(r) => RetryAfter::After(us(r)),
            None => RetryAfter::Never,
        }),
        delay: Duration::ZERO,
    }
}
