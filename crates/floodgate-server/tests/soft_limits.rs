//! End-to-end: soft limits (`soft: 80%`). Past the soft share requests are
//! still allowed, but the upstream sees `Floodgate-Degraded` (a recording
//! upstream echoes what it received), the response carries it, the
//! decision API lists it and the metrics count it.

mod common;

use common::*;
use floodgate_server::config::Config;

fn config(up: std::net::SocketAddr) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
admin: {{ listen: 127.0.0.1:0 }}
upstream: http://{up}
rules:
  - name: api
    key: ip
    limits:
      - {{ name: minute, algorithm: fixed_window, limit: 10, window: 1m, soft: 80% }}
      - {{ name: burst, algorithm: token_bucket, capacity: 100, refill: 100/s }}
"#
    )
}

#[tokio::test]
async fn the_upstream_sees_the_header_exactly_past_the_soft_share() {
    let up = upstream().await;
    let s = start(&config(up)).await;
    let url = format!("http://{}/work", s.public);
    let mut upstream_saw = Vec::new();
    for i in 1..=10 {
        // A client's own header is never passed on, and naming it in
        // `Connection` does not hide Floodgate's.
        let r = get(
            &url,
            &[
                ("floodgate-degraded", "forged/by-client"),
                ("connection", "keep-alive, floodgate-degraded"),
            ],
        )
        .await;
        assert_eq!(r.status, 201, "request {i}");
        let echoed = r.json()["headers"]["floodgate-degraded"]
            .as_str()
            .map(String::from);
        assert_eq!(
            r.header("floodgate-degraded"),
            echoed.as_deref(),
            "request {i}"
        );
        upstream_saw.push(echoed);
    }
    // 80% of 10 is 8: requests 9 and 10 go past it.
    let marked = Some("api/minute".to_string());
    assert_eq!(upstream_saw[..8], vec![None; 8][..]);
    assert_eq!(upstream_saw[8..], [marked.clone(), marked][..]);
    let r = get(&url, &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("floodgate-degraded"), None);
    assert_eq!(
        metric(
            &s,
            r#"floodgate_soft_limited_total{rule="api",limit="minute"}"#
        )
        .await,
        2
    );
}

#[tokio::test]
async fn the_decision_api_lists_degraded_limits() {
    let up = upstream().await;
    let s = start(&config(up)).await;
    let url = format!("http://{}/v1/check", s.admin);
    let body = r#"{"attributes": {"ip": "192.0.2.9", "path": "/x"}, "cost": 8}"#;
    let j = send("POST", &url, &[], body).await.json();
    assert_eq!(j["allowed"], true);
    assert_eq!(j["degraded"], serde_json::json!([]));
    let body = r#"{"attributes": {"ip": "192.0.2.9", "path": "/x"}}"#;
    let j = send("POST", &url, &[], body).await.json();
    assert_eq!(j["allowed"], true);
    assert_eq!(j["degraded"], serde_json::json!(["api/minute"]));
}

#[test]
fn bad_soft_shares_are_refused_with_their_place() {
    for bad in ["80", "100%", "0%", "eighty%", "8.25%"] {
        let yaml = format!(
            "rules:\n  - name: r\n    limits:\n      - {{ algorithm: gcra, rate: 1/s, burst: 10, soft: {bad} }}\n"
        );
        let e = Config::parse("t.yaml", &yaml).unwrap_err().to_string();
        assert!(
            e.starts_with("t.yaml:4:") && e.contains("soft"),
            "{bad}: {e}"
        );
    }
    // A share that leaves no request before it (GCRA's burst of 1).
    let yaml =
        "rules:\n  - name: r\n    limits:\n      - { algorithm: gcra, rate: 1/s, soft: 80% }\n";
    let e = Config::parse("t.yaml", yaml).unwrap_err().to_string();
    assert!(e.contains("soft") && e.contains("leaves no request"), "{e}");
    let ok = "rules:\n  - name: r\n    limits:\n      - { algorithm: gcra, rate: 1/s, burst: 5, soft: 20% }\n";
    assert!(Config::parse("t.yaml", ok).is_ok());
}
