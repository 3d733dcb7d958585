//! The Redis store.

use super::kit::*;

/// Timeouts, connections, gathering and scripting.
pub fn bad_connections() -> Vec<Case> {
    vec![
        case("redis_timeout_0s", redis("  timeout: 0s\n"), "timeout: 0s"),
        case("redis_timeout_2m", redis("  timeout: 2m\n"), "timeout: 2m"),
        case(
            "redis_connect_timeout_0s",
            redis("  connect_timeout: 0s\n"),
            "connect_timeout: 0s",
        ),
        case(
            "redis_connect_timeout_2m",
            redis("  connect_timeout: 2m\n"),
            "connect_timeout: 2m",
        ),
        case(
            "redis_connections_0",
            redis("  connections: 0\n"),
            "connections: 0",
        ),
        case(
            "redis_connections_65",
            redis("  connections: 65\n"),
            "connections: 65",
        ),
        case(
            "redis_gather_max_0",
            redis("  gather_max: 0\n"),
            "gather_max: 0",
        ),
        case(
            "redis_gather_max_1025",
            redis("  gather_max: 1025\n"),
            "gather_max: 1025",
        ),
        case(
            "redis_gather_in_flight_0",
            redis("  gather_in_flight: 0\n"),
            "gather_in_flight: 0",
        ),
        case(
            "redis_scripting_lua",
            redis("  scripting: lua\n"),
            "scripting: lua",
        ),
        case(
            "redis_fail_closed_status_500",
            redis("  fail_closed_status: 500\n"),
            "fail_closed_status: 500",
        ),
    ]
}

/// The local divisor, the breaker and the key prefix.
pub fn bad_local_and_breaker() -> Vec<Case> {
    vec![
        case(
            "redis_local_divisor_0",
            redis("  local_divisor: 0\n"),
            "local_divisor: 0",
        ),
        case(
            "redis_local_divisor_1000001",
            redis("  local_divisor: 1000001\n"),
            "local_divisor: 1000001",
        ),
        case(
            "redis_breaker_failures_0",
            redis("  breaker:\n    failures: 0\n"),
            "failures: 0",
        ),
        case(
            "redis_breaker_failures_1000001",
            redis("  breaker:\n    failures: 1000001\n"),
            "failures: 1000001",
        ),
        case(
            "redis_breaker_failures_over_u32",
            redis("  breaker:\n    failures: 4294967296\n"),
            "failures: 4294967296",
        ),
        case(
            "redis_breaker_cooldown_0s",
            redis("  breaker:\n    cooldown: 0s\n"),
            "cooldown: 0s",
        ),
        case(
            "redis_breaker_cooldown_2h",
            redis("  breaker:\n    cooldown: 2h\n"),
            "cooldown: 2h",
        ),
        case(
            "redis_key_prefix_brace",
            redis("  key_prefix: \"fg{x}:\"\n"),
            "key_prefix:",
        ),
        case(
            "redis_key_prefix_65_chars",
            redis(&format!("  key_prefix: {}\n", "p".repeat(65))),
            "key_prefix:",
        ),
    ]
}

/// The Redis store at its bounds.
pub fn good_redis() -> Vec<Good> {
    vec![
        (
            "redis_timeout_1m",
            redis("  timeout: 1m\n  connect_timeout: 1m\n"),
        ),
        ("redis_connections_64", redis("  connections: 64\n")),
        ("redis_connections_1", redis("  connections: 1\n")),
        (
            "redis_local_divisor_1000000",
            redis("  local_divisor: 1000000\n"),
        ),
        (
            "redis_breaker_bounds",
            redis("  breaker:\n    failures: 1000000\n    cooldown: 1h\n"),
        ),
        (
            "redis_key_prefix_64_chars",
            redis(&format!("  key_prefix: {}\n", "p".repeat(64))),
        ),
    ]
}
