//! `PUT /v1/policy` gives every status documented for it, and no other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use http::StatusCode;
use serde_json::Value;

use super::common::*;
use super::doc::*;
use super::START;

/// Request headers, owned.
type Headers = Vec<(&'static str, String)>;

const OPS_TOKEN: &str = "ops-token-0001";
const CI_TOKEN: &str = "ci-token-0001";

/// The policy of the examples with two tokens (`ops` an admin, `ci` a
/// reader) and a state file at `state`.
fn config_with_state(state: &Path) -> String {
    format!(
        "{START}admin:\n  listen: 127.0.0.1:0\n  state_file: {}\n  tokens:\n    - {{ name: ops, role: admin, sha256: 05f6eaa0482a1a816fc0329ed8589a048d9a6236a9287e65a13d3f28a6fdfde9 }}\n    - {{ name: ci, role: read, sha256: fcb7f71dde0ee2381fa1f89556744696bfbf882191abf0fb47a6993a513de5c4 }}\n",
        state.display()
    )
    .replace("admin: { listen: 127.0.0.1:0 }\n", "")
}

/// `PUT url` with `headers` and `body`.
async fn put(url: &str, headers: Headers, body: &str) -> Reply {
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    send("PUT", url, &h, body.to_string()).await
}

fn auth(t: &str) -> (&'static str, String) {
    ("authorization", t.to_string())
}

/// Wrong tokens again and again until a 429, which is as documented.
async fn put_until_429(doc: &Value, op: &Value, url: &str, body: &str, mut last: StatusCode) {
    for _ in 0..20 {
        let r = put(
            url,
            vec![auth("Bearer wrong-token"), ("if-match", "\"2\"".into())],
            body,
        )
        .await;
        last = r.status;
        if last == 429 {
            assert_documented_answer(doc, "/v1/policy", "put", op, &r);
            assert!(r.header("retry-after").is_some());
            break;
        }
    }
    assert_eq!(last, 429);
}

#[tokio::test]
async fn put_policy_gives_every_documented_status() {
    let doc = document();
    let op = doc["paths"]["/v1/policy"]["put"].clone();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("policy-state.json");
    let s = start(&config_with_state(&state)).await;
    let url = format!("http://{}/v1/policy", s.admin);
    let ops = format!("Bearer {OPS_TOKEN}");
    let ci = format!("Bearer {CI_TOKEN}");
    let current = get(&url, &[("authorization", &ops)]).await;
    assert_eq!(current.status, 200);
    let policy = current.json();
    let mut invalid = policy.clone();
    invalid["rules"][0]["limits"][0]["limit"] = 0.into();
    // Real changes (a policy put back unchanged makes no new version).
    let changed = |by: u64| {
        let mut p = policy.clone();
        let limit = p["rules"][0]["limits"][0]["limit"].as_u64().unwrap();
        p["rules"][0]["limits"][0]["limit"] = (limit + by).into();
        p.to_string()
    };
    let (good, good_again, bad) = (changed(1), changed(2), invalid.to_string());

    let mut seen = BTreeMap::new();
    let cases: Vec<(u16, Headers, &str)> = vec![
        (200, vec![auth(&ops), ("if-match", "\"1\"".into())], &good),
        (400, vec![auth(&ops), ("if-match", "one".into())], &good),
        (403, vec![auth(&ci), ("if-match", "\"2\"".into())], &good),
        (409, vec![auth(&ops), ("if-match", "\"1\"".into())], &good),
        (422, vec![auth(&ops), ("if-match", "\"2\"".into())], &bad),
        (428, vec![auth(&ops)], &good),
    ];
    for (want, headers, body) in cases {
        let r = put(&url, headers, body).await;
        assert_eq!(r.status, want, "{}", String::from_utf8_lossy(&r.body));
        assert_documented_answer(&doc, "/v1/policy", "put", &op, &r);
        seen.insert(want, ());
    }
    // Over the admin listener's body bound (1 MiB by default): 413.
    let huge = format!("{{\"tiers\": [\"{}\"]}}", "x".repeat(2 << 20));
    let r = put(&url, vec![auth(&ops), ("if-match", "\"2\"".into())], &huge).await;
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_documented_answer(&doc, "/v1/policy", "put", &op, &r);
    seen.insert(413, ());
    // The state file cannot be written: 503, nothing changed.
    std::fs::remove_file(&state).unwrap();
    std::fs::create_dir(&state).unwrap();
    let r = put(
        &url,
        vec![auth(&ops), ("if-match", "\"2\"".into())],
        &good_again,
    )
    .await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_documented_answer(&doc, "/v1/policy", "put", &op, &r);
    seen.insert(503, ());
    // No token: 401; failing again and again: 429.
    let r = put(&url, vec![("if-match", "\"2\"".into())], &good).await;
    assert_eq!(r.status, 401);
    assert_documented_answer(&doc, "/v1/policy", "put", &op, &r);
    seen.insert(401, ());
    put_until_429(&doc, &op, &url, &good, r.status).await;
    seen.insert(429, ());

    let documented: BTreeSet<u16> = op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect();
    let produced: BTreeSet<u16> = seen.into_keys().collect();
    assert_eq!(documented, produced);
    s.running.shutdown().await.unwrap();
}
