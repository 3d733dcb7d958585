//! The admin API on the real `floodgate` binary: replicas sharing one real
//! redis-server, a memory store with a state file across restarts and
//! SIGHUP, Redis going away during a change, and API keys never written
//! anywhere in clear. Every wait polls for what it waits for, with a
//! deadline.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use floodgate_testkit::redis::RedisServer;
use serde_json::{json, Value};

/// How long a change may take to reach another replica.
const PROPAGATION: Duration = Duration::from_secs(1);
/// How long any other wait may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// A key no client has: the default tier.
const UNKNOWN_KEY: &str = "unknown-probe-key-0000";

/// A running `floodgate serve`.
struct Proc {
    child: Child,
    public: String,
    admin: String,
    logs: Logs,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Proc {
    /// Starts `serve --watch off --config <config>` and reads its
    /// addresses from its JSON log.
    fn spawn(config: &Path) -> Proc {
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

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Waits for the process to exit (after a signal); its status and
    /// every log line.
    async fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
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
    async fn stop(self) -> Vec<String> {
        self.signal("-TERM");
        let (status, logs) = self.wait().await;
        assert!(status.success(), "{status:?}: {logs:#?}");
        logs
    }

    /// SIGKILL: no chance to clean up.
    async fn kill(mut self) -> Vec<String> {
        self.child.kill().unwrap();
        let (_, logs) = self.wait().await;
        logs
    }

    async fn limit(&self, key: &str) -> Option<String> {
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
    async fn limit_becomes(&self, key: &str, want: &str, deadline: Duration) -> bool {
        wait_until(deadline, || async {
            self.limit(key).await.as_deref() == Some(want)
        })
        .await
    }

    async fn policy_etag(&self) -> String {
        let r = get(&format!("{}/v1/policy", self.admin), &[]).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        r.header("etag").expect("an ETag").to_string()
    }

    async fn history(&self) -> Value {
        let r = get(&format!("{}/v1/policy/history", self.admin), &[]).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        r.json()
    }

    /// `PUT /v1/rules/api` with the rule's limits set to `limit` (and the
    /// pro tier's left as they are), If-Match `version` (none when empty).
    async fn put_api_limit(&self, limit: u64, version: &str) -> Reply {
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
    async fn put_api_limit_until_done(&self, limit: u64, version: &str) -> (bool, String) {
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

    async fn create_client(&self, body: Value) -> (String, String) {
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

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// One rule `api` keyed by API key: 100 an hour, 400 for the pro tier;
/// `extra` adds top-level sections.
fn config(limit: u64, extra: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nlog: {{ format: json }}\ntiers: [free, pro]\ndefault_tier: free\nrules:\n  - name: api\n    match: {{ path: /api/v1/data }}\n    key: api_key\n    limits:\n      - {{ algorithm: fixed_window, limit: {limit}, window: 1h }}\n    tiers:\n      pro: [{{ algorithm: fixed_window, limit: 400, window: 1h }}]\n{extra}"
    )
}

fn redis_config(url: &str) -> String {
    config(
        100,
        &format!("store: {{ kind: redis, url: {url}, on_failure: local }}\n"),
    )
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("floodgate.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn assert_no_key(what: &str, text: &str, keys: &[&str]) {
    for k in keys {
        assert!(
            !text.contains(k),
            "{what} holds an API key in clear: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_on_one_redis_follow_every_change_through_any_of_them() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &redis_config(&redis.url()));
    let a = Proc::spawn(&path);
    let b = Proc::spawn(&path);
    let c = Proc::spawn(&path);
    for p in [&a, &b, &c] {
        assert_eq!(p.policy_etag().await, "\"1\"", "seeded once");
        assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("100"));
    }

    // A rule changed on A is enforced by B and C within a second.
    let r = a.put_api_limit(150, "\"1\"").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.header("etag"), Some("\"2\""));
    for (name, p) in [("B", &b), ("C", &c)] {
        assert!(
            p.limit_becomes(UNKNOWN_KEY, "150", PROPAGATION).await,
            "{name} did not enforce version 2 within 1 s: {:?}",
            p.limit(UNKNOWN_KEY).await
        );
    }

    // A client created on A is a pro client on C at once.
    let (key, fp) = a
        .create_client(json!({"tier": "pro", "name": "acme"}))
        .await;
    assert!(
        c.limit_becomes(&key, "400", PROPAGATION).await,
        "C does not know the new client: {:?}",
        c.limit(&key).await
    );
    assert_eq!(c.policy_etag().await, "\"3\"");

    // Revoked on B: unknown to C, so the default tier's limit.
    let r = send(
        "DELETE",
        &format!("{}/v1/clients/{fp}", b.admin),
        &[("if-match", "\"3\"")],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(
        c.limit_becomes(&key, "150", PROPAGATION).await,
        "C still knows the revoked key: {:?}",
        c.limit(&key).await
    );
    let list = get(&format!("{}/v1/clients", c.admin), &[]).await.json();
    assert_eq!(list["clients"], json!([]), "{list}");

    // Rolled back on C to version 3 (the client is back): A and B follow.
    let r = send(
        "POST",
        &format!("{}/v1/policy/rollback", c.admin),
        &[("if-match", "\"4\"")],
        json!({"version": 3}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.json()["version"], 5);
    for (name, p) in [("A", &a), ("B", &b)] {
        assert!(
            p.limit_becomes(&key, "400", PROPAGATION).await,
            "{name} did not apply the rollback: {:?}",
            p.limit(&key).await
        );
    }
    let h = a.history().await;
    assert_eq!(h["history"][0]["version"], 5);
    assert_eq!(h["history"][0]["actor"], "anonymous (rollback to 3)");

    // B killed and started again: it comes back at version 5 and
    // enforces it.
    let mut logs = b.kill().await;
    let b = Proc::spawn(&path);
    assert_eq!(b.policy_etag().await, "\"5\"");
    assert_eq!(b.limit(&key).await.as_deref(), Some("400"));
    assert_eq!(b.limit(UNKNOWN_KEY).await.as_deref(), Some("150"));
    // And follows the next change.
    let r = a.put_api_limit(170, "\"5\"").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(b.limit_becomes(UNKNOWN_KEY, "170", PROPAGATION).await);

    for p in [a, b, c] {
        logs.extend(p.stop().await);
    }
    assert!(
        logs.iter().any(|l| l.contains("policy changed")),
        "the audit lines were read"
    );
    for l in &logs {
        assert_no_key("a log line", l, &[&key]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_file_keeps_api_changes_across_restarts_and_sighup_applies_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("policy-state.json");
    let file_key = "file-client-key-5e1b77a0c3";
    let extra = |state: &Path| {
        format!(
            "clients:\n  - {{ api_key: {file_key}, tier: pro }}\nadmin: {{ listen: 127.0.0.1:0, state_file: {} }}\n",
            state.display()
        )
    };
    // `admin` is written again below with the state file: drop the first.
    let with_state = |limit: u64| {
        config(limit, &extra(&state)).replacen("admin: { listen: 127.0.0.1:0 }\n", "", 1)
    };
    let path = write_config(dir.path(), &with_state(100));
    let p = Proc::spawn(&path);
    assert_eq!(p.policy_etag().await, "\"1\"");
    assert_eq!(p.limit(file_key).await.as_deref(), Some("400"));

    // Changed through the API: the whole policy with If-Match, then a
    // client.
    let mut doc = get(&format!("{}/v1/policy", p.admin), &[]).await.json();
    doc["rules"][0]["limits"][0]["limit"] = json!(150);
    let r = send(
        "PUT",
        &format!("{}/v1/policy", p.admin),
        &[("if-match", "\"1\"")],
        doc.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let (key, fp) = p.create_client(json!({"tier": "pro"})).await;
    assert_eq!(p.policy_etag().await, "\"3\"");
    let mut logs = p.stop().await;

    // The state file has the client by its digest only.
    let kept = std::fs::read_to_string(&state).unwrap();
    assert!(kept.contains(&fp), "{kept}");
    assert_no_key("the state file", &kept, &[&key, file_key]);

    // Started again: version 3 and its limits.
    let p = Proc::spawn(&path);
    assert_eq!(p.policy_etag().await, "\"3\"");
    assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("150"));
    assert_eq!(p.limit(&key).await.as_deref(), Some("400"));
    assert_eq!(p.history().await["history"][0]["version"], 3);

    // The file's policy part edited, then SIGHUP: a new version by the
    // config file.
    std::fs::write(&path, with_state(120)).unwrap();
    p.signal("-HUP");
    let reloaded = p
        .logs
        .wait_for("config reloaded; counters of unchanged limits kept", 1)
        .await;
    assert_eq!(reloaded[0]["policy_version"], 4, "{reloaded:?}");
    assert_eq!(p.policy_etag().await, "\"4\"");
    assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("120"));
    let h = p.history().await;
    assert_eq!(h["history"][0]["version"], 4);
    assert_eq!(h["history"][0]["actor"], "config file");

    // An API change, then SIGHUP with the policy part untouched: the API
    // change stays.
    let r = p.put_api_limit(130, "\"4\"").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    p.signal("-HUP");
    let reloaded = p
        .logs
        .wait_for("config reloaded; counters of unchanged limits kept", 2)
        .await;
    assert!(reloaded[1]["policy_version"].is_null(), "{reloaded:?}");
    assert_eq!(p.policy_etag().await, "\"5\"");
    assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("130"));
    assert_eq!(p.history().await["history"][0]["actor"], "anonymous");
    logs.extend(p.stop().await);

    // Kept across a restart too.
    let p = Proc::spawn(&path);
    assert_eq!(p.policy_etag().await, "\"5\"");
    assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("130"));
    logs.extend(p.stop().await);
    let kept = std::fs::read_to_string(&state).unwrap();
    assert_no_key("the state file", &kept, &[&key, file_key]);
    for l in &logs {
        assert_no_key("a log line", l, &[&key, file_key]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_killed_a_change_is_refused_and_nothing_changes() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &redis_config(&redis.url()));
    let a = Proc::spawn(&path);
    let b = Proc::spawn(&path);
    let r = a.put_api_limit(150, "\"1\"").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(b.limit_becomes(UNKNOWN_KEY, "150", PROPAGATION).await);

    redis.kill();
    let r = a.put_api_limit(175, "\"2\"").await;
    assert_eq!(r.status, 503, "{}", text(&r));
    assert_eq!(r.json()["error"], "policy_store_unavailable");
    let r = send(
        "POST",
        &format!("{}/v1/clients", b.admin),
        &[],
        json!({"tier": "pro"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 503, "{}", text(&r));
    for p in [&a, &b] {
        let r = get(&format!("{}/v1/policy", p.admin), &[]).await;
        assert_eq!(r.header("etag"), Some("\"2\""));
        assert_eq!(r.json()["rules"][0]["limits"][0]["limit"], 150);
        let clients = r.json()["clients"].as_array().map_or(0, Vec::len);
        assert_eq!(clients, 0, "the refused client was not added");
        // Still enforced (decided locally while Redis is away).
        assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("150"));
    }
    for p in [a, b] {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_stopped_a_change_is_refused_and_succeeds_once_it_is_back() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &redis_config(&redis.url()));
    let a = Proc::spawn(&path);
    let b = Proc::spawn(&path);
    let r = a.put_api_limit(150, "\"1\"").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(b.limit_becomes(UNKNOWN_KEY, "150", PROPAGATION).await);

    // Frozen (SIGSTOP): connections stay open, nothing answers.
    redis.pause();
    let r = a.put_api_limit(175, "\"2\"").await;
    assert_eq!(r.status, 503, "{}", text(&r));
    assert_eq!(r.json()["error"], "policy_store_unavailable");
    let r = get(&format!("{}/v1/policy", a.admin), &[]).await;
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(r.json()["rules"][0]["limits"][0]["limit"], 150);
    assert_eq!(a.limit(UNKNOWN_KEY).await.as_deref(), Some("150"));

    // Back: a change with the live version succeeds again and reaches
    // the other replica.
    redis.resume();
    let (done, last) = a.put_api_limit_until_done(190, "").await;
    assert!(done, "no change succeeded after Redis came back: {last}");
    let etag = a.policy_etag().await;
    assert_ne!(etag, "\"2\"");
    assert_eq!(a.limit(UNKNOWN_KEY).await.as_deref(), Some("190"));
    assert!(
        b.limit_becomes(UNKNOWN_KEY, "190", PROPAGATION).await,
        "B did not follow: {:?}",
        b.limit(UNKNOWN_KEY).await
    );
    assert!(wait_until(PROPAGATION, || async { b.policy_etag().await == etag }).await);
    for p in [a, b] {
        p.stop().await;
    }
}

/// A change answered 503 ("nothing changed") while Redis was frozen must
/// not take effect once Redis answers again.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_unconfirmed_while_redis_is_frozen_is_applied_everywhere_or_nowhere() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &redis_config(&redis.url()));
    let a = Proc::spawn(&path);
    let b = Proc::spawn(&path);
    redis.pause();
    let r = a.put_api_limit(175, "\"1\"").await;
    assert_eq!(r.status, 503, "{}", text(&r));
    assert!(text(&r).contains("did not confirm"), "{}", text(&r));
    redis.resume();
    // Redis ran the queued change when it resumed: the 503 said it might.
    // Both replicas converge on what Redis kept, and the next change
    // lands after it.
    let (done, last) = a.put_api_limit_until_done(190, "").await;
    assert!(done, "{last}");
    assert!(b.limit_becomes(UNKNOWN_KEY, "190", PROPAGATION).await);
    let h = a.history().await;
    let versions: Vec<u64> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    let top = versions[0];
    assert!(
        versions.windows(2).all(|w| w[0] == w[1] + 1),
        "{versions:?}"
    );
    assert_eq!(b.history().await["history"][0]["version"], top);
    for p in [a, b] {
        p.stop().await;
    }
}

/// Redis restarted empty (no persistence): the replicas hold version 2,
/// Redis holds nothing.
#[tokio::test(flavor = "multi_thread")]
async fn after_redis_restarts_empty_a_change_succeeds_and_propagates() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &redis_config(&redis.url()));
    let a = Proc::spawn(&path);
    let b = Proc::spawn(&path);
    let r = a.put_api_limit(150, "\"1\"").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(b.limit_becomes(UNKNOWN_KEY, "150", PROPAGATION).await);

    redis.restart();
    let (done, last) = a.put_api_limit_until_done(175, "").await;
    assert!(done, "no change succeeded after Redis came back: {last}");
    assert!(
        b.limit_becomes(UNKNOWN_KEY, "175", PROPAGATION).await,
        "B did not follow: {:?}",
        b.limit(UNKNOWN_KEY).await
    );
    for p in [a, b] {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_never_appear_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    // Pro clients get 3 an hour here, so their rejections are logged.
    let text_config = config(2, "").replace("limit: 400", "limit: 3").replacen(
        "admin: { listen: 127.0.0.1:0 }",
        &format!(
            "admin: {{ listen: 127.0.0.1:0, state_file: {} }}",
            state.display()
        ),
        1,
    );
    let path = write_config(dir.path(), &text_config);
    let p = Proc::spawn(&path);
    let (generated, gen_fp) = p
        .create_client(json!({"tier": "pro", "name": "generated"}))
        .await;
    let given = "given-secret-key-7f3a9c2e51d4";
    let (echoed, given_fp) = p
        .create_client(json!({"api_key": given, "tier": "pro", "name": "given"}))
        .await;
    assert_eq!(echoed, given, "shown once, in the answer to its creation");
    let keys = [generated.as_str(), given];
    // Used, refused, renamed, inspected, reset.
    for k in keys {
        for _ in 0..5 {
            get(&format!("{}/api/v1/data", p.public), &[("x-api-key", k)]).await;
        }
    }
    let r = send(
        "PATCH",
        &format!("{}/v1/clients/{gen_fp}", p.admin),
        &[],
        json!({"name": "renamed"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let counters = format!("{}/v1/counters?rule=api&key=k:{given_fp}", p.admin);
    let r = get(&counters, &[]).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_no_key("GET /v1/counters", &text(&r), &keys);
    assert_eq!(send("DELETE", &counters, &[], "").await.status, 200);

    let mut seen = Vec::new();
    for url in [
        "/metrics",
        "/v1/policy",
        "/v1/policy?format=yaml",
        "/v1/clients",
        "/v1/policy/history",
    ] {
        let r = get(&format!("{}{url}", p.admin), &[]).await;
        assert_eq!(r.status, 200, "{url}: {}", text(&r));
        assert_no_key(url, &text(&r), &keys);
        seen.push(text(&r));
    }
    // The answers do name the clients, by fingerprint.
    assert!(seen[3].contains(&gen_fp) && seen[3].contains(&given_fp));
    let kept = std::fs::read_to_string(&state).unwrap();
    assert!(kept.contains(&gen_fp) && kept.contains(&given_fp), "{kept}");
    assert_no_key("the state file", &kept, &keys);

    let logs = p.stop().await;
    let refused: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request rate limited")
        .collect();
    assert!(
        refused.iter().any(|v| v["key"] == gen_fp.as_str()),
        "rejections name the key by fingerprint: {logs:#?}"
    );
    assert!(logs.iter().any(|l| l.contains("counters reset")));
    for l in &logs {
        assert_no_key("a log line", l, &keys);
    }
}
