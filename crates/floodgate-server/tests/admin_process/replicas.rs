//! Replicas following every change, a state file across restarts and
//! SIGHUP, and API keys never written anywhere in clear.

use std::path::Path;

use floodgate_testkit::redis::RedisServer;
use serde_json::{json, Value};

use super::common::*;
use super::proc::*;

/// The client `fp` (key `key`) revoked on B: unknown to C, so the default
/// tier's limit.
async fn revoke_on_b(b: &Proc, c: &Proc, fp: &str, key: &str) {
    let r = send("DELETE", &format!("{}/v1/clients/{fp}", b.admin), &[], "").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(
        c.limit_becomes(key, "150", PROPAGATION).await,
        "C still knows the revoked key: {:?}",
        c.limit(key).await
    );
    let list = get(&format!("{}/v1/clients", c.admin), &[]).await.json();
    assert_eq!(list["clients"], json!([]), "{list}");
}

/// C rolled back to version 1 (the limit of 100): A and B follow, and the
/// history says so. Clients are not part of a version: the revoked key
/// stays revoked.
async fn roll_back_on_c(a: &Proc, b: &Proc, c: &Proc, key: &str) {
    let r = send(
        "POST",
        &format!("{}/v1/policy/rollback", c.admin),
        &[("if-match", "\"2\"")],
        json!({"version": 1}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.json()["version"], 3);
    for (name, p) in [("A", a), ("B", b)] {
        assert!(
            p.limit_becomes(UNKNOWN_KEY, "100", PROPAGATION).await,
            "{name} did not apply the rollback: {:?}",
            p.limit(UNKNOWN_KEY).await
        );
        assert_eq!(p.limit(key).await.as_deref(), Some("100"), "{name}");
    }
    let h = a.history().await;
    assert_eq!(h["history"][0]["version"], 3);
    assert_eq!(h["history"][0]["actor"], "anonymous (rollback to 1)");
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

    // A client created on A is a pro client on C at once; clients make
    // no policy version.
    let (key, fp) = a
        .create_client(json!({"tier": "pro", "name": "acme"}))
        .await;
    assert!(
        c.limit_becomes(&key, "400", PROPAGATION).await,
        "C does not know the new client: {:?}",
        c.limit(&key).await
    );
    assert_eq!(c.policy_etag().await, "\"2\"");

    // Revoked on B: unknown to C, so the default tier's limit.
    revoke_on_b(&b, &c, &fp, &key).await;

    // Rolled back on C to version 1: A and B follow.
    roll_back_on_c(&a, &b, &c, &key).await;

    // A client created again on C, then B killed and started again: it
    // comes back at version 3 with the client, and enforces both.
    let (key2, _) = c.create_client(json!({"tier": "pro"})).await;
    let mut logs = b.kill().await;
    let b = Proc::spawn(&path);
    assert_eq!(b.policy_etag().await, "\"3\"");
    assert_eq!(b.limit(&key2).await.as_deref(), Some("400"));
    assert_eq!(b.limit(UNKNOWN_KEY).await.as_deref(), Some("100"));
    // And follows the next change.
    let r = a.put_api_limit(170, "\"3\"").await;
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
        assert_no_key("a log line", l, &[&key, &key2]);
    }
}

/// After SIGHUP on an edited file: version 3, by the config file, and its
/// limit.
async fn assert_the_file_made_version_3(p: &Proc) {
    let reloaded = p
        .logs
        .wait_for("config reloaded; counters of unchanged limits kept", 1)
        .await;
    assert_eq!(reloaded[0]["policy_version"], 3, "{reloaded:?}");
    assert_eq!(p.policy_etag().await, "\"3\"");
    assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("120"));
    let h = p.history().await;
    assert_eq!(h["history"][0]["version"], 3);
    assert_eq!(h["history"][0]["actor"], "config file");
}

/// After SIGHUP on a file whose policy part is untouched: the API change
/// (version 4) stays.
async fn assert_the_api_change_stayed(p: &Proc) {
    let reloaded = p
        .logs
        .wait_for("config reloaded; counters of unchanged limits kept", 2)
        .await;
    assert!(reloaded[1]["policy_version"].is_null(), "{reloaded:?}");
    assert_eq!(p.policy_etag().await, "\"4\"");
    assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("130"));
    assert_eq!(p.history().await["history"][0]["actor"], "anonymous");
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
    assert_eq!(p.policy_etag().await, "\"2\"");
    let mut logs = p.stop().await;

    // The state file has the client by its digest only.
    let kept = std::fs::read_to_string(&state).unwrap();
    assert!(kept.contains(&fp), "{kept}");
    assert_no_key("the state file", &kept, &[&key, file_key]);

    // Started again: version 2, its limits and the client.
    let p = Proc::spawn(&path);
    assert_eq!(p.policy_etag().await, "\"2\"");
    assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("150"));
    assert_eq!(p.limit(&key).await.as_deref(), Some("400"));
    let h = p.history().await;
    assert!(
        h["history"].as_array().unwrap()[..2]
            .iter()
            .any(|e| e["kind"] == "clients"
                && e["summary"].as_str().unwrap().starts_with("clients +")),
        "{h}"
    );

    // The file's policy part edited, then SIGHUP: a new version by the
    // config file.
    std::fs::write(&path, with_state(120)).unwrap();
    p.signal("-HUP");
    assert_the_file_made_version_3(&p).await;

    // An API change, then SIGHUP with the policy part untouched: the API
    // change stays.
    let r = p.put_api_limit(130, "\"3\"").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    p.signal("-HUP");
    assert_the_api_change_stayed(&p).await;
    logs.extend(p.stop().await);

    // Kept across a restart too.
    let p = Proc::spawn(&path);
    assert_eq!(p.policy_etag().await, "\"4\"");
    assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("130"));
    logs.extend(p.stop().await);
    let kept = std::fs::read_to_string(&state).unwrap();
    assert_no_key("the state file", &kept, &[&key, file_key]);
    for l in &logs {
        assert_no_key("a log line", l, &[&key, file_key]);
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
