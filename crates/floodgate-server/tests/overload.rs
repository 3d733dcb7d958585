//! End-to-end: the gateway's load shedding (`overload:`) in front of a real
//! upstream whose answers the test holds and releases.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use common::*;
use floodgate_server::config::Config;
use http::Request;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// An upstream that answers `/hold` only when the test adds permits to
/// `gate`, and counts the requests that reached it.
struct Held {
    addr: SocketAddr,
    gate: Arc<Semaphore>,
    arrived: Arc<AtomicUsize>,
}

async fn held_upstream() -> Held {
    let gate = Arc::new(Semaphore::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let (g, a) = (gate.clone(), arrived.clone());
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let (g, a) = (g.clone(), a.clone());
        async move {
            a.fetch_add(1, Ordering::SeqCst);
            if req.uri().path() == "/hold" {
                g.acquire().await.unwrap().forget();
            }
            "done"
        }
    });
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    Held {
        addr,
        gate,
        arrived,
    }
}

fn config(up: SocketAddr) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
admin: {{ listen: 127.0.0.1:0 }}
upstream: http://{up}
overload: {{ max_in_flight: 2, adaptive: false }}
rules:
  - name: per-ip
    key: ip
    limits:
      - {{ algorithm: fixed_window, limit: 100, window: 1m }}
"#
    )
}

async fn arrived(h: &Held, n: usize) {
    let a = h.arrived.clone();
    assert!(
        wait_until(LOG_DEADLINE, || {
            let a = a.clone();
            async move { a.load(Ordering::SeqCst) >= n }
        })
        .await,
        "{n} requests never reached the upstream"
    );
}

#[tokio::test]
async fn past_the_bound_requests_get_503_at_once_and_consume_no_quota() {
    let up = held_upstream().await;
    let s = start(&config(up.addr)).await;
    let hold = format!("http://{}/hold", s.public);
    let held: Vec<_> = (0..2)
        .map(|_| {
            let u = hold.clone();
            tokio::spawn(async move { get(&u, &[]).await })
        })
        .collect();
    arrived(&up, 2).await;
    assert_eq!(metric(&s, "floodgate_overload_in_flight").await, 2);

    let r = get(&format!("http://{}/other", s.public), &[]).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["error"], "overloaded");
    // The body the docs give, as JSON.
    assert_eq!(
        r.json()["message"],
        "The service is at capacity. Retry after 1 second."
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    // Shed before the rate limiter: no rate-limit headers, no quota used.
    assert_eq!(r.header("x-ratelimit-remaining"), None);
    assert_eq!(metric(&s, "floodgate_overload_shed_total").await, 1);
    assert_eq!(up.arrived.load(Ordering::SeqCst), 2);

    up.gate.add_permits(2);
    for h in held {
        assert_eq!(h.await.unwrap().status, 200);
    }
    let r = get(&format!("http://{}/other", s.public), &[]).await;
    assert_eq!(r.status, 200);
    // Three admitted requests used the quota; the shed one did not.
    assert_eq!(r.header("x-ratelimit-remaining"), Some("97"));
    assert_eq!(metric(&s, "floodgate_overload_limit").await, 2);
}

#[tokio::test]
async fn a_client_that_goes_away_gives_its_slot_back() {
    let up = held_upstream().await;
    let s = start(&config(up.addr)).await;
    let hold = format!("http://{}/hold", s.public);
    let gone = tokio::spawn(async move { get(&hold, &[]).await });
    arrived(&up, 1).await;
    assert_eq!(metric(&s, "floodgate_overload_in_flight").await, 1);
    gone.abort();
    let freed = wait_until(LOG_DEADLINE, || async {
        metric(&s, "floodgate_overload_in_flight").await == 0
    })
    .await;
    assert!(
        freed,
        "the slot of a client that went away was not given back"
    );
    up.gate.add_permits(1);
}

#[tokio::test]
async fn a_slot_is_held_until_the_body_is_sent() {
    // An upstream whose body the test sends: headers first, the body when
    // the test says so.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
    let rx = Arc::new(tokio::sync::Mutex::new(Some(rx)));
    let app = axum::Router::new().fallback(move || {
        let rx = rx.clone();
        async move {
            let rx = rx.lock().await.take().expect("one stream");
            Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        }
    });
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let s = start(&config(up)).await;

    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let uri: http::Uri = format!("http://{}/stream", s.public).parse().unwrap();
    let resp = client.get(uri).await.unwrap();
    assert_eq!(resp.status(), 200);
    // Headers are in, the body is not: the slot is still held.
    assert_eq!(metric(&s, "floodgate_overload_in_flight").await, 1);
    tx.send(Ok(bytes::Bytes::from_static(b"done")))
        .await
        .unwrap();
    drop(tx);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"done");
    let back = wait_until(LOG_DEADLINE, || async {
        metric(&s, "floodgate_overload_in_flight").await == 0
    })
    .await;
    assert!(back, "the slot was not given back once the body was sent");
    assert_eq!(metric(&s, "floodgate_overload_shed_total").await, 0);
}

#[test]
fn overload_needs_an_upstream_and_ranges_are_checked() {
    let e = Config::parse("t.yaml", "overload: { max_in_flight: 10 }\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("t.yaml") && e.contains("overload"), "{e}");
    for (bad, field) in [
        ("{ max_in_flight: 0 }", "max_in_flight"),
        ("{ min_limit: 2000 }", "min_limit"),
        ("{ tolerance: 1.0 }", "tolerance"),
        ("{ shed: true }", "shed"),
    ] {
        let yaml = format!("upstream: http://127.0.0.1:9\noverload: {bad}\n");
        let e = Config::parse("t.yaml", &yaml).unwrap_err().to_string();
        assert!(e.contains(field) && e.contains("t.yaml:2:"), "{bad}: {e}");
    }
}
