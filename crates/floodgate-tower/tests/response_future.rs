//! The response future answers a request that may not go on itself, with
//! bodies and headers clients rely on (byte for byte), and never calls the
//! inner service for it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use floodgate_config::parse_policy;
use floodgate_core::store::BoxFuture;
use floodgate_core::{
    Decision, LimitCheck, Limiter, ManualClock, MemoryStore, Store, StoreError, Timestamp,
};
use floodgate_tower::{LimiterHandle, PeerAddr, RateLimitLayer, ResponseFuture, TrustedProxies};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{service_fn, Layer, Service, ServiceExt};

const POLICY: &str = r#"
rules:
  - name: per-ip
    key: ip
    limits:
      - { name: burst, algorithm: token_bucket, capacity: 2, refill: 1/s }
"#;

/// Decided at 1000 s after the epoch.
const START: u64 = 1_000_000_000;

/// A store that cannot decide.
struct Down;

impl Store for Down {
    fn check<'a>(
        &'a self,
        _checks: &'a [LimitCheck],
        _now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        Box::pin(async { Err(StoreError::transient("connection refused")) })
    }
}

fn handle(yaml: &str, store: Arc<dyn Store>, clock: &ManualClock) -> LimiterHandle {
    let policy = parse_policy("inline", yaml).unwrap();
    LimiterHandle::with_clock(
        Arc::new(Limiter::new(Arc::new(policy), store)),
        TrustedProxies::none(),
        Arc::new(clock.clone()),
        None,
    )
}

fn request() -> Request<Body> {
    let mut r = Request::get("/x").body(Body::empty()).unwrap();
    let addr: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    r.extensions_mut().insert(PeerAddr(addr));
    r
}

/// A service counting its calls.
fn counted(
    calls: &Arc<AtomicUsize>,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
       + Clone
       + Send
       + 'static {
    let calls = calls.clone();
    service_fn(move |_req: Request<Body>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(Body::from("fine"))) }
    })
}

async fn body<B>(r: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_denial_is_a_429_with_json_body_and_headers() {
    let clock = ManualClock::new(Timestamp::from_micros(START));
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = RateLimitLayer::new(handle(POLICY, Arc::new(MemoryStore::default()), &clock));
    let mut svc = layer.layer(counted(&calls));
    for _ in 0..2 {
        let r = svc.ready().await.unwrap().call(request()).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let future: ResponseFuture<_, Body> = svc.ready().await.unwrap().call(request());
    let denied = future.await.unwrap();

    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "inner not called on denial"
    );
    assert_eq!(denied.status(), StatusCode::TOO_MANY_REQUESTS);
    let h = denied.headers();
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["retry-after"], "1");
    assert_eq!(h["x-ratelimit-limit"], "2");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    // The bucket is full again 2 s after the decision (at 1000 s).
    assert_eq!(h["x-ratelimit-reset"], "1002");
    assert_eq!(h["ratelimit"], r#""burst";r=0;t=2"#);
    assert!(h["ratelimit-policy"]
        .to_str()
        .unwrap()
        .starts_with(r#""burst";q=2;w="#));
    assert_eq!(
        body(denied).await,
        r#"{"error":"rate_limit_exceeded","message":"Too many requests. Retry after 1 seconds.","retry_after":1}"#
    );

    // Time, not sleep: a second later the request goes through.
    clock.advance(Duration::from_secs(1));
    let r = svc.ready().await.unwrap().call(request()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await, "fine");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_missing_api_key_is_a_401() {
    let clock = ManualClock::new(Timestamp::from_micros(START));
    let calls = Arc::new(AtomicUsize::new(0));
    let yaml = format!("{POLICY}identity: {{ require_api_key: true }}\n");
    let handle = handle(&yaml, Arc::new(MemoryStore::default()), &clock);
    let svc = RateLimitLayer::new(handle).layer(counted(&calls));
    let r = svc.oneshot(request()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        body(r).await,
        r#"{"error":"unauthorized","message":"an API key is required"}"#
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_store_failure_is_a_503() {
    let clock = ManualClock::new(Timestamp::from_micros(START));
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = RateLimitLayer::new(handle(POLICY, Arc::new(Down), &clock)).layer(counted(&calls));
    let r = svc.oneshot(request()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        body(r).await,
        r#"{"error":"rate_limiter_unavailable","message":"The rate limiter cannot decide right now. Try again shortly."}"#
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_shaped_request_is_held_then_goes_on_with_headers() {
    const SHAPING: &str = r#"
rules:
  - name: paced
    key: ip
    limits:
      - { name: pace, algorithm: leaky_bucket, capacity: 2, rate: 1/s, mode: shaping }
"#;
    let clock = ManualClock::new(Timestamp::from_micros(START));
    let calls = Arc::new(AtomicUsize::new(0));
    let handle = handle(SHAPING, Arc::new(MemoryStore::default()), &clock);
    let mut svc = RateLimitLayer::new(handle).layer(counted(&calls));
    let started = tokio::time::Instant::now();
    let first = svc.ready().await.unwrap().call(request()).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_millis(1));
    // The second is queued behind the first: held about a second (tokio's
    // paused clock moves on by itself), then served and decorated.
    let second = svc.ready().await.unwrap().call(request()).await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(second.headers().contains_key("x-ratelimit-remaining"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
