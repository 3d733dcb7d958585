//! `floodgate admin` end to end: the real binary against the real server
//! (started in this process on port 0, with an admin token), its output,
//! its exit codes, and what the server does afterwards.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

const TOKEN: &str = "ops-cli-0123456789abcdef";
const ME: &str = "i:127.0.0.1";

fn sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `BASE` (per-ip, 5 a minute on `/api/v1/data`) with the admin token.
fn config() -> String {
    BASE.replace(
        "admin: { listen: 127.0.0.1:0 }",
        &format!(
            "admin:\n  listen: 127.0.0.1:0\n  tokens:\n    - {{ name: ops, role: admin, sha256: {} }}",
            sha256(TOKEN)
        ),
    )
}

/// `BASE`'s policy part with another limit on `per-ip`.
fn policy_with_limit(limit: &str) -> String {
    format!(
        "tiers: [free, pro]\ndefault_tier: free\nclients:\n  - {{ api_key: key-pro-1, tier: pro }}\nrules:\n  - name: per-ip\n    match: {{ path: /api/v1/data }}\n    key: ip\n    limits:\n      - {{ algorithm: fixed_window, limit: {limit}, window: 1m }}\n"
    )
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Runs the binary with `url` and `token` in its environment, on a
/// blocking thread so the server keeps serving meanwhile.
async fn cli_at(url: &str, token: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_floodgate"));
    cmd.arg("admin")
        .args(args)
        .env("FLOODGATE_ADMIN_URL", url)
        .env_remove("FLOODGATE_ADMIN_TOKEN");
    if let Some(t) = token {
        cmd.env("FLOODGATE_ADMIN_TOKEN", t);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .unwrap();
    let run = Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    if let Some(t) = token {
        assert!(
            !run.stdout.contains(t) && !run.stderr.contains(t),
            "the token was printed"
        );
    }
    run
}

async fn cli(s: &Server, args: &[&str]) -> Run {
    cli_at(&format!("http://{}", s.admin), Some(TOKEN), args).await
}

/// Asserts success and returns the run.
async fn ok(s: &Server, args: &[&str]) -> Run {
    let r = cli(s, args).await;
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    r
}

async fn statuses(s: &Server, n: usize) -> Vec<u16> {
    let url = format!("http://{}/api/v1/data", s.public);
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(get(&url, &[]).await.status.as_u16());
    }
    out
}

async fn live_version(s: &Server) -> String {
    let r = ok(s, &["get", "--format", "json"]).await;
    r.stderr.trim().to_string()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn get_prints_the_live_policy_as_a_document_with_its_version() {
    let s = start(&config()).await;
    let r = ok(&s, &["get"]).await;
    assert!(r.stdout.starts_with("# version: 1\n"), "{}", r.stdout);
    let doc: Value = serde_yaml_ng::from_str(&r.stdout).expect("stdout is YAML");
    assert_eq!(doc["rules"][0]["name"], "per-ip");
    assert_eq!(doc["rules"][0]["limits"][0]["limit"], 5);

    let r = ok(&s, &["get", "--format", "json"]).await;
    assert_eq!(r.json()["rules"][0]["name"], "per-ip");
    assert_eq!(r.stderr, "version: 1\n");
    // --output json stands in for --format.
    assert_eq!(ok(&s, &["--output", "json", "get"]).await.json(), r.json());
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_prints_the_diff_bumps_the_version_and_the_limit_is_enforced() {
    let s = start(&config()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "policy.yaml", &policy_with_limit("2"));
    let f = file.to_str().unwrap();

    // A dry run prints the diff and changes nothing.
    let r = ok(&s, &["apply", "-f", f, "--dry-run"]).await;
    assert!(r.stdout.contains("rules\n  ~ per-ip\n"), "{}", r.stdout);
    assert!(r
        .stdout
        .contains("dry run: nothing applied (live version 1)"));
    assert_eq!(live_version(&s).await, "version: 1");
    let r = ok(&s, &["diff", "-f", f]).await;
    assert!(r.stdout.contains("counters restarted\n  per-ip/per-ip\n"));
    assert_eq!(live_version(&s).await, "version: 1");

    let r = ok(&s, &["apply", "-f", f]).await;
    assert!(
        r.stdout.contains("limits\n  ~ per-ip/per-ip\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("applied: version 2\n"), "{}", r.stdout);
    assert_eq!(live_version(&s).await, "version: 2");
    assert_eq!(statuses(&s, 3).await, [200, 200, 429]);

    // The same file again changes nothing and makes no version.
    let r = ok(&s, &["apply", "-f", f]).await;
    assert!(r
        .stdout
        .contains("no change: nothing applied (live version 2)"));
    assert_eq!(live_version(&s).await, "version: 2");

    // What `get` prints, applied back as JSON, is no change either.
    let json = ok(&s, &["get", "--format", "json"]).await.stdout;
    let back = write(&dir, "back.policy", &json);
    let r = ok(
        &s,
        &["--output", "json", "apply", "-f", back.to_str().unwrap()],
    )
    .await;
    assert_eq!(r.json()["version"], 2);
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_file_is_refused_with_its_field_and_line() {
    let s = start(&config()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "bad.yaml", &policy_with_limit("0"));
    let r = cli(&s, &["apply", "-f", file.to_str().unwrap()]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("\n  rules[0].limits[0].limit (line 10): "),
        "{}",
        r.stderr
    );
    assert_eq!(live_version(&s).await, "version: 1");
    assert_eq!(statuses(&s, 6).await, [200, 200, 200, 200, 200, 429]);
    s.running.shutdown().await.unwrap();
}

/// A proxy to `admin` that, before passing on `PUT /v1/policy`, changes
/// the policy itself: someone else's change landing between the CLI's
/// validate and its put.
async fn meddling_proxy(admin: SocketAddr) -> SocketAddr {
    use axum::body::Body;
    use http_body_util::BodyExt;
    let app = axum::Router::new().fallback(move |req: http::Request<Body>| async move {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let url = format!("http://{admin}{}", parts.uri);
        if parts.method == "PUT" && parts.uri.path() == "/v1/policy" {
            let auth = format!("Bearer {TOKEN}");
            let r = send(
                "POST",
                &format!("http://{admin}/v1/clients"),
                &[("authorization", &auth)],
                r#"{"tier":"pro","name":"meanwhile"}"#,
            )
            .await;
            assert_eq!(r.status, 201);
        }
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .filter(|(k, _)| *k != "host")
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = send(parts.method.as_str(), &url, &h, body).await;
        let mut resp = http::Response::builder().status(r.status);
        for (k, v) in &r.headers {
            resp = resp.header(k, v);
        }
        resp.body(Body::from(r.body)).unwrap()
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_made_meanwhile_is_never_overwritten() {
    let s = start(&config()).await;
    let proxy = meddling_proxy(s.admin).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "policy.yaml", &policy_with_limit("2"));
    let r = cli_at(
        &format!("http://{proxy}"),
        Some(TOKEN),
        &["apply", "-f", file.to_str().unwrap()],
    )
    .await;
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("the policy changed meanwhile (it is now at version 2"),
        "{}",
        r.stderr
    );
    // The diff was shown; the other change stands, the file's did not land.
    assert!(r.stdout.contains("~ per-ip"), "{}", r.stdout);
    assert_eq!(live_version(&s).await, "version: 2");
    let r = ok(&s, &["clients", "list"]).await;
    assert!(r.stdout.contains("meanwhile"), "{}", r.stdout);
    assert_eq!(statuses(&s, 6).await, [200, 200, 200, 200, 200, 429]);
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_are_created_listed_changed_and_revoked_and_keys_shown_once() {
    let s = start(&config()).await;
    let r = ok(
        &s,
        &["clients", "create", "--tier", "pro", "--name", "acme corp"],
    )
    .await;
    assert!(r.stdout.contains("shown only now"), "{}", r.stdout);
    let field = |name: &str| {
        r.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {}", r.stdout))
    };
    let (key, fp) = (field("api key:"), field("fingerprint:"));
    assert!(key.starts_with("fg_") && key.len() > 32, "{key}");

    let list = ok(&s, &["clients", "list"]).await.stdout;
    assert!(list.starts_with("FINGERPRINT"), "{list}");
    let row = list.lines().find(|l| l.contains(&fp)).expect("listed");
    assert!(row.contains("pro") && row.contains("acme corp"), "{row}");
    let everything = [
        list,
        ok(&s, &["--output", "json", "clients", "list"])
            .await
            .stdout,
        ok(&s, &["get"]).await.stdout,
        ok(&s, &["get", "--format", "json"]).await.stdout,
        ok(&s, &["history"]).await.stdout,
    ];
    for out in &everything {
        assert!(!out.contains(&key), "the key was printed again: {out}");
    }

    // JSON output is the server's own, and the hint stays off stdout.
    let r = ok(
        &s,
        &["--output", "json", "clients", "create", "--tier", "free"],
    )
    .await;
    assert!(r.json()["api_key"].as_str().unwrap().starts_with("fg_"));
    assert!(r.stderr.contains("shown only now"));

    ok(&s, &["clients", "set", &fp, "--tier", "free"]).await;
    let clients = ok(&s, &["--output", "json", "clients", "list"])
        .await
        .json();
    let me = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["fingerprint"] == fp.as_str())
        .unwrap();
    assert_eq!(me["tier"], "free");
    assert_eq!(me["name"], "acme corp");
    let r = cli(&s, &["clients", "set", &fp]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);

    let r = ok(&s, &["clients", "revoke", &fp]).await;
    assert!(r.stdout.contains("revoked client"), "{}", r.stdout);
    assert!(!ok(&s, &["clients", "list"]).await.stdout.contains(&fp));
    let r = cli(&s, &["clients", "revoke", &fp]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not_found"), "{}", r.stderr);
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn overrides_are_set_listed_enforced_and_deleted() {
    let s = start(&config()).await;
    let dir = tempfile::tempdir().unwrap();

    // This client's own identity: one request a minute from now on.
    let limit = "algorithm=fixed_window,limit=1,window=1m";
    let r = ok(
        &s,
        &[
            "override",
            "set",
            "per-ip",
            ME,
            "--limit",
            limit,
            "--expires-in",
            "24h",
        ],
    )
    .await;
    assert!(r.stdout.contains("now version 2"), "{}", r.stdout);
    assert_eq!(statuses(&s, 2).await, [200, 429]);

    // Identities with `:`, `|` and spaces stay one path segment.
    let odd = "u:al ice|k:a/b?c";
    let file = write(
        &dir,
        "limits.yaml",
        "limits:\n  - { algorithm: gcra, rate: 10/s, burst: 5 }\n",
    );
    ok(
        &s,
        &[
            "override",
            "set",
            "per-ip",
            odd,
            "-f",
            file.to_str().unwrap(),
        ],
    )
    .await;
    let list = ok(&s, &["override", "list"]).await.stdout;
    assert!(list.starts_with("RULE"), "{list}");
    let row = list.lines().find(|l| l.contains(odd)).expect("listed");
    assert!(row.contains("gcra") && row.contains("never"), "{row}");
    let row = list.lines().find(|l| l.contains(ME)).expect("listed");
    assert!(row.contains("fixed_window limit=1 window=1m"), "{row}");
    assert!(row.contains("2025-11-26 00:00:00 UTC"), "{row}");
    let v = ok(&s, &["--output", "json", "override", "list"])
        .await
        .json();
    let identities: Vec<&str> = v["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["identity"].as_str().unwrap())
        .collect();
    assert_eq!(identities, [ME, odd]);

    ok(&s, &["override", "delete", "per-ip", odd]).await;
    ok(&s, &["override", "delete", "per-ip", ME]).await;
    let r = cli(&s, &["override", "delete", "per-ip", ME]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no override of `per-ip`"), "{}", r.stderr);
    let v = ok(&s, &["--output", "json", "override", "list"])
        .await
        .json();
    assert_eq!(v["overrides"], serde_json::json!([]));

    // A limit that does not parse is caught before anything is sent.
    let r = cli(
        &s,
        &[
            "override",
            "set",
            "per-ip",
            ME,
            "--limit",
            "algorithm=fixed_window,limit=lots",
        ],
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("limit: `lots` is not a whole number"));
    assert_eq!(live_version(&s).await, "version: 5");
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_are_inspected_and_reset() {
    let s = start(&config()).await;
    assert_eq!(statuses(&s, 2).await, [200, 200]);
    let args = ["inspect", "--rule", "per-ip", "--key", ME];
    let r = ok(&s, &args).await;
    assert!(r.stdout.starts_with("SCOPE"), "{}", r.stdout);
    // What would remain after one more request; inspecting is free.
    assert!(r.stdout.contains("fixed_window  2/5"), "{}", r.stdout);
    let json_args = [
        "--output", "json", "inspect", "--rule", "per-ip", "--key", ME,
    ];
    let v = ok(&s, &json_args).await.json();
    assert_eq!(v["limits"][0]["remaining"], 2);
    assert_eq!(v["key"], ME);

    let r = ok(&s, &["reset", "--rule", "per-ip", "--key", ME]).await;
    assert_eq!(
        r.stdout,
        "reset 1 counter(s) of rule per-ip for i:127.0.0.1\n"
    );
    assert_eq!(ok(&s, &json_args).await.json()["limits"][0]["remaining"], 4);
    assert_eq!(statuses(&s, 6).await, [200, 200, 200, 200, 200, 429]);

    let r = cli(&s, &["inspect", "--rule", "nope", "--key", ME]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no rule is named `nope`"), "{}", r.stderr);
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn history_lists_versions_and_rollback_restores_one() {
    let s = start(&config()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "policy.yaml", &policy_with_limit("2"));
    ok(&s, &["apply", "-f", file.to_str().unwrap()]).await;

    let r = ok(&s, &["history"]).await;
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("VERSION"), "{}", r.stdout);
    assert!(lines[1].starts_with("2*"), "{}", r.stdout);
    assert!(lines[1].contains(" ops "), "{}", r.stdout);
    assert!(lines[1].contains("~per-ip"), "{}", r.stdout);
    assert!(lines[2].starts_with('1'), "{}", r.stdout);

    let r = ok(&s, &["rollback", "1"]).await;
    assert!(
        r.stdout
            .starts_with("rolled back to version 1: now version 3\n"),
        "{}",
        r.stdout
    );
    let h = ok(&s, &["--output", "json", "history"]).await.json();
    let versions: Vec<u64> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(statuses(&s, 6).await, [200, 200, 200, 200, 200, 429]);

    let r = cli(&s, &["rollback", "99"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(live_version(&s).await, "version: 3");
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_or_missing_token_is_refused_with_exit_1() {
    let s = start(&config()).await;
    let url = format!("http://{}", s.admin);
    let wrong = "wrong-token-0123456789";
    let r = cli_at(&url, Some(wrong), &["get"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert!(r.stderr.contains("unauthorized"), "{}", r.stderr);
    assert!(r.stdout.is_empty());

    let r = cli_at(&url, None, &["clients", "list"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("FLOODGATE_ADMIN_TOKEN"), "{}", r.stderr);

    // --token on the command line works as the variable does.
    let r = cli_at(&url, None, &["--token", TOKEN, "history"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains(TOKEN));
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_is_not_there_or_does_not_answer_is_exit_3() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("http://{closed}");
    let r = cli_at(&url, Some(TOKEN), &["history"]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains(&url), "{}", r.stderr);

    // A listener that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let started = std::time::Instant::now();
    let r = cli_at(
        &format!("http://{addr}"),
        Some(TOKEN),
        &["--timeout", "300ms", "get"],
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("within 300ms"), "{}", r.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_and_local_errors_are_exit_2() {
    let s = start(&config()).await;
    for args in [
        &["--bogus", "get"][..],
        &["get", "--format", "toml"],
        &["--output", "xml", "history"],
        &["rollback", "latest"],
        &["override", "set", "per-ip", ME],
        &["apply", "-f", "/nonexistent/policy.yaml"],
        &["--timeout", "10", "get"],
        &["--url", "https://127.0.0.1:9090", "get"],
    ] {
        let r = cli(&s, args).await;
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(!r.stderr.is_empty(), "{args:?}");
    }
    let help = cli(&s, &["--help"]).await;
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Exit codes:"), "{}", help.stdout);
    assert_eq!(live_version(&s).await, "version: 1");
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_read_at_an_older_version_is_not_applied() {
    let s = start(&config()).await;
    let dir = tempfile::tempdir().unwrap();
    // Read at version 1, edited, while someone else changes the policy.
    let read = ok(&s, &["get"]).await.stdout;
    let file = write(&dir, "p.yaml", &read.replace("limit: 5", "limit: 6"));
    let other = write(&dir, "other.yaml", &policy_with_limit("9"));
    ok(&s, &["apply", "-f", other.to_str().unwrap()]).await;
    let r = cli(&s, &["apply", "-f", file.to_str().unwrap()]).await;
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("changed meanwhile"), "{}", r.stderr);
    assert_eq!(live_version(&s).await, "version: 2");
    // Told which version to expect, it applies.
    let r = cli(
        &s,
        &["apply", "--if-match", "2", "-f", file.to_str().unwrap()],
    )
    .await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(live_version(&s).await, "version: 3");
    s.running.shutdown().await.unwrap();
}
