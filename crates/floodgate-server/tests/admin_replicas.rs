//! The admin API across replicas on one real Redis: a change through one
//! is enforced by the others within a second; a replica started later
//! loads the current version.

mod common;

use std::time::{Duration, Instant};

use common::*;
use floodgate_testkit::redis::RedisServer;
use serde_json::json;

fn yaml(url: &str) -> String {
    format!("listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nrules:\n  - name: api\n    match: {{ path: /api/v1/data }}\n    limits:\n      - {{ algorithm: fixed_window, limit: 2, window: 1h }}\nstore:\n  kind: redis\n  url: {url}\n  time: caller\n  timeout: 2s\n")
}

async fn limit_of(s: &Server) -> Option<String> {
    get(&format!("http://{}/api/v1/data", s.public), &[])
        .await
        .header("x-ratelimit-limit")
        .map(str::to_string)
}

async fn wait_for_limit(s: &Server, want: &str, deadline: Duration) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if limit_of(s).await.as_deref() == Some(want) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_on_one_replica_is_enforced_by_the_others() {
    let redis = RedisServer::start();
    let y = yaml(&redis.url());
    let a = start(&y).await;
    let b = start(&y).await;
    let c = start(&y).await;
    let admin_a = format!("http://{}", a.admin);
    let r = get(&format!("{admin_a}/v1/policy"), &[]).await;
    assert_eq!(
        r.header("etag"),
        Some("\"1\""),
        "seeded once, not three times"
    );
    let rule = json!({"limits": [{"algorithm": "fixed_window", "limit": 7, "window": "1h"}]});
    let r = send(
        "PUT",
        &format!("{admin_a}/v1/rules/api"),
        &[],
        rule.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["version"], 2);
    for s in [&a, &b, &c] {
        assert!(
            wait_for_limit(s, "7", Duration::from_secs(1)).await,
            "applied within 1 s"
        );
    }
    // A stale version is refused on another replica too.
    let r = send(
        "PUT",
        &format!("http://{}/v1/rules/api", b.admin),
        &[("if-match", "\"1\"")],
        rule.to_string(),
    )
    .await;
    assert_eq!(r.status, 409);
    // A replica started now loads version 2.
    let d = start(&y).await;
    assert_eq!(limit_of(&d).await.as_deref(), Some("7"));
    let h = get(&format!("http://{}/v1/policy/history", d.admin), &[])
        .await
        .json();
    assert_eq!(h["history"][0]["version"], 2);
    for s in [a, b, c, d] {
        s.running.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_away_a_change_is_refused_and_the_policy_kept() {
    let mut redis = RedisServer::start();
    let s = start(&yaml(&redis.url())).await;
    redis.kill();
    let rule = json!({"limits": [{"algorithm": "fixed_window", "limit": 9, "window": "1h"}]});
    let r = send(
        "PUT",
        &format!("http://{}/v1/rules/api", s.admin),
        &[],
        rule.to_string(),
    )
    .await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"], "policy_store_unavailable");
    let r = get(&format!("http://{}/v1/policy", s.admin), &[]).await;
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(r.json()["rules"][0]["limits"][0]["limit"], 2);
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_on_a_redis_cluster_share_the_policy() {
    let cluster = floodgate_testkit::redis::RedisCluster::start();
    let y = format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nrules:\n  - name: api\n    match: {{ path: /api/v1/data }}\n    limits:\n      - {{ algorithm: fixed_window, limit: 2, window: 1h }}\nstore:\n  kind: redis_cluster\n  nodes: [{}]\n  time: caller\n  timeout: 2s\n",
        cluster.urls().join(", ")
    );
    let a = start(&y).await;
    let b = start(&y).await;
    let rule = json!({"limits": [{"algorithm": "fixed_window", "limit": 5, "window": "1h"}]});
    let r = send(
        "PUT",
        &format!("http://{}/v1/rules/api", a.admin),
        &[],
        rule.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        wait_for_limit(&b, "5", Duration::from_secs(1)).await,
        "applied within 1 s"
    );
    let h = get(&format!("http://{}/v1/policy/history", b.admin), &[])
        .await
        .json();
    assert_eq!(h["history"][0]["version"], 2);
    for s in [a, b] {
        s.running.shutdown().await.unwrap();
    }
}
