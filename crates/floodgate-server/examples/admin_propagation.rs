//! How fast a policy change reaches another replica, and what applying
//! changes costs the decisions around it.
//!
//! Starts a real `redis-server` and two replicas (in this process, on
//! loopback). Then:
//!
//! 1. propagation: 100 changes through replica A's admin API; for each,
//!    the time from A's answer until replica B decides with the new limit
//!    (B's decision API polled in a tight loop);
//! 2. decision latency on B, p50/p99 of `POST /v1/check` from 4 clients,
//!    without changes and while A applies 10 changes a second, in five
//!    alternating rounds of 2 s each, in the same run.
//!
//! Run: `cargo run --release -p floodgate-server --example admin_propagation`
//! (`redis-server` on the PATH).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use floodgate_server::config::Config;
use floodgate_server::{start, Listeners, Options, Running};
use floodgate_testkit::redis::RedisServer;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

type Http = Client<HttpConnector, Full<Bytes>>;

async fn replica(yaml: &str) -> Running {
    let config = Config::parse("bench.yaml", yaml).expect("valid config");
    let listeners = Listeners {
        public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        grpc: None,
    };
    let opts = Options {
        watch_interval: None,
        ..Options::default()
    };
    start(config, listeners, opts)
        .await
        .expect("replica starts")
}

async fn call(http: &Http, method: &str, url: &str, body: String) -> (u16, serde_json::Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = http.request(req).await.expect("request");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn rule(limit: u64) -> String {
    serde_json::json!({
        "match": { "path": "/api/v1/data" },
        "limits": [{ "algorithm": "fixed_window", "limit": limit, "window": "1h" }]
    })
    .to_string()
}

const CHECK: &str = r#"{"attributes": {"ip": "10.0.0.1", "path": "/api/v1/data"}}"#;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// B's decision latencies over `run`, from 4 clients.
async fn decision_latency(http: &Http, b_admin: &str, run: Duration) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let http = http.clone();
        let url = format!("{b_admin}/v1/check");
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let end = Instant::now() + run;
            while Instant::now() < end {
                let t = Instant::now();
                call(&http, "POST", &url, CHECK.into()).await;
                out.push(t.elapsed());
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all
}

/// Step 1, propagation: 100 changes through A, each timed until B
/// decides with the new limit.
async fn propagation(http: &Http, a_admin: &str, b_admin: &str) {
    let mut delays = Vec::new();
    for i in 1..=100u64 {
        let limit = 2_000_000 + i;
        let (status, _) = call(http, "PUT", &format!("{a_admin}/v1/rules/api"), rule(limit)).await;
        assert_eq!(status, 200, "change {i} refused");
        let answered = Instant::now();
        loop {
            let (_, v) = call(http, "POST", &format!("{b_admin}/v1/check"), CHECK.into()).await;
            if v["limit"] == limit {
                break;
            }
            assert!(
                answered.elapsed() < Duration::from_secs(5),
                "change {i} never reached B"
            );
        }
        delays.push(answered.elapsed());
    }
    delays.sort();
    println!(
        "propagation A -> B over {} changes: p50 {}, p99 {}, max {}",
        delays.len(),
        ms(percentile(&delays, 0.5)),
        ms(percentile(&delays, 0.99)),
        ms(*delays.last().unwrap())
    );
}

/// Step 2, decision latency on B without and with 10 changes a second
/// through A, in alternating rounds so that a drift of the machine's load
/// touches both alike.
async fn latency_under_changes(http: &Http, a_admin: &str, b_admin: &str) {
    let round = Duration::from_secs(2);
    let (mut quiet, mut busy, mut applied) = (Vec::new(), Vec::new(), 0u64);
    for _ in 0..5 {
        quiet.extend(decision_latency(http, b_admin, round).await);
        let changing = Arc::new(AtomicBool::new(true));
        let changer = {
            let (http, url, changing) = (
                http.clone(),
                format!("{a_admin}/v1/rules/api"),
                changing.clone(),
            );
            let base = 3_000_000 + applied * 1_000;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                let mut n = 0u64;
                while changing.load(Ordering::Relaxed) {
                    tick.tick().await;
                    n += 1;
                    call(&http, "PUT", &url, rule(base + n)).await;
                }
                n
            })
        };
        busy.extend(decision_latency(http, b_admin, round).await);
        changing.store(false, Ordering::Relaxed);
        applied += changer.await.unwrap();
    }
    quiet.sort();
    busy.sort();
    let (q99, b99) = (percentile(&quiet, 0.99), percentile(&busy, 0.99));
    println!(
        "decision latency on B, no changes (5 x {}s): {} decisions, p50 {}, p99 {}",
        round.as_secs(),
        quiet.len(),
        ms(percentile(&quiet, 0.5)),
        ms(q99)
    );
    println!(
        "decision latency on B, {applied} changes at 10/s (5 x {}s): {} decisions, p50 {}, p99 {} ({:+.1}% p99)",
        round.as_secs(), busy.len(), ms(percentile(&busy, 0.5)), ms(b99),
        (b99.as_secs_f64() / q99.as_secs_f64() - 1.0) * 100.0
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let redis = RedisServer::start();
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nlog: {{ level: warn }}\nrules:\n  - name: api\n    match: {{ path: /api/v1/data }}\n    limits:\n      - {{ algorithm: fixed_window, limit: 1000000, window: 1h }}\nstore:\n  kind: redis\n  url: {}\n  timeout: 1s\n",
        redis.url()
    );
    let a = replica(&yaml).await;
    let b = replica(&yaml).await;
    let a_admin = format!("http://{}", a.admin_addr);
    let b_admin = format!("http://{}", b.admin_addr);
    let http: Http = Client::builder(TokioExecutor::new()).build_http();
    propagation(&http, &a_admin, &b_admin).await;
    latency_under_changes(&http, &a_admin, &b_admin).await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
