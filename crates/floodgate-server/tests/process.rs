//! End-to-end on the real binary: config refusal, SIGHUP reload (the new
//! policy applies, restart-only changes are reported), SIGTERM drain.
//! Every wait polls for what it waits for, with a deadline.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use common::*;
use http::Request;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long any one wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);

fn floodgate(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_floodgate"));
    c.args(args);
    c
}

struct Serving {
    child: Child,
    public: String,
    admin: String,
    logs: Logs,
    reader: std::thread::JoinHandle<()>,
}

impl Serving {
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Waits for the process to exit; returns its status and every log line.
    async fn wait(self) -> (std::process::ExitStatus, Vec<String>) {
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
fn spawn_serve(config: &std::path::Path) -> Serving {
    spawn_serve_with_env(config, &[])
}

/// [`spawn_serve`] with these environment variables set.
fn spawn_serve_with_env(config: &std::path::Path, env: &[(&str, &str)]) -> Serving {
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
async fn try_status(url: &str) -> Option<u16> {
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let req = Request::get(url).body(Default::default()).unwrap();
    client.request(req).await.ok().map(|r| r.status().as_u16())
}

/// A config file: one fixed-window rule of `limit` an hour, JSON logs.
fn config(upstream: SocketAddr, listen: &str, limit: u64) -> String {
    format!(
        "listen: {listen}\nadmin: {{ listen: 127.0.0.1:0 }}\nupstream: http://{upstream}\nlog: {{ format: json }}\nrules:\n  - name: r\n    limits:\n      - {{ algorithm: fixed_window, limit: {limit}, window: 1h }}\n"
    )
}

async fn limit_header(url: &str) -> Option<String> {
    get(url, &[])
        .await
        .header("x-ratelimit-limit")
        .map(str::to_string)
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
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.yaml:4:"), "{err}");
    assert!(err.contains("unknown field `colour`"), "{err}");
    let out = floodgate(&["check-config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A misspelt top-level section is named on its own line, like any other
/// unknown field, and so is a section written twice.
#[test]
fn an_unknown_or_repeated_top_level_key_is_refused_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, line, what) in [
        (
            "unknown.yaml",
            "rules: []\nlog: { format: json }\ncolour: red\n",
            3,
            "unknown field `colour`",
        ),
        (
            "twice.yaml",
            "rules: []\nlisten: 127.0.0.1:1\nlisten: 127.0.0.1:2\n",
            3,
            "duplicate field `listen`",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = floodgate(&["check-config", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what), "{name}: {err}");
        assert!(err.contains(&format!("{name}:{line}:")), "{name}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_applies_the_new_limit_and_refuses_a_broken_file() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(&path, config(up, "127.0.0.1:0", 50)).unwrap();
    let s = spawn_serve(&path);
    let url = format!("http://{}/x", s.public);
    let r = get(&url, &[]).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-ratelimit-limit"), Some("50"));

    // A broken file and SIGHUP: the refusal is logged, the old limit stays.
    std::fs::write(&path, "rules: []\nlog:\n  format: json\n  colour: red\n").unwrap();
    s.signal("-HUP");
    let refused = s
        .logs
        .wait_for("config reload refused; keeping the previous config", 1)
        .await;
    assert_eq!(refused[0]["level"], "ERROR");
    assert!(
        refused[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("floodgate.yaml:4:") && e.contains("colour")),
        "{refused:?}"
    );
    assert_eq!(limit_header(&url).await.as_deref(), Some("50"));
    assert!(s
        .logs
        .with_message("config reloaded; counters of unchanged limits kept")
        .is_empty());

    // A good file and SIGHUP: responses carry the new limit.
    std::fs::write(&path, config(up, "127.0.0.1:0", 7)).unwrap();
    s.signal("-HUP");
    let applied = wait_until(DEADLINE, || async {
        limit_header(&url).await.as_deref() == Some("7")
    })
    .await;
    assert!(
        applied,
        "SIGHUP did not apply limit 7: {:#?}",
        s.logs.lines()
    );
    let reloaded = s
        .logs
        .wait_for("config reloaded; counters of unchanged limits kept", 1)
        .await;
    assert_eq!(reloaded[0]["level"], "INFO");
    assert_eq!(reloaded[0]["rules"], 1);
    assert_eq!(reloaded[0]["file"], path.to_str().unwrap());
    // Nothing that needs a restart changed.
    assert!(s
        .logs
        .with_message("this change takes effect at the next restart; the running value stays")
        .is_empty());

    s.signal("-TERM");
    let (status, _) = s.wait().await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reports_a_restart_only_change_and_still_applies_the_policy() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(&path, config(up, "127.0.0.1:0", 50)).unwrap();
    let s = spawn_serve(&path);
    let url = format!("http://{}/x", s.public);
    assert_eq!(limit_header(&url).await.as_deref(), Some("50"));

    // Another listen address and another limit in the same file.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = taken.local_addr().unwrap().to_string();
    std::fs::write(&path, config(up, &other, 9)).unwrap();
    s.signal("-HUP");
    let warned = s
        .logs
        .wait_for(
            "this change takes effect at the next restart; the running value stays",
            1,
        )
        .await;
    let fields: Vec<&str> = warned.iter().filter_map(|w| w["field"].as_str()).collect();
    assert_eq!(fields, ["listen"], "{warned:?}");
    assert_eq!(warned[0]["level"], "WARN");
    let applied = wait_until(DEADLINE, || async {
        limit_header(&url).await.as_deref() == Some("9")
    })
    .await;
    assert!(
        applied,
        "the policy change did not apply: {:#?}",
        s.logs.lines()
    );
    // The running listener stays where it was.
    assert_eq!(get(&url, &[]).await.status, 201);

    // Reloading the same file again: the running value is still the old
    // one, so the change is reported again, not taken as applied.
    s.signal("-HUP");
    let warned = s
        .logs
        .wait_for(
            "this change takes effect at the next restart; the running value stays",
            2,
        )
        .await;
    assert_eq!(warned[1]["field"], "listen");

    s.signal("-TERM");
    let (status, _) = s.wait().await;
    assert!(status.success(), "{status:?}");
}

/// An upstream whose `/hold` answers only once released; `arrived` is set
/// when such a request reaches it.
async fn holding_upstream() -> (SocketAddr, Arc<AtomicBool>, Arc<Semaphore>) {
    let arrived = Arc::new(AtomicBool::new(false));
    let release = Arc::new(Semaphore::new(0));
    let (a, r) = (arrived.clone(), release.clone());
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let (a, r) = (a.clone(), r.clone());
        async move {
            if req.uri().path() == "/hold" {
                a.store(true, Ordering::SeqCst);
                r.acquire().await.unwrap().forget();
            }
            http::Response::builder()
                .status(201)
                .body(Body::from("done"))
                .unwrap()
        }
    });
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (addr, arrived, release)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_a_request_in_flight() {
    let (up, arrived, release) = holding_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(&path, config(up, "127.0.0.1:0", 50)).unwrap();
    let s = spawn_serve(&path);
    let ready_url = format!("http://{}/readyz", s.admin);
    assert_eq!(get(&ready_url, &[]).await.status, 200);

    let hold = format!("http://{}/hold", s.public);
    let slow = tokio::spawn(async move { get(&hold, &[]).await });
    let in_flight = wait_until(DEADLINE, || {
        let a = arrived.load(Ordering::SeqCst);
        async move { a }
    })
    .await;
    assert!(in_flight, "the request never reached the upstream");

    s.signal("-TERM");
    let draining = wait_until(DEADLINE, || async {
        try_status(&ready_url).await == Some(503)
    })
    .await;
    assert!(draining, "/readyz never answered 503 while draining");
    s.logs
        .wait_for("shutting down: draining in-flight requests", 1)
        .await;
    // Still draining: the held request keeps the process alive.
    assert!(!slow.is_finished());

    release.add_permits(1);
    let r = slow.await.unwrap();
    assert_eq!(r.status, 201, "drained, not cut");
    assert_eq!(&r.body[..], b"done");
    let (status, logs) = s.wait().await;
    assert!(status.success(), "{status:?}");
    let logs = logs.join("\n");
    assert!(logs.contains("\"stopped\""), "{logs}");
    assert!(!logs.contains("grace period over"), "{logs}");
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
    let s = spawn_serve(&path);
    let url = format!("http://{}/resource", s.public);
    let secret = "sk-live-very-secret-key";
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(get(&url, &[("x-api-key", secret)]).await.status.as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 9);
    s.signal("-TERM");
    let (_, logs) = s.wait().await;
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

fn sha256(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `check-config` on `text` with `FLOODGATE_ADMIN_TOKENS` as given: the
/// exit code, stdout and stderr.
fn check_config_with(text: &str, env_tokens: Option<&str>) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.yaml");
    std::fs::write(&path, text).unwrap();
    let mut cmd = floodgate(&["check-config", path.to_str().unwrap()]);
    match env_tokens {
        Some(v) => cmd.env(floodgate_admin::auth::ENV_VAR, v),
        None => cmd.env_remove(floodgate_admin::auth::ENV_VAR),
    };
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn admin_tokens_come_from_the_file_or_the_environment_never_in_clear() {
    let secret = "s3cret-s3cret-s3cret";
    // A token in clear is refused on its line, with how to migrate.
    let (code, _, err) = check_config_with(
        &format!("rules: []\nadmin:\n  listen: 127.0.0.1:9090\n  token: {secret}\n"),
        None,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("admin.yaml:4:"), "{err}");
    assert!(err.contains("admin.token: "), "{err}");
    assert!(err.contains("printf %s TOKEN | sha256sum"), "{err}");
    assert!(!err.contains(secret), "{err}");
    // Reachable from other hosts without a token: refused.
    let open = "rules: []\nadmin:\n  listen: 0.0.0.0:9090\n";
    let (code, _, err) = check_config_with(open, None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("admin.yaml:3:"), "{err}");
    assert!(
        err.contains("set admin.tokens (or FLOODGATE_ADMIN_TOKENS)"),
        "{err}"
    );
    // The environment adds tokens.
    let env = format!(
        "ci:read:{}, deploy:admin:{}",
        sha256("ci"),
        sha256("deploy")
    );
    let (code, out, err) = check_config_with(open, Some(&env));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("(tokens: ci/read, deploy/admin)"), "{out}");
    // A bad entry names the variable and the entry, not what it holds.
    let env = format!("ci:read:{},deploy:admin:{secret}", sha256("ci"));
    let (code, _, err) = check_config_with(open, Some(&env));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("FLOODGATE_ADMIN_TOKENS:1:"), "{err}");
    assert!(
        err.contains("[1]: the sha256 must be 64 lowercase hex"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_admin_logins_are_logged_limited_and_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    let ops = "ops-token-in-the-file-0123";
    let ci = "ci-token-from-the-environment-0123";
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n  tokens: [{{ name: ops, role: admin, sha256: {} }}]\nlog: {{ format: json }}\nrules: []\n",
            sha256(ops)
        ),
    )
    .unwrap();
    let env = format!("ci:read:{}", sha256(ci));
    let s = spawn_serve_with_env(&path, &[(floodgate_admin::auth::ENV_VAR, &env)]);
    let metrics = format!("http://{}/metrics", s.admin);
    let bearer = |t: &str| format!("Bearer {t}");
    assert_eq!(
        get(&metrics, &[("authorization", &bearer(ci))])
            .await
            .status,
        200
    );
    assert_eq!(
        get(&metrics, &[("authorization", &bearer(ops))])
            .await
            .status,
        200
    );
    let wrong: Vec<String> = (0..25).map(|i| format!("guess-{i}-of-the-token")).collect();
    let mut statuses = Vec::new();
    for w in &wrong {
        statuses.push(
            get(&metrics, &[("authorization", &bearer(w))])
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        15,
        "{statuses:?}"
    );
    s.signal("-TERM");
    let (_, logs) = s.wait().await;
    let failed: Vec<serde_json::Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "admin authentication failed")
        .collect();
    // The log takes bursts of ten: most of the 25 are left out.
    assert!((10..25).contains(&failed.len()), "{failed:?}");
    assert_eq!(failed[0]["level"], "WARN");
    assert_eq!(failed[0]["client_ip"], "127.0.0.1");
    assert_eq!(failed[0]["reason"], "unknown token");
    assert_eq!(failed[0]["path"], "/metrics");
    for l in &logs {
        assert!(
            !l.contains("-of-the-token"),
            "a presented token was logged: {l}"
        );
        assert!(!l.contains(ops) && !l.contains(ci), "{l}");
    }
}

#[test]
fn import_envoy_ratelimit_prints_a_policy_that_serves() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("config.yaml");
    std::fs::write(
        &src,
        "domain: edge\ndescriptors:\n  - key: remote_address\n    rate_limit: { unit: second, requests_per_unit: 10 }\n",
    )
    .unwrap();
    let out = floodgate(&["import", "envoy-ratelimit", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let policy = String::from_utf8(out.stdout).unwrap();
    assert!(policy.contains("domain: edge"), "{policy}");
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, &policy).unwrap();
    let check = floodgate(&["check-config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // A bad file: exit 2, naming file, line and field.
    std::fs::write(&src, "domain: edge\ndescriptors:\n  - key: a\n    rate_limit: { unit: eon, requests_per_unit: 1 }\n").unwrap();
    let out = floodgate(&["import", "envoy-ratelimit", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.yaml:4:") && err.contains("descriptors[0].rate_limit.unit"),
        "{err}"
    );
}
