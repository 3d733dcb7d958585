//! What the process logs: rejections with a key fingerprint, failed admin
//! logins, both limited and never with a secret in clear.

use super::common::*;
use super::kit::*;

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
