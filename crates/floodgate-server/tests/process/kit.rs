//! The real `floodgate` binary: started, signalled, waited for, and the
//! config files it is given.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http::Request;

use super::common::*;

/// How long any one wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn floodgate(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_floodgate"));
    c.args(args);
    c
}

pub struct Serving {
    pub child: Child,
    pub public: String,
    pub admin: String,
    pub logs: Logs,
    pub reader: std::thread::JoinHandle<()>,
}

impl Serving {
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Waits for the process to exit; returns its status and every log line.
    pub async fn wait(self) -> (std::process::ExitStatus, Vec<String>) {
        let Serving {
            mut child,
            logs,
            reader,
            ..
        } = self;
        let status = tokio::task::spawn_blocking(move || {
            let status = child.wait().unwrap();
            reader.join().unwrap();
            status
        })
        .await
        .unwrap();
        (status, logs.lines())
    }
}

/// Starts `serve --watch off` and reads its addresses from the JSON log;
/// the rest of stderr keeps arriving in `logs`.
pub fn spawn_serve(config: &std::path::Path) -> Serving {
    spawn_serve_with_env(config, &[])
}

/// [`spawn_serve`] with these environment variables set.
pub fn spawn_serve_with_env(config: &std::path::Path, env: &[(&str, &str)]) -> Serving {
    let mut child = floodgate(&[
        "serve",
        "--watch",
        "off",
        "--config",
        config.to_str().unwrap(),
    ])
    .envs(env.iter().copied())
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let logs = Logs::default();
    let (public, admin) = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        logs.0.lock().unwrap().push(line.clone());
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "floodgate listening" {
            break (
                v["public"].as_str().unwrap().to_string(),
                v["admin"].as_str().unwrap().to_string(),
            );
        }
    };
    let sink = logs.clone();
    let reader = std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.0.lock().unwrap().push(line);
        }
    });
    Serving {
        child,
        public,
        admin,
        logs,
        reader,
    }
}

/// A GET that reports a refused connection instead of panicking.
pub async fn try_status(url: &str) -> Option<u16> {
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let req = Request::get(url).body(Default::default()).unwrap();
    client.request(req).await.ok().map(|r| r.status().as_u16())
}

/// A config file: one fixed-window rule of `limit` an hour, JSON logs.
pub fn config(upstream: SocketAddr, listen: &str, limit: u64) -> String {
    format!(
        "listen: {listen}\nadmin: {{ listen: 127.0.0.1:0 }}\nupstream: http://{upstream}\nlog: {{ format: json }}\nrules:\n  - name: r\n    limits:\n      - {{ algorithm: fixed_window, limit: {limit}, window: 1h }}\n"
    )
}

pub async fn limit_header(url: &str) -> Option<String> {
    get(url, &[])
        .await
        .header("x-ratelimit-limit")
        .map(str::to_string)
}

pub fn sha256(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
