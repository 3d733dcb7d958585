//! Admin API authorization on one in-process server with named tokens:
//! every write and read endpoint against no token, a wrong token, a read
//! token and an admin token; the audit trail names the token; overrides
//! expire on the server's clock; counters of an IP-keyed rule are
//! inspected and reset.

mod common;

use std::time::Duration;

use common::*;
use floodgate_admin::auth::FAILURE_REFILL;
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "admin-token-4b1d9e0c7a52";
const READ_TOKEN: &str = "read-token-93fa61c08d27";
const WRONG_TOKEN: &str = "not-a-token-of-this-server";

fn sha256(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `BASE`'s policy with an admin token `ops-admin` and a read token
/// `dash-read`.
fn config() -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n  tokens:\n    - {{ name: ops-admin, role: admin, sha256: {} }}\n    - {{ name: dash-read, role: read, sha256: {} }}\ntiers: [free, pro]\ndefault_tier: free\nrules:\n  - name: per-ip\n    match: {{ path: /api/v1/data }}\n    key: ip\n    limits:\n      - {{ algorithm: fixed_window, limit: 5, window: 1m }}\n",
        sha256(ADMIN_TOKEN),
        sha256(READ_TOKEN)
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn call(method: &str, url: &str, token: Option<&str>, body: &Value) -> Reply {
    let auth = token.map(bearer);
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    send(method, url, &headers, body).await
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The live version, as the ETag of `GET /v1/policy` gives it.
async fn version(admin: &str) -> String {
    let r = call(
        "GET",
        &format!("{admin}/v1/policy"),
        Some(ADMIN_TOKEN),
        &Value::Null,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    r.header("etag").expect("an ETag").to_string()
}

/// An admin API call: `(method, path, body)`.
type Endpoint = (&'static str, String, Value);

/// The endpoints that write and those that only read, with a body each
/// (`policy` for those that take the whole policy).
fn endpoints(policy: &Value) -> (Vec<Endpoint>, Vec<Endpoint>) {
    let rule_x = json!({"limits": [{"algorithm": "fixed_window", "limit": 9, "window": "1h"}]});
    let writes: Vec<Endpoint> = vec![
        ("PUT", "/v1/policy".into(), policy.clone()),
        ("PUT", "/v1/rules/x".into(), rule_x.clone()),
        ("DELETE", "/v1/rules/x".into(), Value::Null),
        ("POST", "/v1/clients".into(), json!({"tier": "pro"})),
        ("PATCH", "/v1/clients/x".into(), json!({"name": "renamed"})),
        ("DELETE", "/v1/clients/x".into(), Value::Null),
        ("PUT", "/v1/overrides/r/i".into(), rule_x.clone()),
        ("DELETE", "/v1/overrides/r/i".into(), Value::Null),
        (
            "DELETE",
            "/v1/counters?rule=per-ip&key=i:127.0.0.1".into(),
            Value::Null,
        ),
        ("POST", "/v1/policy/rollback".into(), json!({"version": 1})),
    ];
    let reads: Vec<Endpoint> = vec![
        ("GET", "/v1/policy".into(), Value::Null),
        ("GET", "/v1/clients".into(), Value::Null),
        (
            "GET",
            "/v1/counters?rule=per-ip&key=i:127.0.0.1".into(),
            Value::Null,
        ),
        ("GET", "/v1/policy/history".into(), Value::Null),
        ("POST", "/v1/policy/validate".into(), policy.clone()),
    ];
    (writes, reads)
}

/// Every endpoint refuses no token and a wrong token (401), and the read
/// token on the writes (403); the read token passes on the reads.
async fn assert_refused_without_the_admin_role(
    s: &Server,
    admin: &str,
    writes: &[Endpoint],
    reads: &[Endpoint],
) {
    for (method, path, body) in writes.iter().chain(reads) {
        let url = format!("{admin}{path}");
        let is_write = writes.iter().any(|w| w.0 == *method && w.1 == *path);
        for token in [None, Some(WRONG_TOKEN)] {
            // Failed attempts are limited per address; one more is allowed
            // every FAILURE_REFILL of the server's clock.
            s.clock.advance(FAILURE_REFILL);
            let r = call(method, &url, token, body).await;
            assert_eq!(
                r.status,
                401,
                "{method} {path} with {token:?}: {}",
                text(&r)
            );
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
            assert_eq!(r.json()["error"], "unauthorized");
        }
        let r = call(method, &url, Some(READ_TOKEN), body).await;
        if is_write {
            assert_eq!(
                r.status,
                403,
                "{method} {path} with the read token: {}",
                text(&r)
            );
            assert_eq!(r.json()["error"], "forbidden");
        } else {
            assert!(
                r.status != 401 && r.status != 403 && !r.status.is_server_error(),
                "{method} {path} with the read token: {} {}",
                r.status,
                text(&r)
            );
        }
    }
}

/// `GET /v1/policy/history` with the read token.
async fn history(admin: &str) -> Value {
    call(
        "GET",
        &format!("{admin}/v1/policy/history"),
        Some(READ_TOKEN),
        &Value::Null,
    )
    .await
    .json()
}

/// Every change of the history `h` is attributed to the admin token's
/// name (the first entry, the config file's, to the file).
fn assert_changes_attributed_to_the_admin_token(h: &Value) {
    let entries = h["history"].as_array().unwrap();
    // The rules' creation and removal, the client's creation (an entry
    // of its own, no version), and the file's first version; the
    // rollback to 1 finds the live document already there: no version.
    assert!(entries.len() >= 4, "{h}");
    assert!(
        entries
            .iter()
            .any(|e| e["summary"].as_str().unwrap().starts_with("clients +")),
        "{h}"
    );
    assert!(
        entries[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("ops-admin"),
        "{h}"
    );
    for e in &entries[..entries.len() - 1] {
        let actor = e["actor"].as_str().unwrap();
        assert!(
            actor == "ops-admin" || actor == "ops-admin (rollback to 1)",
            "{e}"
        );
    }
    assert_eq!(entries.last().unwrap()["actor"], "config file");
}

#[tokio::test]
async fn every_endpoint_needs_a_token_and_writes_need_the_admin_role() {
    let s = start(&config()).await;
    let admin = format!("http://{}", s.admin);
    let policy = call(
        "GET",
        &format!("{admin}/v1/policy"),
        Some(ADMIN_TOKEN),
        &Value::Null,
    )
    .await
    .json();
    let (writes, reads) = endpoints(&policy);
    let before = version(&admin).await;
    assert_eq!(before, "\"1\"");

    assert_refused_without_the_admin_role(&s, &admin, &writes, &reads).await;
    // Nothing the read token or no token asked for changed the policy.
    assert_eq!(version(&admin).await, before);
    let h = history(&admin).await;
    assert_eq!(h["history"].as_array().map(Vec::len), Some(1), "{h}");

    // The admin token passes everywhere (each answer is the handler's).
    for (method, path, body) in writes.iter().chain(&reads) {
        let url = format!("{admin}{path}");
        let r = call(method, &url, Some(ADMIN_TOKEN), body).await;
        assert!(
            r.status != 401 && r.status != 403 && !r.status.is_server_error(),
            "{method} {path} with the admin token: {} {}",
            r.status,
            text(&r)
        );
    }
    // PUT /v1/policy needs If-Match: with it, the admin token changes it.
    let etag = version(&admin).await;
    let r = send(
        "PUT",
        &format!("{admin}/v1/policy"),
        &[("authorization", &bearer(ADMIN_TOKEN)), ("if-match", &etag)],
        policy.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_ne!(version(&admin).await, before);

    // Every change is attributed to the admin token's name.
    assert_changes_attributed_to_the_admin_token(&history(&admin).await);
    s.running.shutdown().await.unwrap();
}

async fn data_limit(s: &Server) -> Option<String> {
    get(&format!("http://{}/api/v1/data", s.public), &[])
        .await
        .header("x-ratelimit-limit")
        .map(str::to_string)
}

#[tokio::test]
async fn an_override_applies_until_it_expires_on_the_server_clock() {
    let s = start(&config()).await;
    let admin = format!("http://{}", s.admin);
    let o = format!("{admin}/v1/overrides/per-ip/i:127.0.0.1");
    assert_eq!(data_limit(&s).await.as_deref(), Some("5"));

    let r = call(
        "PUT",
        &o,
        Some(ADMIN_TOKEN),
        &json!({
            "limits": [{"algorithm": "fixed_window", "limit": 50, "window": "1h"}],
            "expires_in": "1h",
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(data_limit(&s).await.as_deref(), Some("50"), "applies now");
    let list = call(
        "GET",
        &format!("{admin}/v1/overrides"),
        Some(READ_TOKEN),
        &Value::Null,
    )
    .await
    .json();
    let listed = list["overrides"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["rule"], "per-ip");
    assert_eq!(listed[0]["identity"], "i:127.0.0.1");
    assert_eq!(listed[0]["expires_at"], T0 / 1_000_000 + 3600);

    // One second before the expiry it still applies.
    s.clock.advance(Duration::from_secs(3599));
    assert_eq!(data_limit(&s).await.as_deref(), Some("50"));
    s.clock.advance(Duration::from_secs(2));
    assert_eq!(
        data_limit(&s).await.as_deref(),
        Some("5"),
        "the rule's own limit applies again"
    );
    let list = call(
        "GET",
        &format!("{admin}/v1/overrides"),
        Some(READ_TOKEN),
        &Value::Null,
    )
    .await
    .json();
    assert_eq!(list["overrides"], json!([]), "{list}");
    let r = call("GET", &o, Some(READ_TOKEN), &Value::Null).await;
    assert_eq!(r.status, 404, "{}", text(&r));
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn counters_of_an_ip_keyed_rule_are_inspected_and_reset() {
    let s = start(&config()).await;
    let admin = format!("http://{}", s.admin);
    let data = format!("http://{}/api/v1/data", s.public);
    for _ in 0..3 {
        assert_eq!(get(&data, &[]).await.status, 200);
    }
    let q = format!("{admin}/v1/counters?rule=per-ip&key=i:127.0.0.1");
    let c = call("GET", &q, Some(READ_TOKEN), &Value::Null).await;
    assert_eq!(c.status, 200, "{}", text(&c));
    let c = c.json();
    assert_eq!(c["limits"].as_array().map(Vec::len), Some(1), "{c}");
    let l = &c["limits"][0];
    assert_eq!(l["scope"], "rule");
    assert_eq!(l["limit"], 5);
    // What the next request would be decided: allowed, leaving 1.
    assert_eq!(l["remaining"], 1, "{c}");
    assert_eq!(l["allowed"], true);
    // Inspecting consumed nothing.
    assert_eq!(
        call("GET", &q, Some(READ_TOKEN), &Value::Null).await.json(),
        c
    );
    // Another address's counters are untouched and full.
    let other = call(
        "GET",
        &format!("{admin}/v1/counters?rule=per-ip&key=i:203.0.113.7"),
        Some(READ_TOKEN),
        &Value::Null,
    )
    .await
    .json();
    assert_eq!(other["limits"][0]["remaining"], 4, "{other}");

    // Resetting needs the admin role.
    assert_eq!(
        call("DELETE", &q, Some(READ_TOKEN), &Value::Null)
            .await
            .status,
        403
    );
    assert_eq!(
        call("GET", &q, Some(READ_TOKEN), &Value::Null).await.json()["limits"][0]["remaining"],
        1
    );
    let r = call("DELETE", &q, Some(ADMIN_TOKEN), &Value::Null).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.json()["reset"], 1);
    assert_eq!(
        call("GET", &q, Some(READ_TOKEN), &Value::Null).await.json()["limits"][0]["remaining"],
        4
    );
    let r = get(&data, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("4"));
    s.running.shutdown().await.unwrap();
}
