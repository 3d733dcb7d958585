//! Reloads apply every section that can change at run time at once, and
//! name the fields that need a restart (keeping their running values).

mod common;

use common::*;
use floodgate_testkit::redis::RedisServer;

fn redis_yaml(url: &str, on_failure: &str, extra_rule: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nrules:\n  - name: res\n    match: {{ path: /resource }}\n    limits:\n      - {{ algorithm: fixed_window, limit: 100, window: 1h }}\n{extra_rule}store:\n  kind: redis\n  url: {url}\n  time: caller\n  timeout: 50ms\n  on_failure: {on_failure}\n  breaker: {{ failures: 1, cooldown: 1s }}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn failure_settings_and_store_rules_apply_at_the_next_reload() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    let open = redis_yaml(&redis.url(), "fail_open", "");
    std::fs::write(&path, &open).unwrap();
    let s = start_with_path(&open, Some(path.clone())).await;
    let res = format!("http://{}/resource", s.public);
    let data = format!("http://{}/api/v1/data", s.public);
    assert_eq!(get(&res, &[]).await.status, 200);
    redis.kill();
    assert_eq!(
        get(&res, &[]).await.status,
        200,
        "fail_open while Redis is down"
    );

    // The store's default turns to fail_closed: the next request is denied.
    std::fs::write(&path, redis_yaml(&redis.url(), "fail_closed", "")).unwrap();
    let report = s.running.reload().await.unwrap();
    assert!(report.needs_restart.is_empty(), "{report:?}");
    assert_eq!(get(&res, &[]).await.status, 503, "limiter_unavailable");

    // A new rule with a mode from `store.rules` changes the policy part,
    // which cannot be kept while Redis is away: the reload says so, and the
    // live policy stays.
    let rule = "  - name: data\n    match: { path: /api/v1/data }\n    limits:\n      - { algorithm: fixed_window, limit: 2, window: 1h }\n";
    let with_rules = redis_yaml(&redis.url(), "fail_closed", rule)
        .replace("  breaker:", "  rules: { data: local }\n  breaker:");
    std::fs::write(&path, &with_rules).unwrap();
    let report = s.running.reload().await.unwrap();
    assert!(report.policy_error.is_some(), "{report:?}");
    assert_eq!(report.policy_version, None);
    assert_eq!(
        get(&data, &[]).await.status,
        200,
        "no rule for /api/v1/data yet"
    );
    // Redis back (empty): the same file is kept at the next reload (the
    // lost version first, then this one), and applies.
    redis.restart();
    let report = s.running.reload().await.unwrap();
    assert_eq!(report.policy_error, None, "{report:?}");
    assert_eq!(report.policy_version, Some(2));
    redis.kill();
    let statuses = [
        get(&data, &[]).await.status.as_u16(),
        get(&data, &[]).await.status.as_u16(),
        get(&data, &[]).await.status.as_u16(),
    ];
    assert_eq!(statuses, [200, 200, 429], "decided on the local store");
    assert_eq!(get(&res, &[]).await.status, 503, "still fail_closed");
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_change_that_needs_a_restart_is_named_and_the_rest_applies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    let base = "listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nrules:\n  - name: res\n    match: { path: /resource }\n    limits:\n      - { algorithm: fixed_window, limit: 5, window: 1h }\n";
    std::fs::write(&path, base).unwrap();
    let s = start_with_path(base, Some(path.clone())).await;
    let res = format!("http://{}/resource", s.public);
    assert_eq!(get(&res, &[]).await.header("x-ratelimit-limit"), Some("5"));

    // Memory to Redis, another listener and a new limit in one edit.
    let changed = base
        .replace("listen: 127.0.0.1:0\nadmin", "listen: 127.0.0.1:1\nadmin")
        .replace("limit: 5", "limit: 7")
        + "store:\n  kind: redis\n  url: redis://127.0.0.1:1\n  max_keys: 10\n";
    std::fs::write(&path, &changed).unwrap();
    let report = s.running.reload().await.unwrap();
    assert_eq!(
        report.needs_restart,
        ["listen", "store.kind", "store.max_keys"],
        "{report:?}"
    );
    // The policy applied; the store is still memory (no Redis at :1, yet
    // the request is decided and counted).
    let r = get(&res, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-limit"), Some("7"));
    // The limit's count carried over (the same window).
    assert_eq!(r.header("x-ratelimit-remaining"), Some("5"));
    // Compared with what runs: the same edit again names the same fields.
    let again = s.running.reload().await.unwrap();
    assert_eq!(again.needs_restart, report.needs_restart);
    // Back to the running values: nothing left to restart for.
    std::fs::write(&path, base.replace("limit: 5", "limit: 7")).unwrap();
    assert!(s.running.reload().await.unwrap().needs_restart.is_empty());
    s.running.shutdown().await.unwrap();
}
