//! The policy as a whole: `get`, `apply` (with its diff, dry run and
//! refusals), changes made meanwhile, `history` and `rollback`.

use std::net::SocketAddr;

use serde_json::Value;

use super::common::*;
use super::kit::*;

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
    assert!(
        r.stdout.contains("counters kept\n  per-ip/per-ip\n"),
        "{}",
        r.stdout
    );
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
                "PUT",
                &format!("http://{admin}/v1/tiers/meanwhile"),
                &[("authorization", &auth)],
                "",
            )
            .await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
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
    let r = ok(&s, &["get"]).await;
    assert!(r.stdout.contains("meanwhile"), "{}", r.stdout);
    assert_eq!(statuses(&s, 6).await, [200, 200, 200, 200, 200, 429]);
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
    // The config file's clients (a change of the clients: no version),
    // kept at start after its policy (version 1).
    assert!(lines[2].starts_with("- "), "{}", r.stdout);
    assert!(lines[2].contains("clients imported: 1"), "{}", r.stdout);
    assert!(lines[3].starts_with('1'), "{}", r.stdout);

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
        .filter(|e| e["kind"] == "policy")
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    // The config file's clients were kept at start: an entry of their own.
    assert!(h["history"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "clients" && e["actor"] == "config file"));
    assert_eq!(statuses(&s, 6).await, [200, 200, 200, 200, 200, 429]);

    let r = cli(&s, &["rollback", "99"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(live_version(&s).await, "version: 3");
    s.running.shutdown().await.unwrap();
}
