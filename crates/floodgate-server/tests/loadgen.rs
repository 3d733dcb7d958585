//! The loadgen against the real floodgate server, started in-process on
//! port 0 (system clock), at a low rate for a fraction of a second.
//!
//! The policies use a one-hour fixed window with a limit below the number
//! of requests per client, so the verdicts do not depend on when exactly
//! each request arrives: the measured allowed count must equal the
//! replay's exactly. (A run straddling a whole hour of wall-clock time
//! could split a window; it takes a few hundred milliseconds.)

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
        grpc: None,
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
    let scenario = ScenarioFile::parse("test", scenario_yaml)
        .unwrap()
        .resolve()
        .unwrap();
    floodgate_loadgen::run_and_report(&scenario, Load::Open, Some(policy)).await
}

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
    assert_eq!(a.agreement_percent, 100.0, "{}", r.text());
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
