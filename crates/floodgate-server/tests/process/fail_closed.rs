//! A `fail_closed` limit while Redis is away, on the real binary and a real
//! redis-server: its own status (503 by default), body
//! (`limiter_unavailable`) and log line, not the usual 429; and how long
//! after Redis is back decisions are Redis's again, measured (the breaker
//! probes on the first request after its cool-down).

use std::time::{Duration, Instant};

use floodgate_testkit::redis::RedisServer;

use super::common::*;
use super::kit::*;

/// One connection: the one the breaker's probe found working is the one
/// the next requests use. (With more, a connection left idle through the
/// outage fails its first call after Redis is back, and with `failures: 1`
/// that opens the breaker again for its cool-down.)
fn config(url: &str, status: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nlog: {{ format: json }}\nstore: {{ kind: redis, url: {url}, connections: 1, timeout: 1s, on_failure: fail_closed, breaker: {{ failures: 1, cooldown: 1s }}{status} }}\nrules:\n  - name: api\n    key: api_key\n    limits:\n      - {{ name: hourly, algorithm: fixed_window, limit: 2, window: 1h }}\n"
    )
}

async fn once(url: &str) -> Reply {
    get(url, &[("x-api-key", "fail-closed-key-01")]).await
}

/// The seconds from Redis back to a decision made on Redis (a 200 or the
/// limit's 429), polling every 20 ms.
async fn back_after(url: &str, since: Instant) -> Duration {
    loop {
        let r = once(url).await;
        if r.status != 503 {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < DEADLINE,
            "still refused after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fail_closed_denial_says_so_and_redis_is_used_again_within_the_cool_down() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(&path, config(&redis.url(), "")).unwrap();
    let s = spawn_serve(&path);
    let url = format!("http://{}/resource", s.public);
    assert_eq!(once(&url).await.status, 200);

    redis.kill();
    let r = once(&url).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["error"], "limiter_unavailable", "{v}");
    assert_eq!(v["code"], "limiter_unavailable", "{v}");
    assert_eq!(v["retry_after"], 1, "{v}");
    assert_eq!(
        (v["rule"].as_str(), v["limit"].as_str()),
        (Some("api"), Some("hourly"))
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    // The decision API says it too.
    let check = send(
        "POST",
        &format!("http://{}/v1/check", s.admin),
        &[],
        r#"{"attributes":{"api_key":"fail-closed-key-01","path":"/resource"}}"#.to_string(),
    )
    .await;
    assert_eq!(
        check.json()["error"],
        "limiter_unavailable",
        "{}",
        check.json()
    );
    assert_eq!(check.json()["allowed"], false);

    // Back: the first request after the cool-down probes Redis.
    redis.restart();
    let since = Instant::now();
    let took = back_after(&url, since).await;
    eprintln!("decisions on Redis again {took:?} after it was back (cool-down 1 s)");
    // Decided on Redis: the limit of 2 an hour (one used before) holds.
    let statuses = [once(&url).await.status, once(&url).await.status];
    assert!(
        statuses.contains(&http::StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );

    s.signal("-TERM");
    let (_, logs) = s.wait().await;
    let lines: Vec<serde_json::Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let unavailable = lines.iter().find(|l| {
        l["message"].as_str().is_some_and(|m| {
            m.starts_with("request denied: the rate limiter's store is unavailable")
        })
    });
    let line = unavailable.unwrap_or_else(|| panic!("no line for the denial: {logs:?}"));
    assert_eq!(line["rule"], "api");
    // Never logged as a limit reached (those wait for the window, not 1 s).
    assert!(
        !lines
            .iter()
            .any(|l| l["message"] == "request rate limited" && l["retry_after"] == "1s"),
        "a fail-closed denial was logged as a rate limit: {logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_of_a_fail_closed_denial_can_be_429() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(&path, config(&redis.url(), ", fail_closed_status: 429")).unwrap();
    let s = spawn_serve(&path);
    let url = format!("http://{}/resource", s.public);
    redis.kill();
    let r = once(&url).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["code"], "limiter_unavailable");
    s.signal("-TERM");
    s.wait().await;
}
