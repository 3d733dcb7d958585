//! End-to-end: the metrics an operator asks for, on the real server:
//! per-limit decisions, near-limit decisions, the configured limits and
//! the policy version following admin changes, and the Redis store's
//! latency; every exposition passes `promtool check metrics`.

mod common;

use common::*;
use floodgate_testkit::redis::RedisServer;
use serde_json::json;

const POLICY: &str = "listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\ntiers: [free, pro]\ndefault_tier: free\nglobal:\n  - { name: all, algorithm: token_bucket, capacity: 1000, refill: 1000/s }\nrules:\n  - name: api\n    match: { path: /api/v1/data }\n    key: api_key\n    limits:\n      - { algorithm: fixed_window, limit: 5, window: 1h }\n    tiers:\n      pro: [{ name: pro-hour, algorithm: fixed_window, limit: 9, window: 1h }]\n";

async fn metrics(admin: std::net::SocketAddr) -> String {
    let r = get(&format!("http://{admin}/metrics"), &[]).await;
    assert_eq!(r.status, 200);
    String::from_utf8(r.body.to_vec()).unwrap()
}

#[tokio::test]
async fn limits_near_limit_and_policy_version_are_exported() {
    let s = start(POLICY).await;
    let data = format!("http://{}/api/v1/data", s.public);
    // 5 an hour: used 1..5 of 5 → 80% and 100% are near (two), then one
    // limited.
    for want in [200, 200, 200, 200, 200, 429] {
        assert_eq!(get(&data, &[("x-api-key", "k1")]).await.status, want);
    }
    let text = metrics(s.admin).await;
    let v = |series: &str| sample_value(&text, series);
    assert_eq!(
        v(r#"floodgate_limit_decisions_total{rule="api",limit="api",outcome="allowed"}"#),
        Some(5.0)
    );
    assert_eq!(
        v(r#"floodgate_limit_decisions_total{rule="api",limit="api",outcome="limited"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"floodgate_near_limit_total{rule="api",limit="api"}"#),
        Some(2.0)
    );
    assert_eq!(
        v(r#"floodgate_limit_decisions_total{rule="global",limit="all",outcome="allowed"}"#),
        Some(6.0)
    );
    assert_eq!(
        v(r#"floodgate_limit{rule="api",tier="",limit="api"}"#),
        Some(5.0)
    );
    assert_eq!(
        v(r#"floodgate_limit{rule="api",tier="pro",limit="pro-hour"}"#),
        Some(9.0)
    );
    assert_eq!(
        v(r#"floodgate_limit{rule="global",tier="",limit="all"}"#),
        Some(1000.0)
    );
    assert_eq!(v("floodgate_policy_version"), Some(1.0));
    assert!(!text.contains("k1"), "no identity in the metrics");
    assert_promtool_accepts(&text);

    // An admin change shows at once in the gauges.
    let admin = format!("http://{}", s.admin);
    let mut doc = get(&format!("{admin}/v1/policy"), &[]).await.json();
    doc["rules"][0]["limits"][0]["limit"] = json!(7);
    let r = send(
        "PUT",
        &format!("{admin}/v1/policy"),
        &[("if-match", "\"1\"")],
        doc.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let text = metrics(s.admin).await;
    assert_eq!(
        sample_value(&text, r#"floodgate_limit{rule="api",tier="",limit="api"}"#),
        Some(7.0)
    );
    assert_eq!(sample_value(&text, "floodgate_policy_version"), Some(2.0));
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn redis_store_latency_is_exported() {
    let redis = RedisServer::start();
    let s = start(&format!(
        "{POLICY}store:\n  kind: redis\n  url: {}\n  time: caller\n",
        redis.url()
    ))
    .await;
    let data = format!("http://{}/api/v1/data", s.public);
    for _ in 0..3 {
        assert_eq!(get(&data, &[("x-api-key", "k1")]).await.status, 200);
    }
    let text = metrics(s.admin).await;
    assert_eq!(
        sample_value(&text, "floodgate_store_duration_seconds_count"),
        Some(3.0)
    );
    assert_eq!(
        sample_value(
            &text,
            r#"floodgate_store_duration_seconds_bucket{le="+Inf"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        sample_value(&text, "floodgate_store_breaker_open"),
        Some(0.0)
    );
    assert_promtool_accepts(&text);
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn near_limit_share_follows_the_config() {
    let yaml = POLICY.replace(
        "admin: { listen: 127.0.0.1:0 }",
        "admin: { listen: 127.0.0.1:0, dashboard: { near_limit_share: 0.5 } }",
    );
    let s = start(&yaml).await;
    let data = format!("http://{}/api/v1/data", s.public);
    // 5 an hour: 1, 2, 3 used of 5 → 20%, 40%, 60%: one at or above 50%.
    for _ in 0..3 {
        assert_eq!(get(&data, &[("x-api-key", "k1")]).await.status, 200);
    }
    let text = metrics(s.admin).await;
    assert_eq!(
        sample_value(
            &text,
            r#"floodgate_near_limit_total{rule="api",limit="api"}"#
        ),
        Some(1.0)
    );
    s.running.shutdown().await.unwrap();
}
