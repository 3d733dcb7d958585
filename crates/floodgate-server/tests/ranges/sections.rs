//! Server sections: identity, the rejection log, waits, threads, the
//! memory store and the dashboard's fleet view.

use super::kit::*;

/// Identity, the rejection log, server waits and serving threads.
pub fn bad_server() -> Vec<Case> {
    vec![
        case(
            "ipv6_prefix_0",
            server("identity:\n  ipv6_prefix: 0\n"),
            "ipv6_prefix: 0",
        ),
        case(
            "ipv6_prefix_300",
            server("identity:\n  ipv6_prefix: 300\n"),
            "ipv6_prefix: 300",
        ),
        case(
            "ipv6_prefix_129",
            server("identity:\n  ipv6_prefix: 129\n"),
            "ipv6_prefix: 129",
        ),
        // The rejection log.
        case(
            "rejections_per_second_1000001",
            server("log:\n  rejections_per_second: 1000001\n"),
            "rejections_per_second: 1000001",
        ),
        case(
            "rejections_per_second_negative",
            server("log:\n  rejections_per_second: -1\n"),
            "rejections_per_second: -1",
        ),
        // Server waits.
        case(
            "upstream_timeout_0s",
            server("upstream: http://127.0.0.1:9\nupstream_timeout: 0s\n"),
            "upstream_timeout: 0s",
        ),
        case(
            "upstream_timeout_2h",
            server("upstream: http://127.0.0.1:9\nupstream_timeout: 2h\n"),
            "upstream_timeout: 2h",
        ),
        case(
            "shutdown_grace_0s",
            server("shutdown_grace: 0s\n"),
            "shutdown_grace: 0s",
        ),
        case(
            "shutdown_grace_2h",
            server("shutdown_grace: 2h\n"),
            "shutdown_grace: 2h",
        ),
        // Serving threads.
        case("threads_0", server("threads: 0\n"), "threads: 0"),
        case("threads_1025", server("threads: 1025\n"), "threads: 1025"),
        case("threads_negative", server("threads: -1\n"), "threads: -1"),
    ]
}

/// The memory store and the dashboard's fleet view.
pub fn bad_memory_store_and_dashboard() -> Vec<Case> {
    vec![
        // The memory store.
        case(
            "max_keys_0",
            server("store:\n  max_keys: 0\n"),
            "max_keys: 0",
        ),
        case(
            "max_keys_2_pow_32_plus_1",
            server("store:\n  max_keys: 4294967297\n"),
            "max_keys: 4294967297",
        ),
        case("shards_0", server("store:\n  shards: 0\n"), "shards: 0"),
        case(
            "shards_5000",
            server("store:\n  shards: 5000\n"),
            "shards: 5000",
        ),
        // The dashboard's fleet view.
        case(
            "dashboard_publish_every_50ms",
            server("admin:\n  dashboard:\n    publish_every: 50ms\n"),
            "publish_every: 50ms",
        ),
        case(
            "dashboard_replica_timeout_below_twice_publish_every",
            server("admin:\n  dashboard:\n    publish_every: 5s\n    replica_timeout: 9s\n"),
            "replica_timeout: 9s",
        ),
        case(
            "dashboard_replica_with_a_space",
            server("admin:\n  dashboard:\n    replica: \"web 1\"\n"),
            "replica: \"web 1\"",
        ),
        case(
            "url_under_memory",
            server("store:\n  kind: memory\n  url: redis://127.0.0.1:6379\n"),
            "url: redis",
        ),
    ]
}

/// Identity, the rejection log, waits and the memory store at their bounds.
pub fn good_server() -> Vec<Good> {
    vec![
        ("ipv6_prefix_1", server("identity:\n  ipv6_prefix: 1\n")),
        ("ipv6_prefix_128", server("identity:\n  ipv6_prefix: 128\n")),
        (
            "rejections_per_second_1000000",
            server("log:\n  rejections_per_second: 1000000\n"),
        ),
        (
            "rejections_per_second_0",
            server("log:\n  rejections_per_second: 0\n"),
        ),
        (
            "upstream_timeout_1h",
            server("upstream: http://127.0.0.1:9\nupstream_timeout: 1h\n"),
        ),
        ("shutdown_grace_1h", server("shutdown_grace: 1h\n")),
        ("shutdown_grace_1us", server("shutdown_grace: 1us\n")),
        ("max_keys_1", server("store:\n  max_keys: 1\n")),
        (
            "max_keys_2_pow_32",
            server("store:\n  max_keys: 4294967296\n"),
        ),
        ("shards_1", server("store:\n  shards: 1\n")),
        ("shards_4096", server("store:\n  shards: 4096\n")),
    ]
}
