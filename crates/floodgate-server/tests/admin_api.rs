//! The admin API end to end on one server: the policy with its version,
//! changes with If-Match, 422 with paths, clients, overrides, counters,
//! history and rollback.

mod common;

use common::*;
use serde_json::{json, Value};

const POLICY: &str = "listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\ntiers: [free, pro]\ndefault_tier: free\nrules:\n  - name: api\n    match: { path: /api/v1/data }\n    key: api_key\n    limits:\n      - { algorithm: fixed_window, limit: 2, window: 1h }\n    tiers:\n      pro: [{ algorithm: fixed_window, limit: 4, window: 1h }]\n";

async fn call(method: &str, url: &str, headers: &[(&str, &str)], body: Value) -> Reply {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    send(method, url, headers, body).await
}

async fn statuses(url: &str, key: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(get(url, &[("x-api-key", key)]).await.status.as_u16());
    }
    out
}

#[tokio::test]
async fn policy_changes_are_versioned_validated_and_applied() {
    let s = start(POLICY).await;
    let admin = format!("http://{}", s.admin);
    let data = format!("http://{}/api/v1/data", s.public);

    let r = get(&format!("{admin}/v1/policy"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some("\"1\""));
    let mut doc = r.json();
    assert_eq!(doc["rules"][0]["name"], "api");
    let yaml = get(&format!("{admin}/v1/policy?format=yaml"), &[]).await;
    assert!(String::from_utf8_lossy(&yaml.body).contains("name: api"));

    // Without If-Match: 428; with a stale one: 409; nothing changes.
    doc["rules"][0]["limits"][0]["limit"] = json!(3);
    let put = |h: &'static [(&'static str, &'static str)], d: Value| {
        let url = format!("{admin}/v1/policy");
        async move { call("PUT", &url, h, d).await }
    };
    assert_eq!(put(&[], doc.clone()).await.status, 428);
    let r = put(&[("if-match", "\"7\"")], doc.clone()).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["current_version"], 1);
    // Invalid: 422 with the JSON path, nothing changed.
    let mut bad = doc.clone();
    bad["rules"][0]["limits"][0]["limit"] = json!(0);
    bad["default_tier"] = json!("gold");
    let r = put(&[("if-match", "\"1\"")], bad).await;
    assert_eq!(r.status, 422);
    let fields: Vec<String> = r.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, ["default_tier", "rules[0].limits[0].limit"]);
    assert_eq!(statuses(&data, "k1", 3).await, [200, 200, 429]);

    // A dry run names the change and the counters it restarts.
    let r = call(
        "POST",
        &format!("{admin}/v1/policy/validate"),
        &[],
        doc.clone(),
    )
    .await;
    assert_eq!(r.status, 200);
    // A new limit of the same window: its counts carry over.
    assert_eq!(r.json()["diff"]["counters_kept"], json!(["api/api"]));
    assert_eq!(r.json()["diff"]["counters_restarted"], json!([]));
    let r = put(&[("if-match", "\"1\"")], doc.clone()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("etag"), Some("\"2\""));
    // The count carried over: k1's two of the old 2 leave one of the new 3.
    assert_eq!(statuses(&data, "k1", 4).await, [200, 429, 429, 429]);

    // Rollback to version 1 is version 3.
    let r = call(
        "POST",
        &format!("{admin}/v1/policy/rollback"),
        &[],
        json!({"version": 1}),
    )
    .await;
    assert_eq!(r.json()["version"], 3);
    let h = get(&format!("{admin}/v1/policy/history"), &[]).await.json();
    let versions: Vec<u64> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(h["history"][0]["actor"], "anonymous (rollback to 1)");
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn clients_overrides_and_counters() {
    let s = start(POLICY).await;
    let admin = format!("http://{}", s.admin);
    let data = format!("http://{}/api/v1/data", s.public);

    // A generated key, shown once; a pro client from then on.
    let r = call(
        "POST",
        &format!("{admin}/v1/clients"),
        &[],
        json!({"tier": "pro", "name": "acme"}),
    )
    .await;
    assert_eq!(r.status, 201);
    let created = r.json();
    let key = created["api_key"].as_str().unwrap().to_string();
    let fp = created["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(statuses(&data, &key, 5).await, [200, 200, 200, 200, 429]);
    let list = get(&format!("{admin}/v1/clients"), &[]).await;
    assert!(!String::from_utf8_lossy(&list.body).contains(&key));
    assert_eq!(list.json()["clients"][0]["fingerprint"], fp.as_str());
    let policy = get(&format!("{admin}/v1/policy"), &[]).await;
    assert!(!String::from_utf8_lossy(&policy.body).contains(&key));

    // Counters: inspected without consuming, then reset.
    let q = format!("{admin}/v1/counters?rule=api&key=k:{fp}");
    let c = get(&q, &[]).await.json();
    let pro = c["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["scope"] == "tier:pro")
        .unwrap()
        .clone();
    assert_eq!(
        (pro["remaining"].as_u64(), pro["allowed"].as_bool()),
        (Some(0), Some(false))
    );
    assert_eq!(get(&q, &[]).await.json(), c, "inspecting consumed nothing");
    let r = call("DELETE", &q, &[], Value::Null).await;
    assert_eq!(r.json()["reset"], 1);
    assert_eq!(statuses(&data, &key, 1).await, [200]);

    // An override for this client, then its removal.
    let o = format!("{admin}/v1/overrides/api/k:{fp}");
    let r = call("PUT", &o, &[], json!({"limits": [{"algorithm": "fixed_window", "limit": 10, "window": "1h"}], "expires_in": "24h"})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        statuses(&data, &key, 11)
            .await
            .iter()
            .filter(|s| **s == 200)
            .count(),
        10
    );
    assert_eq!(call("DELETE", &o, &[], Value::Null).await.status, 200);
    assert_eq!(call("DELETE", &o, &[], Value::Null).await.status, 404);

    // Revoked: the key is unknown, so it is a free client again.
    assert_eq!(
        call(
            "DELETE",
            &format!("{admin}/v1/clients/{fp}"),
            &[],
            Value::Null
        )
        .await
        .status,
        200
    );
    let c = get(&format!("{admin}/v1/clients"), &[]).await.json();
    assert_eq!(c["clients"], json!([]));
    s.running.shutdown().await.unwrap();
}
