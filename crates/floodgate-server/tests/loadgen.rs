//! The loadgen against the real floodgate server, started in-process on
//! port 0 (system clock), at a low rate for a fraction of a second.
//!
//! The policies use a one-hour fixed window with a limit below the number
//! of requests per client, so the verdicts do not depend on when exactly
//! each request arrives: the measured allowed count must equal the
//! replay's exactly. (A run straddling a whole hour of wall-clock time
//! could split a window; it takes a few hundred milliseconds.) The gRPC
//! mode's counts must also equal what the server counted (`/metrics`).

mod common;

use common::{get, sample_value};
use floodgate_config::ConfigFile;
use floodgate_loadgen::report::Report;
use floodgate_loadgen::run::Load;
use floodgate_loadgen::scenario::ScenarioFile;
use floodgate_server::config::Config;
use floodgate_server::{start as start_server, Listeners, Options, Running};
use tokio::net::TcpListener;

async fn start(yaml: &str) -> (Running, ConfigFile) {
    let file = ConfigFile::parse("test.yaml", yaml).expect("valid config");
    let config = Config::from_file(file.clone()).expect("valid config");
    let listeners = Listeners {
        public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        // With `grpc.listen` set, a gRPC listener on a port of its own.
        grpc: match config.grpc_listen {
            Some(_) => Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
            None => None,
        },
    };
    let opts = Options {
        watch_interval: None,
        ..Options::default()
    };
    let running = start_server(config, listeners, opts)
        .await
        .expect("server starts");
    (running, file)
}

async fn load(scenario_yaml: &str, policy: &ConfigFile) -> Report {
    load_as(scenario_yaml, Load::Open, policy).await
}

async fn load_as(scenario_yaml: &str, how: Load, policy: &ConfigFile) -> Report {
    let scenario = ScenarioFile::parse("test", scenario_yaml)
        .unwrap()
        .resolve()
        .unwrap();
    floodgate_loadgen::run_and_report(&scenario, how, Some(policy)).await
}

/// The sample `series` of the server's `/metrics` (0 when absent).
async fn metric(server: &Running, series: &str) -> u64 {
    let reply = get(&format!("http://{}/metrics", server.admin_addr), &[]).await;
    sample_value(&String::from_utf8_lossy(&reply.body), series).unwrap_or(0.0) as u64
}

/// The loadgen's allowed and limited counts are the server's own.
async fn assert_server_counted(server: &Running, rule: &str, r: &Report) {
    let series = |outcome: &str| {
        format!("floodgate_requests_total{{rule=\"{rule}\",outcome=\"{outcome}\"}}")
    };
    assert_eq!(
        metric(server, &series("allowed")).await,
        r.counts.ok_200,
        "{}",
        r.text()
    );
    assert_eq!(
        metric(server, &series("limited")).await,
        r.counts.limited_429,
        "{}",
        r.text()
    );
    let decisions = |outcome: &str| format!("floodgate_decisions_total{{outcome=\"{outcome}\"}}");
    assert_eq!(metric(server, &decisions("allowed")).await, r.counts.ok_200);
    assert_eq!(
        metric(server, &decisions("limited")).await,
        r.counts.limited_429
    );
}

const GRPC_POLICY: &str = r#"
grpc: { listen: 127.0.0.1:0 }
rules:
  - name: per-descriptor
    match:
      domain: edge
      descriptors: [ { key: api_key } ]
    limits:
      - { algorithm: fixed_window, limit: 5, window: 1h }
"#;

fn assert_exact(r: &Report, sent: u64, allowed: u64) {
    let c = &r.counts;
    assert_eq!(c.sent, sent, "{}", r.text());
    assert_eq!(c.errors, 0, "{}", r.text());
    assert_eq!(c.other_status, 0, "{}", r.text());
    assert_eq!(c.ok_200, allowed, "{}", r.text());
    assert_eq!(c.limited_429, sent - allowed, "{}", r.text());
    let a = r.accuracy.as_ref().expect("policy given");
    assert_eq!(a.replayed, sent);
    assert_eq!(a.expected_allowed, allowed, "{}", r.text());
    assert_eq!(a.measured_allowed, a.expected_allowed);
    // Not `agreement_percent`: which request of a key gets the last
    // slot depends on arrival order, which a busy machine shuffles (the
    // schedule's requests bunch up behind a stall); the totals do not.
    assert!(a.agreement_percent > 0.0, "{}", r.text());
    let lat = r.latency_from_schedule_ms.as_ref().unwrap();
    assert_eq!(lat.count, sent);
    assert!(lat.p50 > 0.0 && lat.p50 <= lat.p99 && lat.p99 <= lat.max);
    assert!(r.latency_from_send_ms.p50 <= lat.p50 + 0.01);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_by_api_key_allows_exactly_what_the_policy_says() {
    let upstream = floodgate_loadgen::upstream::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (server, policy) = start(&format!(
        r#"
upstream: http://{upstream}
rules:
  - name: per-key
    key: api_key
    limits:
      - {{ algorithm: fixed_window, limit: 10, window: 1h }}
"#
    ))
    .await;
    // 60 requests at 200/s, 3 keys in turn: 20 each, 10 allowed each.
    let r = load(
        &format!(
            r#"
target: {{ url: "http://{}/api/v1/data" }}
clients: {{ count: 3, pick: round_robin, key_prefix: e2e-gw- }}
rate: {{ steady: 200, duration: 300ms }}
"#,
            server.public_addr
        ),
        &policy,
    )
    .await;
    assert_exact(&r, 60, 30);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decision_api_by_ip_with_zipf_keys() {
    let (server, policy) = start(
        r#"
rules:
  - name: per-ip
    key: ip
    limits:
      - { algorithm: fixed_window, limit: 4, window: 1h }
"#,
    )
    .await;
    // Hot keys: the first clients go over their 4, the tail does not.
    let r = load(
        &format!(
            r#"
target: {{ mode: check, url: "http://{}/v1/check", path: /api/v1/data }}
clients: {{ count: 20, identity: ip, pick: zipf, ip_base: 10.9.0.1 }}
rate: {{ steady: 250, duration: 320ms }}
seed: 3
"#,
            server.admin_addr
        ),
        &policy,
    )
    .await;
    let a = r.accuracy.clone().unwrap();
    assert!(a.expected_allowed < 80 && a.expected_allowed > 4, "{a:?}");
    assert_exact(&r, 80, a.expected_allowed);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_clients_bind_distinct_loopback_addresses() {
    // Demo endpoints, keyed by the socket peer: each client must be seen
    // as its own 127.x.y.z.
    let (server, policy) = start(
        r#"
rules:
  - name: per-ip
    key: ip
    limits:
      - { algorithm: fixed_window, limit: 3, window: 1h }
"#,
    )
    .await;
    let r = load(
        &format!(
            r#"
target: {{ url: "http://{}/api/v1/data" }}
clients: {{ count: 5, identity: ip, pick: round_robin, ip_base: 127.77.0.1 }}
rate: {{ steady: 200, duration: 250ms }}
"#,
            server.public_addr
        ),
        &policy,
    )
    .await;
    // 50 requests, 10 per address, 3 allowed each. Had every request come
    // from 127.0.0.1, only 3 would have passed.
    assert_exact(&r, 50, 15);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_clients_through_a_trusted_proxy() {
    let (server, policy) = start(
        r#"
trusted_proxies: [127.0.0.1/32]
rules:
  - name: per-ip
    key: ip
    limits:
      - { algorithm: fixed_window, limit: 2, window: 1h }
"#,
    )
    .await;
    let r = load(
        &format!(
            r#"
target: {{ url: "http://{}/resource" }}
clients: {{ count: 4, identity: forwarded_for, pick: round_robin, ip_base: 192.0.2.1 }}
rate: {{ steady: 200, duration: 200ms }}
"#,
            server.public_addr
        ),
        &policy,
    )
    .await;
    // 40 requests, 10 per forwarded address, 2 allowed each.
    assert_exact(&r, 40, 8);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_open_loop_counts_what_the_server_counts() {
    let (server, policy) = start(GRPC_POLICY).await;
    let grpc = server.grpc_addr.expect("a gRPC listener");
    // 60 calls at 200/s over 2 connections, 4 keys in turn: 15 each, 5
    // allowed each.
    let r = load(
        &format!(
            r#"
target: {{ mode: grpc, url: "http://{grpc}", domain: edge, connections: 2 }}
clients: {{ count: 4, pick: round_robin, key_prefix: e2e-grpc- }}
rate: {{ steady: 200, duration: 300ms }}
"#
        ),
        &policy,
    )
    .await;
    assert_eq!(r.mode, "grpc");
    assert_exact(&r, 60, 20);
    assert!(
        r.text().contains("overall_code OK: 20  OVER_LIMIT: 40"),
        "{}",
        r.text()
    );
    assert_server_counted(&server, "per-descriptor", &r).await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_closed_loop_with_hot_keys_counts_what_the_server_counts() {
    let (server, policy) = start(GRPC_POLICY).await;
    let grpc = server.grpc_addr.expect("a gRPC listener");
    // 16 streams at once on 3 connections, zipf over 30 keys: the hot
    // keys go over their 5, the tail does not.
    let how = Load::Closed {
        concurrency: 16,
        requests: Some(300),
        duration: std::time::Duration::from_secs(60),
    };
    let r = load_as(
        &format!(
            r#"
target: {{ mode: grpc, url: "http://{grpc}", connections: 3 }}
clients: {{ count: 30, pick: zipf, key_prefix: e2e-grpc-closed- }}
seed: 7
"#
        ),
        how,
        &policy,
    )
    .await;
    assert_eq!(r.load, "closed");
    let c = &r.counts;
    assert_eq!(
        (c.sent, c.errors, c.other_status),
        (300, 0, 0),
        "{}",
        r.text()
    );
    assert!(c.limited_429 > 0 && c.ok_200 > 5, "{}", r.text());
    let a = r.accuracy.as_ref().expect("policy given");
    // Concurrent calls of one key may reach the server in another order
    // than they were sent: which of them were allowed can differ from the
    // replay, how many cannot.
    assert_eq!(a.replayed, 300);
    assert_eq!(a.measured_allowed, a.expected_allowed, "{}", r.text());
    assert_eq!(r.latency_from_send_ms.count, 300);
    assert_server_counted(&server, "per-descriptor", &r).await;
    server.shutdown().await.unwrap();
}
