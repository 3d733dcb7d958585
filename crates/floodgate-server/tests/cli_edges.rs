//! The command line at its edges: a token nobody checks, a rollback that
//! changes only the order of things, `--help` with its variables unset,
//! and output piped into a reader that goes away (`| head`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::*;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `floodgate ARGS` with the admin variables set as given (unset when
/// `None`), on a blocking thread so the server keeps serving meanwhile.
async fn floodgate(url: Option<&str>, token: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_floodgate"));
    cmd.args(args)
        .env_remove("FLOODGATE_ADMIN_URL")
        .env_remove("FLOODGATE_ADMIN_TOKEN");
    if let Some(u) = url {
        cmd.env("FLOODGATE_ADMIN_URL", u);
    }
    if let Some(t) = token {
        cmd.env("FLOODGATE_ADMIN_TOKEN", t);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .unwrap();
    Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_sent_to_a_listener_without_tokens_is_said_to_be_unchecked() {
    let s = start(BASE).await;
    let url = format!("http://{}", s.admin);
    let r = floodgate(Some(&url), Some("made-up-token"), &["admin", "history"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("your token was not checked"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.matches("not checked").count(), 1, "{}", r.stderr);
    // Without a token there is nothing to say.
    let r = floodgate(Some(&url), None, &["admin", "history"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("not checked"), "{}", r.stderr);
    // The answer itself says so, to any client.
    let with = get(
        &format!("{url}/v1/policy"),
        &[("authorization", "Bearer made-up")],
    )
    .await;
    assert!(
        with.header("floodgate-actor")
            .is_some_and(|v| v.contains("not checked")),
        "{:?}",
        with.headers
    );
    let without = get(&format!("{url}/v1/policy"), &[]).await;
    assert_eq!(without.header("floodgate-actor"), None);
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_that_reorders_says_what_changed_and_one_to_the_live_policy_says_no_change() {
    let two_rules = "  - name: other\n    match: { path: /other }\n    key: ip\n    limits:\n      - { algorithm: fixed_window, limit: 5, window: 1m }\n";
    let s = start(&format!("{BASE}{two_rules}")).await;
    let url = format!("http://{}", s.admin);
    // Version 2: the same rules in the other order.
    let r = get(&format!("{url}/v1/policy"), &[]).await;
    let mut doc = r.json();
    doc["rules"].as_array_mut().unwrap().reverse();
    let r = send(
        "PUT",
        &format!("{url}/v1/policy"),
        &[("if-match", "\"1\"")],
        doc.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["diff"]["other"], serde_json::json!(["rules"]));
    let r = floodgate(Some(&url), None, &["admin", "rollback", "1"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("rolled back to version 1: now version 3\n")
            && r.stdout.contains("order or other fields): rules")
            && !r.stdout.contains("no change"),
        "{}",
        r.stdout
    );
    // Version 3 is version 1's document: rolling back to it again is no
    // change, and says so.
    let r = floodgate(Some(&url), None, &["admin", "rollback", "1"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "version 1 is the live policy already: no change (still version 3)\n"
    );
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn help_does_not_show_unset_variables_as_empty_nor_two_format_options() {
    let r = floodgate(None, None, &["admin", "--help"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("[env: FLOODGATE_ADMIN_URL]"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("FLOODGATE_ADMIN_URL="), "{}", r.stdout);
    let r = floodgate(None, None, &["admin", "get", "--help"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("--output"), "{}", r.stdout);
    assert!(!r.stdout.contains("--format"), "{}", r.stdout);
}

/// Runs `floodgate ARGS`, reads one line of its output and closes the
/// pipe: it must end quietly, with status 0.
fn first_line_then_close(args: &[&str]) -> (String, i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    drop(lines);
    let out = child.wait_with_output().unwrap();
    (
        first,
        out.status.code().expect("exited"),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn output_piped_into_head_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("floodgate.yaml");
    std::fs::write(&config, BASE).unwrap();
    // A trace long enough to fill the pipe many times over.
    let trace = dir.path().join("trace.jsonl");
    let mut f = std::fs::File::create(&trace).unwrap();
    for i in 0..20_000 {
        writeln!(
            f,
            r#"{{"t": {}, "ip": "10.0.0.1", "path": "/api/v1/data"}}"#,
            f64::from(i) / 100.0
        )
        .unwrap();
    }
    drop(f);
    let (first, code, stderr) = first_line_then_close(&[
        "simulate",
        "--config",
        config.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert!(first.starts_with('{'), "{first}");
    assert_eq!((code, stderr.as_str()), (0, ""));
}

#[test]
fn import_says_each_error_once_and_each_warning_once() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "domain: d\ndescriptors:\n  - key: a\n    rate_limit: { unit: fortnight, requests_per_unit: 1 }\n",
    )
    .unwrap();
    let run = |p: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_floodgate"))
            .args(["import", "envoy-ratelimit"])
            .arg(p)
            .output()
            .expect("the binary runs")
    };
    let out = run(&bad);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.matches("unknown unit").count(), 1, "{stderr}");
    assert!(stderr.contains("bad.yaml:4:"), "{stderr}");
    let missing = run(&dir.path().join("missing.yaml"));
    let stderr = String::from_utf8(missing.stderr).unwrap();
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
    // A field accepted without its meaning: said once on stderr, and at
    // the top of the policy file printed.
    let quota = dir.path().join("quota.yaml");
    std::fs::write(
        &quota,
        "domain: d\ndescriptors:\n  - key: a\n    quota_mode: true\n    rate_limit: { unit: second, requests_per_unit: 0 }\n",
    )
    .unwrap();
    let out = run(&quota);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(stderr.contains("descriptors[0].quota_mode"), "{stderr}");
    assert!(stderr.contains("quota.yaml:4:"), "{stderr}");
    assert!(
        stdout.contains("# warning: ") && stdout.contains("limit: 0"),
        "{stdout}"
    );
    // `check-config` of a config file that reads the same file says it too.
    let config = dir.path().join("floodgate.yaml");
    std::fs::write(&config, "envoy_ratelimit: quota.yaml\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .arg("check-config")
        .arg(&config)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.matches("warning: ").count(), 1, "{stdout}");
    assert!(stdout.contains("quota.yaml:4:"), "{stdout}");
}
