//! The 429's body through the layer: compact by default, and with the
//! policy's `errors` (details, URLs, a message template), the tier's and the
//! rule's, the rule's winning. The same body the gateway and the decision
//! API give (docs/schemas/rate-limit-exceeded.schema.json).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use floodgate_config::parse_policy;
use floodgate_core::{Limiter, ManualClock, MemoryStore, Timestamp};
use floodgate_tower::{LimiterHandle, PeerAddr, RateLimitLayer, TrustedProxies};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::{service_fn, Layer, ServiceExt};

/// On the hour: a window of 1 h starts now.
const T0: u64 = 1_699_999_200_000_000;

async fn denied_body(policy: &str, path: &str, api_key: Option<&str>) -> Value {
    let clock = ManualClock::new(Timestamp::from_micros(T0));
    let limiter = Limiter::new(
        Arc::new(parse_policy("inline", policy).unwrap()),
        Arc::new(MemoryStore::default()),
    );
    let handle = LimiterHandle::with_clock(
        Arc::new(limiter),
        TrustedProxies::none(),
        Arc::new(clock),
        None,
    );
    let svc = RateLimitLayer::new(handle).layer(service_fn(|_r: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Body::from("fine")))
    }));
    for _ in 0..5 {
        let mut r = Request::get(path).body(Body::empty()).unwrap();
        if let Some(k) = api_key {
            r.headers_mut().insert("x-api-key", k.parse().unwrap());
        }
        let addr: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        r.extensions_mut().insert(PeerAddr(addr));
        let resp = svc.clone().oneshot(r).await.unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            let b = resp.into_body().collect().await.unwrap().to_bytes();
            return serde_json::from_slice(&b).unwrap();
        }
    }
    panic!("never denied");
}

const LIMITS: &str =
    "    limits: [{ name: hourly, algorithm: fixed_window, limit: 1, window: 1h }]\n";

#[tokio::test]
async fn the_default_body_stays_compact() {
    let policy = format!("rules:\n  - name: api\n{LIMITS}");
    let b = denied_body(&policy, "/x", None).await;
    assert_eq!(
        b,
        json!({"error": "rate_limit_exceeded", "message": "Too many requests. Retry after 3600 seconds.", "retry_after": 3600})
    );
}

#[tokio::test]
async fn errors_add_a_code_details_urls_and_the_rule_s_message() {
    let policy = format!(
        "tiers: [free, pro]\ndefault_tier: free\nclients: [{{ api_key: pro-client-key-0001, tier: pro }}]\nerrors:\n  details: true\n  documentation_url: https://docs.example.com/limits\n  tiers:\n    free: {{ upgrade_url: https://example.com/upgrade, message: \"Free plan: {{limit}} per {{window}}. Upgrade for more.\" }}\nrules:\n  - name: api\n    match: {{ path: /x }}\n    key: api_key\n{LIMITS}  - name: search\n    match: {{ path: /search }}\n    key: api_key\n    error: {{ message: \"Search: {{remaining}} left, again in {{retry_after}} s ({{tier}}, {{rule}}/{{limit_name}})\" }}\n    limits: [{{ algorithm: token_bucket, capacity: 2, refill: 1/s }}]\n"
    );
    // The free tier's message and upgrade URL, the policy's documentation.
    let b = denied_body(&policy, "/x", None).await;
    assert_eq!(b["code"], "rate_limit_exceeded");
    assert_eq!(b["message"], "Free plan: 1 per 1h. Upgrade for more.");
    assert_eq!(b["upgrade_url"], "https://example.com/upgrade");
    assert_eq!(b["documentation_url"], "https://docs.example.com/limits");
    assert_eq!(b["tier"], "free");
    assert_eq!(
        (b["rule"].as_str(), b["limit_name"].as_str()),
        (Some("api"), Some("hourly"))
    );
    assert_eq!(
        b["details"],
        json!({"limit": 1, "window": 3600, "remaining": 0, "retry_after": 3600, "reset_at": T0 / 1_000_000 + 3600})
    );
    // A pro client: no upgrade URL (the free tier's), the rule's message.
    let b = denied_body(&policy, "/search", Some("pro-client-key-0001")).await;
    assert_eq!(b["tier"], "pro");
    assert_eq!(b.get("upgrade_url"), None, "{b}");
    assert_eq!(
        b["message"],
        "Search: 0 left, again in 1 s (pro, search/search)"
    );
    assert_eq!(b["details"]["rate"], "1/1s");
    assert_eq!(b["details"].get("window"), None);
}
