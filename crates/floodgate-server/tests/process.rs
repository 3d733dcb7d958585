//! End-to-end on the real binary: config refusal, SIGHUP reload, SIGTERM
//! drain.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

fn floodgate(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_floodgate"));
    c.args(args);
    c
}

/// Starts `serve` and reads its addresses from the JSON log.
fn spawn_serve(
    config: &std::path::Path,
) -> (Child, String, String, std::thread::JoinHandle<Vec<String>>) {
    let mut child = floodgate(&[
        "serve",
        "--watch",
        "off",
        "--config",
        config.to_str().unwrap(),
    ])
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (public, admin) = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "floodgate listening" {
            break (
                v["public"].as_str().unwrap().to_string(),
                v["admin"].as_str().unwrap().to_string(),
            );
        }
    };
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect());
    (child, public, admin, rest)
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn serve_refuses_a_bad_config_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(
        &path,
        "rules:\n  - name: a\n    limits:\n      - { algorithm: token_bucket, capacity: 3, refill: 1/s, colour: red }\n",
    )
    .unwrap();
    let out = floodgate(&["serve", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.yaml:4:"), "{err}");
    assert!(err.contains("unknown field `colour`"), "{err}");
    let out = floodgate(&["check-config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_and_sigterm_drains() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    let config = |limit: u32| {
        format!(
            "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nupstream: http://{up}\nlog: {{ format: json }}\nrules:\n  - name: r\n    limits:\n      - {{ algorithm: fixed_window, limit: {limit}, window: 1h }}\n"
        )
    };
    std::fs::write(&path, config(50)).unwrap();
    let (mut child, public, admin, logs) = spawn_serve(&path);
    let url = format!("http://{public}/x");
    let r = get(&url, &[]).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-ratelimit-limit"), Some("50"));

    // A broken file and SIGHUP: refused, the old config stays.
    std::fs::write(&path, "rules: [").unwrap();
    signal(&child, "-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&url, &[]).await.header("x-ratelimit-limit"), Some("50"));

    std::fs::write(&path, config(7)).unwrap();
    signal(&child, "-HUP");
    let mut reloaded = false;
    for _ in 0..50 {
        if get(&url, &[]).await.header("x-ratelimit-limit") == Some("7") {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reloaded, "SIGHUP applied the new limit");

    // A slow request in flight when SIGTERM arrives still completes.
    let slow = tokio::spawn(async move { get(&format!("http://{public}/slow"), &[]).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    signal(&child, "-TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = get(&format!("http://{admin}/readyz"), &[]).await;
    assert_eq!(ready.status, 503, "not ready while draining");
    let r = slow.await.unwrap();
    assert_eq!(r.status, 201, "drained, not cut");
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let logs = logs.join().unwrap().join("\n");
    assert!(logs.contains("config reload refused"), "{logs}");
    assert!(logs.contains("config reloaded"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rejections_are_logged_with_a_key_fingerprint_and_limited() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(
        &path,
        "listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nlog: { format: json, rejections_per_second: 3 }\nrules:\n  - name: api\n    key: api_key\n    limits:\n      - { algorithm: fixed_window, limit: 1, window: 1h }\n",
    )
    .unwrap();
    let (child, public, _admin, logs) = spawn_serve(&path);
    let url = format!("http://{public}/resource");
    let secret = "sk-live-very-secret-key";
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(get(&url, &[("x-api-key", secret)]).await.status.as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 9);
    signal(&child, "-TERM");
    let logs = logs.join().unwrap();
    let rejections: Vec<serde_json::Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "request rate limited")
        .collect();
    // Nine denials in quick succession; the log admits bursts of three
    // (and three more a second), so most are suppressed.
    assert!(
        (3..9).contains(&rejections.len()),
        "{} rejection lines: {logs:?}",
        rejections.len()
    );
    let first = &rejections[0];
    assert_eq!(first["rule"], "api");
    assert_eq!(first["client_ip"], "127.0.0.1");
    assert_eq!(first["path"], "/resource");
    assert_eq!(
        first["key"],
        floodgate_core::policy::fingerprint(secret).as_str()
    );
    assert!(
        logs.iter().all(|l| !l.contains(secret)),
        "the API key never appears in clear"
    );
}
