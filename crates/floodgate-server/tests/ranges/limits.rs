//! Limits, windows, capacities and rates.

use super::kit::*;

/// Limits and windows.
pub fn bad_limits() -> Vec<Case> {
    vec![
        case("limit_0", fixed_window("0", "1s"), "limit: 0"),
        case(
            "limit_2_pow_53",
            fixed_window("9007199254740992", "1s"),
            "limit: 9007199254740992",
        ),
        case(
            "limit_over_u64",
            fixed_window("99999999999999999999999", "1s"),
            "limit: 99999999999999999999999",
        ),
        case("limit_negative", fixed_window("-1", "1s"), "limit: -1"),
        case("window_0s", fixed_window("10", "0s"), "window: 0s"),
        case(
            "window_over_u64",
            fixed_window("10", "100000000000000000000000d"),
            "window: 100000000000000000000000d",
        ),
        case(
            "window_too_long",
            fixed_window("10", "30000d"),
            "window: 30000d",
        ),
        case(
            "sliding_log_limit_100001",
            sliding_log("100001"),
            "limit: 100001",
        ),
        case(
            "global_limit_0",
            format!(
                "{}global:\n  - algorithm: fixed_window\n    limit: 0\n    window: 1s\n",
                fixed_window("10", "1s")
            ),
            "    limit: 0",
        ),
        case(
            "tier_limit_2_pow_53",
            "tiers: [gold]\nrules:\n  - name: r\n    limits:\n      - { algorithm: fixed_window, limit: 1, window: 1s }\n    tiers:\n      gold:\n        - algorithm: fixed_window\n          limit: 9007199254740992\n          window: 1s\n"
                .to_string(),
            "limit: 9007199254740992",
        ),
    ]
}

/// Capacities and rates.
pub fn bad_rates() -> Vec<Case> {
    vec![
        case(
            "capacity_negative",
            token_bucket("-1", "1/s"),
            "capacity: -1",
        ),
        case("capacity_0", token_bucket("0", "1/s"), "capacity: 0"),
        case(
            "capacity_shorthand_not_whole",
            token_bucket("2x for 10s", "100/h"),
            "capacity: 2x for 10s",
        ),
        case(
            "capacity_plain_multiple",
            token_bucket("2x", "1/s"),
            "capacity: 2x",
        ),
        case(
            "burst_capacity_under_capacity",
            limit("algorithm: token_bucket\n        capacity: 10\n        refill: 1/s\n        burst_capacity: 5"),
            "burst_capacity: 5",
        ),
        case(
            "capacity_1e30",
            token_bucket("1e30", "1/s"),
            "capacity: 1e30",
        ),
        case(
            "capacity_times_period_over_2_pow_53",
            token_bucket("1000000000", "1/d"),
            "capacity: 1000000000",
        ),
        case("refill_0_per_s", token_bucket("10", "0/s"), "refill: 0/s"),
        case(
            "refill_1_per_0s",
            token_bucket("10", "1/0s"),
            "refill: 1/0s",
        ),
        case(
            "refill_over_u64",
            token_bucket("10", "99999999999999999999/s"),
            "refill: 99999999999999999999/s",
        ),
        case(
            "leaky_rate_over_u64",
            leaky_bucket("10", "99999999999999999999/s"),
            "rate: 99999999999999999999/s",
        ),
        case(
            "leaky_capacity_1e30",
            leaky_bucket("1e30", "1/s"),
            "capacity: 1e30",
        ),
        case(
            "gcra_rate_over_u64",
            gcra("99999999999999999999/s", "1"),
            "rate: 99999999999999999999/s",
        ),
        case("gcra_burst_0", gcra("1/s", "0"), "burst: 0"),
        case(
            "gcra_burst_times_period_over_2_pow_53",
            gcra("1/d", "1000000000"),
            "burst: 1000000000",
        ),
    ]
}

/// The least and greatest limits, capacities and bursts.
pub fn good_limits() -> Vec<Good> {
    vec![
        ("limit_1", fixed_window("1", "1us")),
        (
            "limit_below_2_pow_53",
            fixed_window("9007199254740991", "1s"),
        ),
        ("sliding_log_limit_100000", sliding_log("100000")),
        (
            "capacity_at_2_pow_53_per_us",
            token_bucket("9007199254740991", "1/1us"),
        ),
        ("gcra_burst_1", gcra("1/s", "1")),
    ]
}
