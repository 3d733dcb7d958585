//! A limit whose numbers change keeps its counters where its algorithm
//! allows, on the memory store and on a real Redis: a bucket at 10 of 40
//! stays at 10 when its capacity is raised to 80, a window keeps its
//! count when its limit is raised; a change of the bucket's unit starts it
//! afresh. The change's diff says which.

mod common;

use common::*;
use floodgate_testkit::redis::RedisServer;
use serde_json::{json, Value};

fn config(store: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\n{store}rules:\n  - name: api\n    match: {{ path: /api/v1/data }}\n    key: api_key\n    limits:\n      - {{ name: b, algorithm: token_bucket, capacity: 40, refill: 40/h }}\n      - {{ name: w, algorithm: fixed_window, limit: 50, window: 1h }}\n"
    )
}

const KEY: &str = "counters-kept-key-0001";

/// One request; its limit and remaining.
async fn once(s: &Server) -> (String, String) {
    let r = get(
        &format!("http://{}/api/v1/data", s.public),
        &[("x-api-key", KEY)],
    )
    .await;
    assert_eq!(r.status, 200);
    (
        r.header("x-ratelimit-limit").unwrap().to_string(),
        r.header("x-ratelimit-remaining").unwrap().to_string(),
    )
}

/// The rule with `b` and `w` as given; the change's diff.
async fn put_rule(s: &Server, b: Value, w: Value) -> Value {
    let url = format!("http://{}/v1/rules/api", s.admin);
    let mut rule = get(&url, &[]).await.json();
    rule["limits"] = json!([b, w]);
    let r = send("PUT", &url, &[], rule.to_string()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["diff"].clone()
}

async fn a_bucket_keeps_its_level(store: &str) {
    let s = start(&config(store)).await;
    for _ in 0..29 {
        once(&s).await;
    }
    // 10 of 40 left (the bucket speaks: it has the least left).
    assert_eq!(once(&s).await, ("40".into(), "10".into()));

    let diff = put_rule(
        &s,
        json!({"name": "b", "algorithm": "token_bucket", "capacity": 80, "refill": "40/h"}),
        json!({"name": "w", "algorithm": "fixed_window", "limit": 60, "window": "1h"}),
    )
    .await;
    assert_eq!(diff["counters_kept"], json!(["api/b", "api/w"]), "{diff}");
    assert_eq!(diff["counters_restarted"], json!([]), "{diff}");
    // Still 10 in the bucket (not 80): one more leaves 9.
    assert_eq!(once(&s).await, ("80".into(), "9".into()));

    // Half the refill: its unit changes (1 token per 180 s, not 90 s), so
    // the bucket starts afresh, full (79 left after this one); the window
    // keeps its count: 32 of 60 used, 28 left, and it speaks.
    let diff = put_rule(
        &s,
        json!({"name": "b", "algorithm": "token_bucket", "capacity": 80, "refill": "20/h"}),
        json!({"name": "w", "algorithm": "fixed_window", "limit": 60, "window": "1h"}),
    )
    .await;
    assert_eq!(diff["counters_restarted"], json!(["api/b"]), "{diff}");
    assert_eq!(once(&s).await, ("60".into(), "28".into()));
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bucket_keeps_its_level_on_the_memory_store() {
    a_bucket_keeps_its_level("").await;
}

#[tokio::test]
async fn a_bucket_keeps_its_level_on_redis() {
    let redis = RedisServer::start();
    a_bucket_keeps_its_level(&format!(
        "store: {{ kind: redis, url: {}, time: caller }}\n",
        redis.url()
    ))
    .await;
}
