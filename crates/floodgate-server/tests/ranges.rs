//! Out-of-range numbers anywhere in the file (limits, capacities, rates,
//! `log.rejections_per_second`, timeouts, store sizes) are refused by
//! `floodgate check-config` with exit code 2 and the file and line of the
//! bad value: never a panic, never a silent clamp. The greatest (and
//! least) values in range load.

use std::path::Path;
use std::process::Command;

/// A config file and the text of the line that holds its one bad value.
struct Case {
    label: &'static str,
    yaml: String,
    bad_line: &'static str,
}

fn case(label: &'static str, yaml: String, bad_line: &'static str) -> Case {
    Case {
        label,
        yaml,
        bad_line,
    }
}

/// One rule with one limit, written one field to a line.
fn limit(fields: &str) -> String {
    format!("# one limit\nrules:\n  - name: r\n    limits:\n      - {fields}\n")
}

fn fixed_window(limit_value: &str, window: &str) -> String {
    limit(&format!(
        "algorithm: fixed_window\n        limit: {limit_value}\n        window: {window}"
    ))
}

fn token_bucket(capacity: &str, refill: &str) -> String {
    limit(&format!(
        "algorithm: token_bucket\n        capacity: {capacity}\n        refill: {refill}"
    ))
}

fn leaky_bucket(capacity: &str, rate: &str) -> String {
    limit(&format!(
        "algorithm: leaky_bucket\n        capacity: {capacity}\n        rate: {rate}"
    ))
}

fn gcra(rate: &str, burst: &str) -> String {
    limit(&format!(
        "algorithm: gcra\n        rate: {rate}\n        burst: {burst}"
    ))
}

fn sliding_log(limit_value: &str) -> String {
    limit(&format!(
        "algorithm: sliding_window_log\n        limit: {limit_value}\n        window: 1s"
    ))
}

/// A valid policy followed by `server` (top-level server sections).
fn server(server: &str) -> String {
    format!("{}{server}", fixed_window("10", "1s"))
}

/// A Redis store with `extra` lines (two spaces in).
fn redis(extra: &str) -> String {
    server(&format!(
        "store:\n  kind: redis\n  url: redis://127.0.0.1:6379\n{extra}"
    ))
}

/// A gateway with `websocket:` lines `lines` (two spaces in).
fn websocket(lines: &str) -> String {
    server(&format!(
        "upstream: http://127.0.0.1:9\nwebsocket:\n{lines}"
    ))
}

fn floodgate_check(path: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["check-config", path.to_str().unwrap()])
        .output()
        .unwrap()
}

/// `serve` on the same file: it refuses a bad config before it binds
/// anything, so it exits at once.
fn floodgate_serve(path: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args([
            "serve",
            "--watch",
            "off",
            "--config",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

/// The 1-based line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in\n{text}"))
        + 1
}

fn bad_cases() -> Vec<Case> {
    vec![
        // Limits and windows.
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
        // Capacities and rates.
        case("capacity_negative", token_bucket("-1", "1/s"), "capacity: -1"),
        case("capacity_0", token_bucket("0", "1/s"), "capacity: 0"),
        case("capacity_1e30", token_bucket("1e30", "1/s"), "capacity: 1e30"),
        case(
            "capacity_times_period_over_2_pow_53",
            token_bucket("1000000000", "1/d"),
            "capacity: 1000000000",
        ),
        case("refill_0_per_s", token_bucket("10", "0/s"), "refill: 0/s"),
        case("refill_1_per_0s", token_bucket("10", "1/0s"), "refill: 1/0s"),
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
        // Identity.
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
        // The gateway's WebSocket proxying.
        case(
            "websocket_max_connections_0",
            websocket("  max_connections: 0\n"),
            "max_connections: 0",
        ),
        case(
            "websocket_max_connections_1000001",
            websocket("  max_connections: 1000001\n"),
            "max_connections: 1000001",
        ),
        case(
            "websocket_idle_timeout_999ms",
            websocket("  idle_timeout: 999ms\n"),
            "idle_timeout: 999ms",
        ),
        case(
            "websocket_idle_timeout_25h",
            websocket("  idle_timeout: 25h\n"),
            "idle_timeout: 25h",
        ),
        case(
            "websocket_max_message_127",
            websocket("  max_message: 127\n"),
            "max_message: 127",
        ),
        case(
            "websocket_max_message_65MiB",
            websocket("  max_message: 65MiB\n"),
            "max_message: 65MiB",
        ),
        case(
            "websocket_key_route",
            websocket("  key: route\n  messages: { algorithm: gcra, rate: 1/s }\n"),
            "key: route",
        ),
        case(
            "websocket_key_without_messages",
            websocket("  key: ip\n"),
            "key: ip",
        ),
        case(
            "websocket_messages_limit_0",
            websocket("  messages:\n    algorithm: fixed_window\n    limit: 0\n    window: 1s\n"),
            "limit: 0",
        ),
        case(
            "websocket_messages_soft",
            websocket("  messages:\n    algorithm: gcra\n    rate: 1/s\n    soft: 80%\n"),
            "soft: 80%",
        ),
        case(
            "websocket_messages_concurrency",
            websocket("  messages:\n    algorithm: concurrency\n    limit: 4\n"),
            "algorithm: concurrency",
        ),
        case(
            "websocket_without_upstream",
            server("websocket:\n  max_connections: 8\n"),
            "max_connections: 8",
        ),
        // The Redis store.
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
        case("redis_gather_max_0", redis("  gather_max: 0\n"), "gather_max: 0"),
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

/// Runs `check-config` on each case and returns what went wrong, one line
/// a case, so that one run names every case that fails.
fn refusals_that_went_wrong(cases: &[Case]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for c in cases {
        let path = dir.path().join(format!("{}.yaml", c.label));
        std::fs::write(&path, &c.yaml).unwrap();
        let line = line_of(&c.yaml, c.bad_line);
        let place = format!("{}.yaml:{line}:", c.label);
        let mut problems = Vec::new();
        let mut err = String::new();
        // check-config and serve agree: both refuse, with the place.
        for (what, out) in [
            ("check-config", floodgate_check(&path)),
            ("serve", floodgate_serve(&path)),
        ] {
            err = String::from_utf8_lossy(&out.stderr).to_string();
            if out.status.code() != Some(2) {
                problems.push(format!("{what}: exit {:?}", out.status.code()));
            }
            if err.contains("panicked") {
                problems.push(format!("{what}: panicked"));
            }
            if !err.contains(&place) {
                problems.push(format!("{what}: no `{place}`"));
            }
        }
        if !problems.is_empty() {
            wrong.push(format!(
                "{}: {} — stderr: {}",
                c.label,
                problems.join(", "),
                err.trim()
            ));
        }
    }
    wrong
}

#[test]
fn out_of_range_numbers_are_refused_with_their_line_and_exit_2() {
    let wrong = refusals_that_went_wrong(&bad_cases());
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn the_bounds_themselves_load() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
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
        (
            "websocket_lowest",
            websocket("  max_connections: 1\n  idle_timeout: 1s\n  max_message: 128\n"),
        ),
        (
            "websocket_highest",
            websocket("  max_connections: 1000000\n  idle_timeout: 24h\n  max_message: 64MiB\n"),
        ),
        (
            "websocket_messages_by_api_key",
            websocket("  key: api_key\n  messages: { algorithm: sliding_window_counter, limit: 100, window: 1m }\n"),
        ),
        ("shutdown_grace_1us", server("shutdown_grace: 1us\n")),
        ("max_keys_1", server("store:\n  max_keys: 1\n")),
        (
            "max_keys_2_pow_32",
            server("store:\n  max_keys: 4294967296\n"),
        ),
        ("shards_1", server("store:\n  shards: 1\n")),
        ("shards_4096", server("store:\n  shards: 4096\n")),
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
    ];
    let mut wrong = Vec::new();
    for (label, yaml) in cases {
        let path = dir.path().join(format!("{label}.yaml"));
        std::fs::write(&path, &yaml).unwrap();
        let out = floodgate_check(&path);
        if out.status.code() != Some(0) {
            wrong.push(format!(
                "{label}: exit {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
