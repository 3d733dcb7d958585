//! The layer on a plain tower service: denial is a response, clones share
//! counters, headers are added.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use floodgate_config::parse_policy;
use floodgate_core::{Limiter, ManualClock, MemoryStore, Timestamp};
use floodgate_tower::{LimiterHandle, PeerAddr, RateLimitLayer, TrustedProxies};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{service_fn, Layer, Service, ServiceExt};

const POLICY: &str = r#"
rules:
  - name: per-ip
    key: ip
    limits:
      - { algorithm: token_bucket, capacity: 2, refill: 1/s }
"#;

fn handle(clock: &ManualClock) -> LimiterHandle {
    let policy = parse_policy("inline", POLICY).unwrap();
    let limiter = Limiter::new(Arc::new(policy), Arc::new(MemoryStore::default()));
    LimiterHandle::with_clock(
        Arc::new(limiter),
        TrustedProxies::none(),
        Arc::new(clock.clone()),
        None,
    )
}

fn request(ip: &str) -> Request<Body> {
    let mut r = Request::get("/x").body(Body::empty()).unwrap();
    let addr: SocketAddr = format!("{ip}:4000").parse().unwrap();
    r.extensions_mut().insert(PeerAddr(addr));
    r
}

async fn ok(_req: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::from("fine")))
}

#[tokio::test]
async fn clones_share_counters_and_denial_is_a_response() {
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000_000));
    let layer = RateLimitLayer::new(handle(&clock));
    let a = layer.layer(service_fn(ok));
    let b = a.clone();
    let r = a.clone().oneshot(request("192.0.2.1")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "1");
    let r = b.clone().oneshot(request("192.0.2.1")).await.unwrap();
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let denied = b.clone().oneshot(request("192.0.2.1")).await.unwrap();
    assert_eq!(denied.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(denied.headers()["retry-after"], "1");
    let body = denied.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"], "rate_limit_exceeded");
    assert_eq!(json["retry_after"], 1);
    // Another client is not affected; time refills.
    let mut c = a.clone();
    let r = c
        .ready()
        .await
        .unwrap()
        .call(request("192.0.2.2"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    clock.advance(Duration::from_secs(1));
    let r = a.oneshot(request("192.0.2.1")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_inner_service_is_not_called_on_denial() {
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000_000));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = {
        let calls = calls.clone();
        service_fn(move |_req: Request<Body>| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Body::empty())) }
        })
    };
    let svc = RateLimitLayer::new(handle(&clock)).layer(counted);
    for _ in 0..5 {
        let _ = svc.clone().oneshot(request("198.51.100.1")).await.unwrap();
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}
