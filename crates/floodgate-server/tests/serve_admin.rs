//! End-to-end: the real server on port 0, spoken to over HTTP; its admin
//! listener: the decision API, the admin token and the metrics.

mod common;

use common::*;

#[tokio::test]
async fn decision_api_answers_json_with_headers() {
    let s = start(BASE).await;
    let url = format!("http://{}/v1/check", s.admin);
    let body = r#"{"attributes": {"ip": "2001:db8:1:2::1", "method": "GET", "path": "/api/v1/data"}, "cost": 4}"#;
    let r = send("POST", &url, &[], body).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["allowed"], true);
    assert_eq!(j["rule"], "per-ip");
    assert_eq!(j["remaining"], 1);
    assert_eq!(j["reset"], T0 / 1_000_000 + 60);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("1"));
    // Sent whole, with its length (not chunked).
    assert_eq!(r.header("content-length"), Some(&*r.body.len().to_string()));
    assert_eq!(r.header("transfer-encoding"), None);
    // Another address of the same /64 shares the counter.
    let body = r#"{"attributes": {"ip": "2001:db8:1:2::ffff", "path": "/api/v1/data"}, "cost": 2}"#;
    let r = send("POST", &url, &[], body).await;
    assert_eq!(r.status, 429);
    let j = r.json();
    assert_eq!(j["allowed"], false);
    assert_eq!(j["retry_after"], 60);
    assert_eq!(r.header("retry-after"), Some("60"));
    assert_eq!(r.header("content-length"), Some(&*r.body.len().to_string()));
    // A query string changes nothing; another method is refused as JSON.
    let r = send("POST", &format!("{url}?x=1"), &[], body).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["allowed"], false);
    let r = get(&url, &[]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["error"], "method_not_allowed");
    for (bad, reason) in [
        ("not json", "invalid check request"),
        (r#"{"attributes": {}}"#, "missing field `path`"),
        (
            r#"{"attributes": {"path": "/x"}, "cost": 0}"#,
            "cost must be",
        ),
        (
            r#"{"attributes": {"path": "/x", "ip": "999.1.1.1"}}"#,
            "invalid",
        ),
        (r#"{"attributes": {"path": "x"}}"#, "must start with /"),
        (
            r#"{"attributes": {"path": "/x"}, "extra": 1}"#,
            "unknown field",
        ),
    ] {
        let r = send("POST", &url, &[], bad).await;
        assert_eq!(r.status, 400, "{bad}");
        let j = r.json();
        assert_eq!(j["error"], "bad_request");
        assert!(
            j["message"].as_str().unwrap().contains(reason),
            "{bad}: {j}"
        );
    }
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn admin_token_guards_all_but_health() {
    let yaml = BASE.replace(
        "admin: { listen: 127.0.0.1:0 }",
        // The SHA-256 of `s3cret-s3cret-s3cret`.
        "admin: { listen: 127.0.0.1:0, tokens: [{ name: ops, role: admin, sha256: 4a3057fd3371720d01f5d351fecab0d7948fd22e15a5c2c2b92b0b2696d3eeca }] }",
    );
    let s = start(&yaml).await;
    let m = format!("http://{}/metrics", s.admin);
    assert_eq!(get(&m, &[]).await.status, 401);
    assert_eq!(
        get(&m, &[("authorization", "Bearer wrong")]).await.status,
        401
    );
    assert_eq!(
        get(&m, &[("authorization", "Bearer s3cret-s3cret-s3cret")])
            .await
            .status,
        200
    );
    let check = format!("http://{}/v1/check", s.admin);
    assert_eq!(
        send("POST", &check, &[], r#"{"attributes":{"path":"/"}}"#)
            .await
            .status,
        401
    );
    assert_eq!(
        get(&format!("http://{}/healthz", s.admin), &[])
            .await
            .status,
        200
    );
    assert_eq!(
        get(&format!("http://{}/readyz", s.admin), &[]).await.status,
        200
    );
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn metrics_pass_promtool() {
    let up = upstream().await;
    let s = start(&format!("{BASE}upstream: http://{up}\n")).await;
    for _ in 0..7 {
        get(&format!("http://{}/api/v1/data", s.public), &[]).await;
    }
    let r = get(&format!("http://{}/metrics", s.admin), &[]).await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(text.contains("floodgate_requests_total{rule=\"per-ip\",outcome=\"limited\"} 2"));
    assert!(text.contains("floodgate_decision_duration_seconds_count 7"));
    assert!(text.contains("floodgate_active_keys 1"));
    assert_promtool_accepts(&text);
    s.running.shutdown().await.unwrap();
}
