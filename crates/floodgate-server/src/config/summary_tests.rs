//! check-config's summary's tests.

use crate::config::Config;

#[test]
fn burst_shorthands_are_shown_as_what_they_become() {
    let yaml = "tiers: [free]\nrules:\n  - name: api\n    key: api_key\n    limits:\n      - { name: hourly, algorithm: token_bucket, capacity: 100, refill: 100/3600s, burst_capacity: 2x }\n      - { name: spiky, algorithm: token_bucket, capacity: 2x for 10s, refill: 10/s }\n      - { name: g, algorithm: gcra, rate: 5/s, burst: 3x for 2s }\n";
    let s = Config::parse("f.yaml", yaml).unwrap().summary();
    for want in [
        "hourly: token_bucket(capacity=200, refill=1/36s)",
        "spiky: token_bucket(capacity=200, refill=1/100ms)",
        "g: gcra(rate=1/200ms, burst=30)",
    ] {
        assert!(s.contains(want), "{want}: {s}");
    }
}

#[test]
fn each_limit_says_how_its_decisions_are_kept_in_step() {
    let policy = "rules:\n  - name: api\n    sync: leased\n    limits:\n      - { name: a, algorithm: token_bucket, capacity: 10, refill: 1/s }\n      - { name: b, algorithm: fixed_window, limit: 5, window: 1m, sync: { mode: leased, lease: 200ms, max_share: 25% } }\nglobal:\n  - { name: all, algorithm: fixed_window, limit: 9, window: 1s }\n";
    let redis = format!("store: {{ kind: redis, url: \"redis://127.0.0.1:6379\" }}\n{policy}");
    let s = Config::parse("f.yaml", &redis).unwrap().summary();
    for want in [
        "  a: token_bucket(capacity=10, refill=1/1s), sync leased (lease 1s, max share 10%)",
        "  b: fixed_window(limit=5, window=1m), sync leased (lease 200ms, max share 25%)",
        "global all: fixed_window(limit=9, window=1s), sync exact",
    ] {
        assert!(s.contains(want), "{want}: {s}");
    }
    assert!(!s.contains("note: `sync: leased`"), "{s}");
    let s = Config::parse("f.yaml", policy).unwrap().summary();
    assert!(
        s.contains("note: `sync: leased` decides like `exact`"),
        "{s}"
    );
    assert!(s.contains("sync local (memory store)"), "{s}");
}

#[test]
fn each_limit_says_where_it_is_counted() {
    let policy = "rules:\n  - name: api\n    scope: global\n    limits:\n      - { name: a, algorithm: fixed_window, limit: 10, window: 1m }\n      - { name: b, algorithm: fixed_window, limit: 100, window: 1m, scope: region_weighted }\n";
    let regions = "region: { name: eu, regions: { us: 40%, eu: 40%, asia: 20% } }\nstore: { kind: redis, url: \"redis://127.0.0.1:6379\" }\n";
    let global =
        "global_store: { kind: redis, url: \"redis://127.0.0.1:6380\", local_divisor: 2 }\n";
    let s = Config::parse("f.yaml", &format!("{regions}{global}{policy}"))
        .unwrap()
        .summary();
    for want in [
        "region: eu (weight 40%); regions: asia 20%, eu 40%, us 40%",
        "global store: Redis redis://127.0.0.1:6380, timeout 1s, on failure local (a partition decides global limits on 40% of each, split over local_divisor 2 replicas)",
        "  a: fixed_window(limit=10, window=1m), sync leased (lease 10s, max share 10%), scope global (the global store)",
        "  b: fixed_window(limit=100, window=1m), sync exact, scope region_weighted (40% of it in eu: fixed_window(limit=40, window=1m))",
    ] {
        assert!(s.contains(want), "{want}: {s}");
    }
    let s = Config::parse("f.yaml", &format!("{regions}{policy}"))
        .unwrap()
        .summary();
    assert!(s.contains("note: no `global_store:`"), "{s}");
    let s = Config::parse("f.yaml", policy).unwrap().summary();
    assert!(s.contains("note: without `region:`"), "{s}");
}

#[test]
fn a_redis_store_names_the_replica_of_the_fleet_view() {
    let redis = "store: { kind: redis, url: \"redis://127.0.0.1:6379\" }\n";
    let named =
        format!("{redis}admin: {{ dashboard: {{ replica: edge-1, publish_every: 1s }} }}\n");
    let s = Config::parse("f.yaml", &named).unwrap().summary();
    assert!(
        s.contains("fleet view: replica edge-1, a report every 1s, gone after 10s of silence"),
        "{s}"
    );
    let s = Config::parse("f.yaml", redis).unwrap().summary();
    assert!(
        s.contains("redis://127.0.0.1:6379, 1 connection, timeout"),
        "{s}"
    );
    assert!(s.contains("namespace: key prefix \"fg:\""), "{s}");
    assert!(
        s.contains("fleet view: replica <host name>:<admin port>,"),
        "{s}"
    );
    let s = Config::parse("f.yaml", "rules: []\n").unwrap().summary();
    assert!(!s.contains("fleet view"), "{s}");
}

#[test]
fn serving_threads_are_named_with_their_default() {
    let s = Config::parse("f.yaml", "threads: 3\n").unwrap().summary();
    assert!(s.contains("serving threads: 3\n"), "{s}");
    let s = Config::parse("f.yaml", "rules: []\n").unwrap().summary();
    let n = crate::net::workers::default_threads();
    assert!(s.contains(&format!("serving threads: {n}\n")), "{s}");
}
