//! A running `floodgate serve`, driven over HTTP and signals, its log
//! kept; and the configs the tests start it with.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use floodgate_testkit::redis::RedisServer;
use serde_json::{json, Value};

use super::common::*;

/// How long a change may take to reach another replica.
pub const PROPAGATION: Duration = Duration::from_secs(1);
/// How long any other wait may take.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A key no client has: the default tier.
pub const UNKNOWN_KEY: &str = "unknown-probe-key-0000";

/// A running `floodgate serve`.
pub struct Proc {
    child: Child,
    pub public: String,
    pub admin: String,
    pub logs: Logs,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Proc {
    /// Starts `serve --watch off --config <config>` and reads its
    /// addresses from its JSON log.
    pub fn spawn(config: &Path) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_floodgate"))
            .args(["serve", "--watch", "off", "--config"])
            .arg(config)
            .env_remove(floodgate_admin::auth::ENV_VAR)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let logs = Logs::default();
        let (public, admin) = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                panic!("serve exited before listening: {:#?}", logs.lines());
            };
            let line = line.unwrap();
            logs.0.lock().unwrap().push(line.clone());
            let v: Value = serde_json::from_str(&line).unwrap_or_default();
            if v["message"] == "floodgate listening" {
                break (
                    format!("http://{}", v["public"].as_str().unwrap()),
                    format!("http://{}", v["admin"].as_str().unwrap()),
                );
            }
        };
        let sink = logs.clone();
        let reader = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.0.lock().unwrap().push(line);
            }
        });
        Proc {
            child,
            public,
            admin,
            logs,
            reader: Some(reader),
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Waits for the process to exit (after a signal); its status and
    /// every log line.
    pub async fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let mut child = std::mem::replace(&mut self.child, dummy_child());
        let reader = self.reader.take();
        let status = tokio::task::spawn_blocking(move || {
            let status = child.wait().unwrap();
            if let Some(r) = reader {
                r.join().unwrap();
            }
            status
        })
        .await
        .unwrap();
        (status, self.logs.lines())
    }

    /// SIGTERM, and waits for a clean exit.
    pub async fn stop(self) -> Vec<String> {
        self.signal("-TERM");
        let (status, logs) = self.wait().await;
        assert!(status.success(), "{status:?}: {logs:#?}");
        logs
    }

    /// SIGKILL: no chance to clean up.
    pub async fn kill(mut self) -> Vec<String> {
        self.child.kill().unwrap();
        let (_, logs) = self.wait().await;
        logs
    }

    pub async fn limit(&self, key: &str) -> Option<String> {
        get(
            &format!("{}/api/v1/data", self.public),
            &[("x-api-key", key)],
        )
        .await
        .header("x-ratelimit-limit")
        .map(str::to_string)
    }

    /// Whether requests with `key` carry `x-ratelimit-limit: want` within
    /// `deadline`.
    pub async fn limit_becomes(&self, key: &str, want: &str, deadline: Duration) -> bool {
        wait_until(deadline, || async {
            self.limit(key).await.as_deref() == Some(want)
        })
        .await
    }

    pub async fn policy_etag(&self) -> String {
        let r = get(&format!("{}/v1/policy", self.admin), &[]).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        r.header("etag").expect("an ETag").to_string()
    }

    pub async fn history(&self) -> Value {
        let r = get(&format!("{}/v1/policy/history", self.admin), &[]).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        r.json()
    }

    /// `PUT /v1/rules/api` with the rule's limits set to `limit` (and the
    /// pro tier's left as they are), If-Match `version` (none when empty).
    pub async fn put_api_limit(&self, limit: u64, version: &str) -> Reply {
        let r = get(&format!("{}/v1/rules/api", self.admin), &[]).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let mut rule = r.json();
        rule["limits"][0]["limit"] = json!(limit);
        let headers: &[(&str, &str)] = if version.is_empty() {
            &[]
        } else {
            &[("if-match", version)]
        };
        send(
            "PUT",
            &format!("{}/v1/rules/api", self.admin),
            headers,
            rule.to_string(),
        )
        .await
    }

    /// [`Proc::put_api_limit`] until it answers 200, within
    /// [`DEADLINE`]; whether it did, and the last answer.
    pub async fn put_api_limit_until_done(&self, limit: u64, version: &str) -> (bool, String) {
        let end = Instant::now() + DEADLINE;
        loop {
            let r = self.put_api_limit(limit, version).await;
            if r.status == 200 {
                return (true, text(&r));
            }
            if Instant::now() >= end {
                return (false, format!("{} {}", r.status, text(&r)));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn create_client(&self, body: Value) -> (String, String) {
        let r = send(
            "POST",
            &format!("{}/v1/clients", self.admin),
            &[],
            body.to_string(),
        )
        .await;
        assert_eq!(r.status, 201, "{}", text(&r));
        let v = r.json();
        (
            v["api_key"].as_str().unwrap().to_string(),
            v["fingerprint"].as_str().unwrap().to_string(),
        )
    }
}

/// A child that has already exited, to leave in a `Proc` being consumed.
fn dummy_child() -> Child {
    let mut c = Command::new("true").spawn().unwrap();
    let _ = c.wait();
    c
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A failed test must not leave servers behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// One rule `api` keyed by API key: 100 an hour, 400 for the pro tier;
/// `extra` adds top-level sections.
pub fn config(limit: u64, extra: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nlog: {{ format: json }}\ntiers: [free, pro]\ndefault_tier: free\nrules:\n  - name: api\n    match: {{ path: /api/v1/data }}\n    key: api_key\n    limits:\n      - {{ algorithm: fixed_window, limit: {limit}, window: 1h }}\n    tiers:\n      pro: [{{ algorithm: fixed_window, limit: 400, window: 1h }}]\n{extra}"
    )
}

pub fn redis_config(url: &str) -> String {
    config(
        100,
        &format!("store: {{ kind: redis, url: {url}, on_failure: local }}\n"),
    )
}

pub fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("floodgate.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn assert_no_key(what: &str, text: &str, keys: &[&str]) {
    for k in keys {
        assert!(
            !text.contains(k),
            "{what} holds an API key in clear: {text}"
        );
    }
}

/// Two replicas on one real Redis: the server, the folder of their
/// config (kept while they run) and the two processes.
pub fn two_replicas() -> (RedisServer, tempfile::TempDir, Proc, Proc) {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &redis_config(&redis.url()));
    let a = Proc::spawn(&path);
    let b = Proc::spawn(&path);
    (redis, dir, a, b)
}
