//! Concurrency slots in the layer: a request holds its slot until its
//! response body has been sent in full, or dropped, or until the inner
//! service fails; a denial says it was a concurrency limit.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use floodgate_config::parse_policy;
use floodgate_core::{Limiter, ManualClock, MemoryStore, Timestamp};
use floodgate_tower::{LimiterHandle, PeerAddr, RateLimitLayer, TrustedProxies};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::mpsc;
use tower::{service_fn, Layer, Service, ServiceExt};

const POLICY: &str = r#"
rules:
  - name: api
    key: ip
    limits:
      - { name: slots, algorithm: concurrency, limit: 1, lease: 30s }
"#;

fn request(path: &str) -> Request<Body> {
    let mut r = Request::get(path).body(Body::empty()).unwrap();
    let addr: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    r.extensions_mut().insert(PeerAddr(addr));
    r
}

/// `/stream` answers a body that ends when the test says so (its sender
/// is handed out on `senders`); `/fail` fails; anything else answers
/// `done`.
fn inner(
    senders: mpsc::UnboundedSender<mpsc::Sender<Result<Bytes, Infallible>>>,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = &'static str, Future: Send>
       + Clone
       + Send
       + 'static {
    service_fn(move |req: Request<Body>| {
        let senders = senders.clone();
        async move {
            match req.uri().path() {
                "/stream" => {
                    let (tx, rx) = mpsc::channel(4);
                    senders.send(tx).unwrap();
                    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
                    Ok(Response::new(Body::from_stream(stream)))
                }
                "/fail" => Err("the inner service failed"),
                _ => Ok(Response::new(Body::from("done"))),
            }
        }
    })
}

/// One request through `svc`.
async fn send<S>(svc: &mut S, path: &str) -> Result<S::Response, S::Error>
where
    S: Service<Request<Body>>,
{
    svc.ready().await?.call(request(path)).await
}

#[tokio::test]
async fn a_slot_is_held_until_the_body_ends_or_is_dropped() {
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000_000));
    let policy = parse_policy("inline", POLICY).unwrap();
    let store = Arc::new(MemoryStore::default());
    let limiter = Arc::new(Limiter::new(Arc::new(policy), store));
    let handle = LimiterHandle::with_clock(limiter, TrustedProxies::none(), Arc::new(clock), None);
    let (tx, mut senders) = mpsc::unbounded_channel();
    let mut svc = RateLimitLayer::new(handle).layer(inner(tx));
    let status = |r: Result<Response<_>, &str>| r.unwrap().status();

    // Headers sent, body still coming: the slot is held.
    let streaming = send(&mut svc, "/stream").await.unwrap();
    assert!(streaming.body().holds_slots());
    let sender = senders.recv().await.unwrap();
    let denied = send(&mut svc, "/x").await.unwrap();
    assert_eq!(denied.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = denied.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["algorithm"], "concurrency");
    assert_eq!(json["limit"], 1);
    assert_eq!(json["retry_after"], 1);

    // The body ends: the slot is back.
    sender.send(Ok(Bytes::from_static(b"last"))).await.unwrap();
    drop(sender);
    let got = streaming.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&got[..], b"last");
    assert_eq!(status(send(&mut svc, "/x").await), StatusCode::OK);

    // A body dropped unsent (the client went away) gives it back too.
    let streaming = send(&mut svc, "/stream").await.unwrap();
    let _sender = senders.recv().await.unwrap();
    assert_eq!(
        status(send(&mut svc, "/x").await),
        StatusCode::TOO_MANY_REQUESTS
    );
    drop(streaming);
    assert_eq!(status(send(&mut svc, "/x").await), StatusCode::OK);

    // So does an inner service that fails.
    let failed = send(&mut svc, "/fail").await;
    assert_eq!(failed.unwrap_err(), "the inner service failed");
    assert_eq!(status(send(&mut svc, "/x").await), StatusCode::OK);
}
