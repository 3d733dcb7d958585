//! Soft limits on a plain tower service: past the soft share the inner
//! service finds the `Degraded` marker in the request's extensions, and the
//! response says so; a client cannot set the marker itself.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use floodgate_config::parse_policy;
use floodgate_core::{Limiter, ManualClock, MemoryStore, Timestamp};
use floodgate_tower::{Degraded, LimiterHandle, PeerAddr, RateLimitLayer, TrustedProxies};
use http::{Request, Response};
use tower::{service_fn, Layer, ServiceExt};

const POLICY: &str = r#"
rules:
  - name: api
    key: ip
    limits:
      - { name: minute, algorithm: fixed_window, limit: 5, window: 1m, soft: 60% }
"#;

/// Answers with what it was told: the marker's limits, or `normal`.
async fn echo_marker(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let seen = match req.extensions().get::<Degraded>() {
        Some(d) => {
            d.0.iter()
                .map(|(r, l)| format!("{r}/{l}"))
                .collect::<Vec<_>>()
                .join(",")
        }
        None => "normal".into(),
    };
    let header = req
        .headers()
        .get("floodgate-degraded")
        .map(|v| v.to_str().unwrap().to_string());
    Ok(Response::new(Body::from(format!("{seen};{header:?}"))))
}

#[tokio::test]
async fn past_the_soft_share_the_inner_service_is_told() {
    let clock = ManualClock::new(Timestamp::from_micros(1_764_028_800_000_000));
    let policy = parse_policy("inline", POLICY).unwrap();
    let limiter = Limiter::new(Arc::new(policy), Arc::new(MemoryStore::default()));
    let handle = LimiterHandle::with_clock(
        Arc::new(limiter),
        TrustedProxies::none(),
        Arc::new(clock),
        None,
    );
    let svc = RateLimitLayer::new(handle).layer(service_fn(echo_marker));
    let mut seen = Vec::new();
    for _ in 0..6 {
        let mut req = Request::get("/x")
            .header("floodgate-degraded", "forged/by-client")
            .body(Body::empty())
            .unwrap();
        let addr: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        req.extensions_mut().insert(PeerAddr(addr));
        let resp = svc.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let marked = resp
            .headers()
            .get("floodgate-degraded")
            .map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), 1024)
            .await
            .unwrap();
        seen.push((status, marked, String::from_utf8(body.to_vec()).unwrap()));
    }
    // 60% of 5 is 3: the 4th and 5th requests are past it, the 6th denied.
    // The client's own header never reaches the service.
    let normal = (200, None, "normal;None".to_string());
    let degraded = (
        200,
        Some("api/minute".to_string()),
        "api/minute;Some(\"api/minute\")".to_string(),
    );
    assert_eq!(seen[..3], [normal.clone(), normal.clone(), normal]);
    assert_eq!(seen[3..5], [degraded.clone(), degraded]);
    assert_eq!(seen[5].0, 429);
    assert_eq!(seen[5].1, None);
}
