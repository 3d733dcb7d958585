//! Decisions: a status per descriptor, the overall code, the rate-limit
//! headers, costs, metrics, and admin API changes applied.

use std::time::Duration;

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::google::protobuf::UInt64Value;
use serde_json::json;

use super::common::*;
use super::*;

/// The first call, with one key and one login: both OK, each with its
/// limit, and the headers of the login's limit.
fn assert_first_call(r: &RateLimitResponse) {
    assert_eq!(r.overall_code, Code::Ok as i32);
    assert_eq!(r.statuses.len(), 2);
    let st = &r.statuses[0];
    assert_eq!(st.code, Code::Ok as i32);
    let limit = st.current_limit.as_ref().unwrap();
    assert_eq!(
        (limit.name.as_str(), limit.requests_per_unit, limit.unit),
        ("per-key/minute", 3, Unit::Minute as i32)
    );
    assert_eq!(st.limit_remaining, 2);
    assert_eq!(st.duration_until_reset.as_ref().unwrap().seconds, 60);
    // 2 per 20 s (capacity 2, one every 10 s) is 6 a minute.
    let login_limit = r.statuses[1].current_limit.as_ref().unwrap();
    assert_eq!(
        (login_limit.requests_per_unit, login_limit.unit),
        (6, Unit::Minute as i32)
    );
    assert_eq!(r.statuses[1].limit_remaining, 1);
    // The headers are the speaking limit's: the login's, with 1 left.
    assert_eq!(header(r, "X-RateLimit-Remaining"), Some("1"));
    // One token comes back in 10 s, and the bucket is full again.
    assert_eq!(header(r, "RateLimit"), Some("\"burst\";r=1;t=10"));
    assert_eq!(header(r, "RateLimit-Policy"), Some("\"burst\";q=2;w=20"));
    assert_eq!(header(r, "Retry-After"), None);
}

#[tokio::test]
async fn descriptors_get_statuses_headers_and_all_or_nothing() {
    let s = start(CONFIG).await;
    let mut c = client(&s).await;
    let key = || descriptor(&[("api_key", "k1")]);
    let login = || descriptor(&[("remote_address", "10.0.0.1"), ("path", "/login")]);

    let r = ask(&mut c, request("edge", vec![key(), login()])).await;
    assert_first_call(&r);

    ask(&mut c, request("edge", vec![key(), login()])).await;
    // The login is spent: the call is OVER_LIMIT, the key's status OK, and
    // the key's counter untouched (all or nothing).
    let r = ask(&mut c, request("edge", vec![key(), login()])).await;
    assert_eq!(r.overall_code, Code::OverLimit as i32);
    assert_eq!(r.statuses[0].code, Code::Ok as i32);
    assert_eq!(r.statuses[1].code, Code::OverLimit as i32);
    assert_eq!(header(&r, "Retry-After"), Some("10"));
    let r = ask(&mut c, request("edge", vec![key()])).await;
    assert_eq!(r.statuses[0].limit_remaining, 0);
    assert_eq!(r.overall_code, Code::Ok as i32);

    // Time passes on the server's clock: the login refills one.
    s.clock.advance(Duration::from_secs(10));
    let r = ask(&mut c, request("edge", vec![login()])).await;
    assert_eq!(r.overall_code, Code::Ok as i32);

    // No rule: OK with no limit; another domain; an HTTP rule never
    // matches a descriptor.
    for (domain, d) in [
        ("edge", descriptor(&[("nothing", "x")])),
        ("other", descriptor(&[("api_key", "k1")])),
        ("edge", descriptor(&[("path", "/api/x")])),
    ] {
        let r = ask(&mut c, request(domain, vec![d])).await;
        assert_eq!(r.overall_code, Code::Ok as i32);
        assert!(r.statuses[0].current_limit.is_none());
        assert!(r.response_headers_to_add.is_empty());
    }

    // Costs: hits_addend of the request, and of a descriptor (which wins).
    let mut big = request("edge", vec![descriptor(&[("api_key", "k2")])]);
    big.hits_addend = 3;
    assert_eq!(
        ask(&mut c, big.clone()).await.statuses[0].limit_remaining,
        0
    );
    let mut d = descriptor(&[("api_key", "k3")]);
    d.hits_addend = Some(UInt64Value { value: 2 });
    let mut r = request("edge", vec![d]);
    r.hits_addend = 3;
    assert_eq!(ask(&mut c, r).await.statuses[0].limit_remaining, 1);

    // Metrics by rule and outcome, shadow rules counted.
    let m = get(&format!("http://{}/metrics", s.admin), &[]).await;
    let text = String::from_utf8_lossy(&m.body);
    for line in [
        "floodgate_requests_total{rule=\"login\",outcome=\"limited\"} 1",
        "floodgate_requests_total{rule=\"login-watch\",outcome=\"shadow_limited\"}",
        "floodgate_decisions_total{outcome=\"limited\"} 1",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
}

#[tokio::test]
async fn admin_api_changes_apply_to_grpc_decisions() {
    let s = start(CONFIG).await;
    let mut c = client(&s).await;
    let key = || request("edge", vec![descriptor(&[("api_key", "k9")])]);
    for _ in 0..3 {
        assert_eq!(ask(&mut c, key()).await.overall_code, Code::Ok as i32);
    }
    assert_eq!(
        ask(&mut c, key()).await.overall_code,
        Code::OverLimit as i32
    );
    // An override for this descriptor's identity lifts its limit.
    let admin = format!("http://{}", s.admin);
    let doc = get(&format!("{admin}/v1/policy"), &[]).await;
    let etag = doc.header("etag").unwrap().to_string();
    let mut doc = doc.json();
    doc["overrides"] = json!([{
        "rule": "per-key",
        "identity": "d:api_key=k9",
        "limits": [{ "algorithm": "fixed_window", "limit": 10, "window": "1m" }]
    }]);
    let r = send(
        "PUT",
        &format!("{admin}/v1/policy"),
        &[("if-match", &etag)],
        doc.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = ask(&mut c, key()).await;
    assert_eq!(r.overall_code, Code::Ok as i32);
    assert_eq!(
        r.statuses[0]
            .current_limit
            .as_ref()
            .unwrap()
            .requests_per_unit,
        10
    );
}
