//! Concurrency limits in the policy document: the default lease, and
//! errors that name the file, line and field.

use std::time::Duration;

use floodgate_config::parse_policy;
use floodgate_core::Quota;

#[test]
fn a_concurrency_limit_beside_a_rate_limit() {
    let yaml = "\
rules:
  - name: api
    limits:
      - { name: rate, algorithm: token_bucket, capacity: 10, refill: 1/s }
      - { name: slots, algorithm: concurrency, limit: 4 }
      - { name: slow, algorithm: concurrency, limit: 2, lease: 5s }
";
    let p = parse_policy("p.yaml", yaml).unwrap();
    let limits = &p.rules[0].limits;
    assert_eq!(
        limits[1].quota,
        Quota::concurrency(4, Duration::from_secs(60)).unwrap()
    );
    assert_eq!(
        limits[2].quota,
        Quota::concurrency(2, Duration::from_secs(5)).unwrap()
    );
    assert_eq!(limits[2].quota.algorithm_name(), "concurrency");
    assert_eq!(limits[2].quota.window_secs(), 5);
}

#[test]
fn bad_concurrency_limits_are_refused_where_written() {
    for (yaml, line, field, says) in [
        (
            "rules:\n  - name: a\n    limits:\n      - { algorithm: concurrency, lease: 1s }\n",
            4,
            "rules[0].limits[0]",
            "concurrency needs `limit`",
        ),
        (
            "rules:\n  - name: a\n    limits:\n      - { algorithm: concurrency, limit: 0 }\n",
            4,
            "rules[0].limits[0].limit",
            "at least 1",
        ),
        (
            "rules:\n  - name: a\n    limits:\n      - { algorithm: concurrency, limit: 1000000 }\n",
            4,
            "rules[0].limits[0].limit",
            "at most 100000",
        ),
        (
            "rules:\n  - name: a\n    limits:\n      - algorithm: concurrency\n        limit: 3\n        lease: 10ms\n",
            6,
            "rules[0].limits[0].lease",
            "between 100ms and 1d",
        ),
        (
            "rules:\n  - name: a\n    limits:\n      - { algorithm: concurrency, limit: 3, window: 1s }\n",
            4,
            "rules[0].limits[0].window",
            "does not apply to concurrency",
        ),
        (
            "rules:\n  - name: a\n    limits:\n      - { algorithm: token_bucket, capacity: 3, refill: 1/s, lease: 1s }\n",
            4,
            "rules[0].limits[0].lease",
            "does not apply to token_bucket",
        ),
        (
            "rules:\n  - name: d\n    match: { domain: api, descriptors: [{ key: path }] }\n    limits:\n      - { algorithm: concurrency, limit: 3 }\n",
            5,
            "rules[0].limits[0].algorithm",
            "Envoy's rate limit API never releases a slot",
        ),
    ] {
        let e = parse_policy("c.yaml", yaml).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert_eq!(e.line, line, "{e}");
        assert!(e.to_string().starts_with("c.yaml:"), "{e}");
        assert!(e.message.contains(says), "{e}");
    }
}
