//! End-to-end: the real server on port 0, spoken to over HTTP; its public
//! listener: limits, their headers and 429s, client identities, shadow
//! rules, shaping and proxying to an upstream.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test]
async fn exactly_the_limit_then_429_with_body_and_headers() {
    let s = start(BASE).await;
    let url = format!("http://{}/api/v1/data", s.public);
    for i in 0..5 {
        let r = get(&url, &[]).await;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some(&*(4 - i).to_string())
        );
        // Window [T0, T0 + 60 s): resets at its end.
        assert_eq!(
            r.header("x-ratelimit-reset"),
            Some(&*(T0 / 1_000_000 + 60).to_string())
        );
        assert_eq!(r.header("ratelimit-policy"), Some("\"per-ip\";q=5;w=60"));
        assert_eq!(
            r.header("ratelimit"),
            Some(&*format!("\"per-ip\";r={};t=60", 4 - i))
        );
        assert!(r.json()["data"].is_array());
    }
    s.clock.advance(Duration::from_millis(17_500));
    let r = get(&url, &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("retry-after"), Some("43"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(r.header("ratelimit"), Some("\"per-ip\";r=0;t=43"));
    assert_eq!(
        r.json(),
        serde_json::json!({
            "error": "rate_limit_exceeded",
            "message": "Too many requests. Retry after 43 seconds.",
            "retry_after": 43
        })
    );
    // The next window admits again.
    s.clock.advance(Duration::from_millis(42_500));
    assert_eq!(get(&url, &[]).await.status, 200);
    // Routes no rule matches carry no headers.
    let r = get(&format!("http://{}/resource", s.public), &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-ratelimit-limit").is_none());
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    for (trusted, expect_separate) in [("[]", false), ("[127.0.0.1/32]", true)] {
        let yaml = format!("{BASE}trusted_proxies: {trusted}\n");
        let s = start(&yaml).await;
        let url = format!("http://{}/api/v1/data", s.public);
        for i in 0..5 {
            let xff = format!("198.51.100.{i}");
            assert_eq!(get(&url, &[("x-forwarded-for", &xff)]).await.status, 200);
        }
        // A sixth "client": a new forwarded address.
        let r = get(&url, &[("x-forwarded-for", "6.6.6.6, 198.51.100.99")]).await;
        if expect_separate {
            assert_eq!(
                r.status, 200,
                "behind a trusted proxy each address is a client"
            );
            assert_eq!(r.header("x-ratelimit-remaining"), Some("4"));
        } else {
            assert_eq!(
                r.status, 429,
                "an untrusted peer cannot pick its own address"
            );
        }
        s.running.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn tiers_get_their_own_limits_and_unknown_keys_the_default() {
    let yaml = r#"
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
tiers: [free, pro]
default_tier: free
clients:
  - { api_key: key-pro-1, tier: pro }
rules:
  - name: api
    match: { path: /api/* }
    key: api_key
    limits:
      - { algorithm: token_bucket, capacity: 2, refill: 1/minute }
    tiers:
      pro:
        - { algorithm: token_bucket, capacity: 6, refill: 1/minute }
"#;
    let s = start(yaml).await;
    let url = format!("http://{}/api/v1/data", s.public);
    let count = |key: &'static str| {
        let url = url.clone();
        async move {
            let mut n = 0;
            for _ in 0..10 {
                if get(&url, &[("x-api-key", key)]).await.status == 200 {
                    n += 1;
                }
            }
            n
        }
    };
    assert_eq!(count("key-pro-1").await, 6);
    assert_eq!(count("key-unknown").await, 2);
    assert_eq!(
        count("key-other-unknown").await,
        2,
        "each key its own bucket"
    );
    let r = get(&url, &[("x-api-key", "key-pro-1")]).await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("6"));
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn required_api_keys_get_401() {
    let yaml = format!("{BASE}identity: {{ require_api_key: true }}\n");
    let s = start(&yaml).await;
    let url = format!("http://{}/api/v1/data", s.public);
    let r = get(&url, &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "unauthorized");
    assert_eq!(get(&url, &[("x-api-key", "nope")]).await.status, 401);
    assert_eq!(get(&url, &[("x-api-key", "key-pro-1")]).await.status, 200);
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn per_endpoint_and_global_limits() {
    let yaml = r#"
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
rules:
  - name: data
    match: { path: /api/v1/data, methods: [GET] }
    key: ip
    limits:
      - { algorithm: fixed_window, limit: 3, window: 1m }
global:
  - { algorithm: fixed_window, limit: 5, window: 1m }
"#;
    let s = start(yaml).await;
    let data = format!("http://{}/api/v1/data", s.public);
    let resource = format!("http://{}/resource", s.public);
    let statuses = |url: String, n: usize| async move {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(get(&url, &[]).await.status.as_u16());
        }
        out
    };
    assert_eq!(statuses(data.clone(), 4).await, [200, 200, 200, 429]);
    // The global limit counted the three admitted /data requests only.
    assert_eq!(statuses(resource.clone(), 3).await, [200, 200, 429]);
    let r = get(&resource, &[]).await;
    assert_eq!(r.header("ratelimit-policy"), Some("\"global\";q=5;w=60"));
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn shadow_mode_never_blocks_but_is_counted() {
    let yaml = r#"
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
rules:
  - name: preview
    match: { path: /resource }
    key: ip
    shadow: true
    limits:
      - { algorithm: sliding_window_log, limit: 2, window: 10s }
"#;
    let s = start(yaml).await;
    let url = format!("http://{}/resource", s.public);
    for _ in 0..5 {
        let r = get(&url, &[]).await;
        assert_eq!(r.status, 200);
        assert!(
            r.header("x-ratelimit-limit").is_none(),
            "shadow rules do not speak"
        );
    }
    let m = get(&format!("http://{}/metrics", s.admin), &[]).await;
    let text = String::from_utf8_lossy(&m.body);
    assert!(
        text.contains("floodgate_requests_total{rule=\"preview\",outcome=\"shadow_limited\"} 3"),
        "{text}"
    );
    assert!(text.contains("floodgate_requests_total{rule=\"preview\",outcome=\"allowed\"} 2"));
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn proxies_to_a_real_upstream_keeping_bodies_and_headers() {
    let up = upstream().await;
    let yaml = format!("{BASE}upstream: http://{up}\nupstream_timeout: 500ms\n  \n");
    let s = start(&yaml).await;
    let url = format!("http://{}/api/v1/data?x=1&y=two", s.public);
    let r = send(
        "POST",
        &url,
        &[
            ("x-custom", "kept"),
            ("connection", "x-drop-me"),
            ("x-drop-me", "hop"),
            ("content-type", "text/plain"),
        ],
        "hello upstream",
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-upstream"), Some("yes"));
    assert!(
        r.header("x-secret-hop").is_none(),
        "hop-by-hop headers dropped"
    );
    assert_eq!(
        r.header("x-ratelimit-limit"),
        Some("5"),
        "limited route gets headers"
    );
    let echo = r.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["uri"], "/api/v1/data?x=1&y=two");
    assert_eq!(echo["body"], "hello upstream");
    let h = &echo["headers"];
    assert_eq!(h["x-custom"], "kept");
    assert!(h.get("x-drop-me").is_none());
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert!(h["forwarded"]
        .as_str()
        .unwrap()
        .starts_with("for=127.0.0.1;proto=http"));
    assert_eq!(h["host"], up.to_string());
    // Too slow: 504.
    let r = get(&format!("http://{}/slow", s.public), &[]).await;
    assert_eq!(r.status, 504);
    assert_eq!(r.json()["error"], "gateway_timeout");
    let m = get(&format!("http://{}/metrics", s.admin), &[]).await;
    let text = String::from_utf8_lossy(&m.body);
    assert!(
        text.contains("floodgate_upstream_responses_total{status=\"201\"} 1"),
        "{text}"
    );
    assert!(text.contains("floodgate_upstream_errors_total{kind=\"timeout\"} 1"));
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_dead_upstream_gives_502() {
    // Bind and drop: nothing listens there any more.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let s = start(&format!("{BASE}upstream: http://{dead}\n")).await;
    let r = get(&format!("http://{}/api/v1/data", s.public), &[]).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"], "bad_gateway");
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn shaping_holds_the_request_for_its_delay() {
    let yaml = r#"
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
rules:
  - name: upload
    match: { path: /resource }
    key: ip
    limits:
      - { algorithm: leaky_bucket, mode: shaping, capacity: 1, rate: 4/s }
"#;
    let s = start(yaml).await;
    let url = format!("http://{}/resource", s.public);
    let started = Instant::now();
    assert_eq!(get(&url, &[]).await.status, 200);
    let first = started.elapsed();
    let started = Instant::now();
    assert_eq!(get(&url, &[]).await.status, 200);
    let second = started.elapsed();
    assert!(second >= Duration::from_millis(250), "held {second:?}");
    assert!(
        first < Duration::from_millis(250),
        "first went at once ({first:?})"
    );
    assert_eq!(get(&url, &[]).await.status, 429, "the queue is full");
    s.running.shutdown().await.unwrap();
}
