//! Concurrency limits end to end: through the gateway to a slow upstream,
//! on a real Redis shared by two replicas (N slots, never N + 1, under 64
//! concurrent requests); a client that goes away mid-response gives its
//! slot back; a replica killed with SIGKILL while holding slots loses them
//! when their lease ends; and the decision API's acquire, release and
//! renew. Waits poll with a deadline; nothing sleeps to let time pass.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use common::*;
use floodgate_testkit::redis::RedisServer;
use http::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

const DEADLINE: Duration = Duration::from_secs(15);

/// An upstream whose `/hold` answers only once released, counting the
/// requests it holds (now and at most); `/stream` sends a chunk every
/// 50 ms for as long as someone reads; anything else answers at once.
struct Upstream {
    addr: SocketAddr,
    holding: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    release: Arc<Semaphore>,
}

async fn upstream() -> Upstream {
    let holding = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Semaphore::new(0));
    let (h, m, r) = (holding.clone(), most.clone(), release.clone());
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let (h, m, r) = (h.clone(), m.clone(), r.clone());
        async move {
            match req.uri().path() {
                "/hold" => {
                    let now = h.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    r.acquire().await.unwrap().forget();
                    h.fetch_sub(1, Ordering::SeqCst);
                    http::Response::new(Body::from("done"))
                }
                "/stream" => {
                    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
                    tokio::spawn(async move {
                        while tx.send(Ok(Bytes::from_static(b"chunk\n"))).await.is_ok() {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    });
                    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
                    http::Response::new(Body::from_stream(stream))
                }
                _ => http::Response::new(Body::from("quick")),
            }
        }
    });
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    Upstream {
        addr,
        holding,
        most,
        release,
    }
}

fn config(up: SocketAddr, limit: u64, lease: &str, store: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nupstream: http://{up}\nlog: {{ format: json }}\nrules:\n  - name: api\n    key: global\n    limits:\n      - {{ name: rate, algorithm: token_bucket, capacity: 10000, refill: 1000/s }}\n      - {{ name: slots, algorithm: concurrency, limit: {limit}, lease: {lease} }}\n{store}"
    )
}

/// Never decided locally (a slow call fails closed): every decision is
/// the shared store's.
fn redis_store(redis: &RedisServer) -> String {
    format!(
        "store:\n  kind: redis\n  url: {}\n  timeout: 2s\n  on_failure: fail_closed\n",
        redis.url()
    )
}

/// The sum of a family's samples on `s`'s `/metrics`.
async fn family_sum(s: &Server, name: &str) -> f64 {
    let text = get(&format!("http://{}/metrics", s.admin), &[]).await;
    String::from_utf8_lossy(&text.body)
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_redis_admit_exactly_n_of_64_slow_requests() {
    const N: usize = 5;
    const REQUESTS: usize = 64;
    let redis = RedisServer::start();
    let up = upstream().await;
    let yaml = config(up.addr, N as u64, "30s", &redis_store(&redis));
    let replicas = [start(&yaml).await, start(&yaml).await];
    let urls: Vec<String> = replicas
        .iter()
        .map(|s| format!("http://{}/hold", s.public))
        .collect();
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let url = urls[i % 2].clone();
            tokio::spawn(async move { get(&url, &[]).await })
        })
        .collect();
    // The denied come back at once; the admitted wait at the upstream.
    let settled = wait_until(DEADLINE, || async {
        tasks.iter().filter(|t| t.is_finished()).count() == REQUESTS - N
            && up.holding.load(Ordering::SeqCst) == N
    })
    .await;
    assert!(
        settled,
        "{} answered, {} held",
        tasks.iter().filter(|t| t.is_finished()).count(),
        up.holding.load(Ordering::SeqCst)
    );
    assert_eq!(up.most.load(Ordering::SeqCst), N, "never N + 1 in flight");
    let in_flight = family_sum(&replicas[0], "floodgate_concurrency_in_flight").await
        + family_sum(&replicas[1], "floodgate_concurrency_in_flight").await;
    assert_eq!(in_flight, N as f64);
    up.release.add_permits(REQUESTS);
    let mut statuses = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 429 {
            let body = r.json();
            assert_eq!(body["algorithm"], "concurrency", "{body}");
            assert_eq!(body["limit"], N as u64);
            assert_eq!(body["error"], "rate_limit_exceeded");
            assert_eq!(r.header("x-ratelimit-limit"), Some("5"));
            assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
            assert_eq!(r.header("retry-after"), Some("1"));
        }
        statuses.push(r.status.as_u16());
    }
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), N);
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), REQUESTS - N);
    assert_eq!(up.most.load(Ordering::SeqCst), N);

    // Every body sent: the slots are back, on both replicas.
    let back = wait_until(DEADLINE, || async {
        family_sum(&replicas[0], "floodgate_concurrency_in_flight").await
            + family_sum(&replicas[1], "floodgate_concurrency_in_flight").await
            == 0.0
    })
    .await;
    assert!(back, "slots still counted in flight");
    let quick = format!("http://{}/quick", replicas[1].public);
    let free = wait_until(DEADLINE, || async { get(&quick, &[]).await.status == 200 }).await;
    assert!(free);
    let acquired = family_sum(&replicas[0], "floodgate_concurrency_acquired_total").await
        + family_sum(&replicas[1], "floodgate_concurrency_acquired_total").await;
    let denied = family_sum(&replicas[0], "floodgate_concurrency_denied_total").await
        + family_sum(&replicas[1], "floodgate_concurrency_denied_total").await;
    assert!(acquired >= (N + 1) as f64, "{acquired}");
    assert_eq!(denied, (REQUESTS - N) as f64);
    // A denied request took no token of the rate limit beside: 5 held,
    // then the quick ones.
    for s in replicas {
        s.running.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_mid_response_gives_its_slot_back() {
    let up = upstream().await;
    let s = start(&config(up.addr, 1, "30s", "")).await;
    let mut conn = TcpStream::connect(s.public).await.unwrap();
    conn.write_all(b"GET /stream HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("chunk") {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the first chunk");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
    // Mid-response, the one slot is held.
    let quick = format!("http://{}/quick", s.public);
    let r = get(&quick, &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["algorithm"], "concurrency");
    drop(conn);
    let free = wait_until(DEADLINE, || async { get(&quick, &[]).await.status == 200 }).await;
    assert!(free, "the slot never came back after the client left");
    assert_eq!(family_sum(&s, "floodgate_concurrency_in_flight").await, 0.0);
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_fails_gives_the_slot_back() {
    // Nothing listens there: 502.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = dead.local_addr().unwrap();
    drop(dead);
    let s = start(&config(addr, 1, "30s", "")).await;
    let url = format!("http://{}/quick", s.public);
    // Each 502 gives the slot back (the next request may race the
    // release: it is polled for).
    for _ in 0..3 {
        let failed = wait_until(DEADLINE, || async { get(&url, &[]).await.status == 502 }).await;
        assert!(failed, "the slot of a failed request never came back");
    }
    assert_eq!(
        family_sum(&s, "floodgate_concurrency_denied_total").await,
        0.0
    );
    s.running.shutdown().await.unwrap();
}

/// Starts `serve --watch off` on `path`, its stderr piped.
fn serve(path: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args([
            "serve",
            "--watch",
            "off",
            "--config",
            path.to_str().unwrap(),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Sends `n` GETs to `url` in the background, never waiting for them.
fn send_in_background(url: &str, n: usize) {
    for _ in 0..n {
        let url = url.to_string();
        tokio::spawn(async move {
            let client: hyper_util::client::legacy::Client<_, http_body_util::Full<Bytes>> =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http();
            let _ = client
                .request(Request::get(&url).body(Default::default()).unwrap())
                .await;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_holding_slots_loses_them_when_their_lease_ends() {
    let redis = RedisServer::start();
    let up = upstream().await;
    let yaml = config(up.addr, 2, "1s", &redis_store(&redis));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let mut child = serve(&path);
    let public = listening_on(child.stderr.take().unwrap());

    // Two slow requests through the process hold both slots...
    send_in_background(&format!("http://{public}/hold"), 2);
    let held = wait_until(DEADLINE, || async {
        up.holding.load(Ordering::SeqCst) == 2
    })
    .await;
    assert!(held);
    // ...for longer than their lease: the process renews them.
    let other = start(&yaml).await;
    let quick = format!("http://{}/quick", other.public);
    let renewed = wait_until(DEADLINE, || async {
        let r = get(&quick, &[]).await;
        assert_eq!(
            r.status, 429,
            "a slot came free while its holder renewed it"
        );
        family_sum(&other, "floodgate_concurrency_denied_total").await >= 3.0
    });
    assert!(renewed.await);

    child.kill().unwrap(); // SIGKILL: nothing released, nothing renewed.
    child.wait().unwrap();
    let free = wait_until(DEADLINE, || async { get(&quick, &[]).await.status == 200 }).await;
    assert!(free, "the dead replica's slots never came back");
    // Both of them.
    let hold = format!("http://{}/hold", other.public);
    let (a, b) = (hold.clone(), hold.clone());
    let first = tokio::spawn(async move { get(&a, &[]).await });
    let second = tokio::spawn(async move { get(&b, &[]).await });
    let both = wait_until(DEADLINE, || async {
        up.holding.load(Ordering::SeqCst) == 2
    })
    .await;
    assert!(
        both,
        "only {} slots came back",
        up.holding.load(Ordering::SeqCst)
    );
    // Counted by the replica that freed them, as its calls come back:
    // polled, not read once.
    let counted = wait_until(DEADLINE, || async {
        family_sum(&other, "floodgate_concurrency_leases_expired_total").await >= 2.0
    })
    .await;
    let expired = family_sum(&other, "floodgate_concurrency_leases_expired_total").await;
    let text = get(&format!("http://{}/metrics", other.admin), &[]).await;
    let text = String::from_utf8_lossy(&text.body).to_string();
    assert!(
        counted && expired >= 2.0,
        "{expired}: {}",
        text.lines()
            .filter(|l| l.contains("concurrency"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    up.release.add_permits(4);
    assert_eq!(first.await.unwrap().status, 200);
    assert_eq!(second.await.unwrap().status, 200);
    other.running.shutdown().await.unwrap();
}

/// Reads the process's JSON log until it says where it listens.
fn listening_on(stderr: std::process::ChildStderr) -> String {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(stderr).lines();
    let public = loop {
        let line = lines.next().expect("serve exited").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "floodgate listening" {
            break v["public"].as_str().unwrap().to_string();
        }
    };
    // Keep draining, so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    public
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_api_acquires_releases_and_renews() {
    let up = upstream().await;
    let s = start(&config(up.addr, 1, "2s", "")).await;
    let admin = format!("http://{}", s.admin);
    let body = r#"{"attributes":{"ip":"192.0.2.1","path":"/x"}}"#;
    let post = |path: &str, body: String| {
        let url = format!("{admin}{path}");
        async move { send("POST", &url, &[("content-type", "application/json")], body).await }
    };
    let r = post("/v1/acquire", body.into()).await;
    assert_eq!(r.status, 200);
    let lease = r.json()["lease"].as_str().expect("a lease").to_string();
    assert_eq!(r.json()["allowed"], true);
    // A check says the slot is taken, and takes nothing.
    let r = post("/v1/check", body.into()).await;
    assert_eq!(r.status, 429);
    let r = post("/v1/acquire", body.into()).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["lease"], serde_json::Value::Null);
    assert_eq!(r.json()["algorithm"], "concurrency");

    let release = |lease: &str| serde_json::json!({ "lease": lease }).to_string();
    let r = post("/v1/renew", release(&lease)).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["renewed"].as_u64()),
        (200, Some(1))
    );
    let r = post("/v1/release", release(&lease)).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["released"].as_u64()),
        (200, Some(1))
    );
    let r = post("/v1/release", release(&lease)).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "lease_not_found");
    let r = post("/v1/release", release("nonsense")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "bad_request");

    // A lease left alone past its length: the slot is free again, and a
    // late release says it had ended.
    let r = post("/v1/acquire", body.into()).await;
    let lease = r.json()["lease"].as_str().unwrap().to_string();
    s.clock.advance(Duration::from_secs(2));
    let r = post("/v1/release", release(&lease)).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"], "lease_expired");
    let r = post("/v1/acquire", body.into()).await;
    assert_eq!(r.status, 200);
    s.running.shutdown().await.unwrap();
}
