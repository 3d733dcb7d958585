//! The real `floodgate` binary stopped by SIGTERM with WebSocket
//! connections open: both sides get their close frame (1001) before the
//! process exits, every time.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use futures_util::SinkExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use super::common::*;
use super::kit::*;

/// `floodgate serve` on `config`; its public address, read from its log.
fn spawn(config: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["serve", "--watch", "off", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let public = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "floodgate listening" {
            break v["public"].as_str().unwrap().to_string();
        }
    };
    // Keep reading its log, so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    (child, public)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_sends_both_sides_1001_before_the_process_exits() {
    let (up, seen) = echo_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(
        &path,
        config(up, "{}").replace("admin:", "log: { format: json }\nadmin:"),
    )
    .unwrap();
    // The close raced the exit in about 4 runs of 10: every run counts.
    const RUNS: usize = 8;
    for run in 0..RUNS {
        let (mut child, public) = spawn(&path);
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{public}/ws"))
            .await
            .expect("upgrade through the gateway");
        ws.send(Message::text("before")).await.unwrap();
        assert_eq!(next(&mut ws).await, Message::text("before"));
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let f = close_frame(&mut ws).await;
        assert_eq!(f.code, CloseCode::Away, "run {run}");
        assert_eq!(f.reason.as_str(), "server shutting down", "run {run}");
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        assert!(status.success(), "run {run}: {status:?}");
        let upstream_closes = wait_until(LOG_DEADLINE, || async {
            seen.closes.lock().unwrap().len() > run
        })
        .await;
        assert!(
            upstream_closes,
            "run {run}: {:?}",
            seen.closes.lock().unwrap()
        );
    }
    let closes = seen.closes.lock().unwrap();
    assert_eq!(closes.len(), RUNS, "{closes:?}");
    assert!(
        closes
            .iter()
            .all(|(c, r)| *c == 1001 && r == "server shutting down"),
        "{closes:?}"
    );
}
