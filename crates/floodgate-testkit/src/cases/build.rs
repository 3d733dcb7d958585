//! Shorthands the cases are written with.

use std::time::Duration;

use floodgate_core::{LeakMode, Quota, Rate};

use crate::case::{Case, Step};
use crate::clock::SEC;

/// 100 years of 365 days, in µs: a gap long enough to overflow anything
/// that multiplies elapsed time by a rate carelessly. `BASE + YEARS_100`
/// is still below 2^53 µs, and a whole number of days.
pub const YEARS_100: u64 = 100 * 365 * 86_400 * SEC;

pub(super) fn per_sec(n: u64) -> Rate {
    Rate::per_second(n).expect("valid rate")
}

pub(super) fn rate(n: u64, period: Duration) -> Rate {
    Rate::new(n, period).expect("valid rate")
}

pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub(super) fn tb(capacity: u64, r: Rate) -> Quota {
    Quota::token_bucket(capacity, r).expect("valid quota")
}

pub(super) fn policing(capacity: u64, r: Rate) -> Quota {
    Quota::leaky_bucket(capacity, r, LeakMode::Policing).expect("valid quota")
}

pub(super) fn shaping(capacity: u64, r: Rate) -> Quota {
    Quota::leaky_bucket(capacity, r, LeakMode::Shaping).expect("valid quota")
}

pub(super) fn case(name: &'static str, quota: Quota, steps: Vec<Step>) -> Case {
    Case { name, quota, steps }
}
