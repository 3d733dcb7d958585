//! End-to-end: `floodgate_tower::retry::RetryPolicy` on a real HTTP client
//! against the real server. The policy's timer advances the server's
//! manual clock, so "waiting" is exact and instant.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::*;
use floodgate_core::{Clock, ManualClock};
use floodgate_tower::retry::{RetryPolicy, Sleeper, WaitFuture};
use http::Request;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};

/// Waits by moving the server's clock, and records every wait.
#[derive(Clone)]
struct ServerTime {
    clock: ManualClock,
    waits: Arc<Mutex<Vec<Duration>>>,
}

impl Sleeper for ServerTime {
    fn sleep(&self, d: Duration) -> WaitFuture {
        self.waits.lock().unwrap().push(d);
        self.clock.advance(d);
        Box::pin(std::future::ready(()))
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_micros(self.clock.now().0)
    }
}

fn request(url: &str) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::new(Bytes::new())).unwrap()
}

/// Five requests a minute per IP: the sixth is told to come back when the
/// window ends.
async fn exhausted() -> (Server, String, ServerTime) {
    let s = start(BASE).await;
    let url = format!("http://{}/api/v1/data", s.public);
    for _ in 0..5 {
        assert_eq!(get(&url, &[]).await.status, 200);
    }
    s.clock.advance(Duration::from_secs(20));
    let time = ServerTime {
        clock: s.clock.clone(),
        waits: Arc::default(),
    };
    (s, url, time)
}

#[tokio::test]
async fn a_client_told_to_wait_waits_at_least_retry_after_then_succeeds() {
    let (_s, url, time) = exhausted().await;
    // What a plain client is told.
    let told = get(&url, &[]).await;
    assert_eq!(told.status, 429);
    let retry_after: u64 = told.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(retry_after, 40);

    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut client = ServiceBuilder::new()
        .layer(RetryPolicy::new().with_sleeper(time.clone()).layer())
        .service(http);
    let resp = client.ready().await.unwrap().call(request(&url)).await;
    let resp = resp.unwrap();
    assert_eq!(resp.status(), 200);
    let waits = time.waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(waits[0] >= Duration::from_secs(retry_after), "{waits:?}");
}

#[tokio::test]
async fn retries_stop_at_the_cap_and_the_429_is_returned() {
    let (_s, url, time) = exhausted().await;
    // A timer that records but lets no time pass: every retry is refused.
    #[derive(Clone)]
    struct Frozen(ServerTime);
    impl Sleeper for Frozen {
        fn sleep(&self, d: Duration) -> WaitFuture {
            self.0.waits.lock().unwrap().push(d);
            Box::pin(std::future::ready(()))
        }
        fn now(&self) -> SystemTime {
            self.0.now()
        }
    }
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let policy = RetryPolicy::new()
        .max_retries(2)
        .with_sleeper(Frozen(time.clone()));
    let mut client = ServiceBuilder::new().layer(policy.layer()).service(http);
    let resp = client.ready().await.unwrap().call(request(&url)).await;
    assert_eq!(resp.unwrap().status(), 429);
    assert_eq!(time.waits.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_wait_longer_than_max_wait_returns_the_429_at_once() {
    let (_s, url, time) = exhausted().await;
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let policy = RetryPolicy::new()
        .max_wait(Duration::from_secs(10))
        .with_sleeper(time.clone());
    let mut client = ServiceBuilder::new().layer(policy.layer()).service(http);
    let resp = client.ready().await.unwrap().call(request(&url)).await;
    assert_eq!(resp.unwrap().status(), 429);
    assert!(time.waits.lock().unwrap().is_empty());
}
