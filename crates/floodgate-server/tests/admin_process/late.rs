//! Changes that race: two replicas changing the policy at the same moment
//! without `If-Match`, and changes refused with 503 while Redis was
//! frozen that Redis keeps once it resumes.

use serde_json::{json, Value};

use super::common::*;
use super::proc::*;

/// The audit lines (`policy changed`) of `logs` for `version`.
fn audit_lines(logs: &[String], version: u64) -> Vec<Value> {
    logs.iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["target"] == "floodgate::audit"
                && v["message"] == "policy changed"
                && v["version"] == version
        })
        .collect()
}

async fn put_tier(admin: &str, name: &str) -> Reply {
    send(
        "PUT",
        &format!("{admin}/v1/tiers/{name}"),
        &[],
        String::new(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_without_if_match_at_once_on_two_replicas_all_succeed() {
    let (_redis, _dir, a, b) = two_replicas();
    // Six tiers created through each replica, all at the same moment.
    let names: Vec<String> = (0..12).map(|i| format!("t{i}")).collect();
    let answers = futures_util::future::join_all(names.iter().enumerate().map(|(i, n)| {
        let admin = if i % 2 == 0 { &a.admin } else { &b.admin };
        put_tier(admin, n)
    }))
    .await;
    for (n, r) in names.iter().zip(&answers) {
        assert_eq!(r.status, 200, "PUT /v1/tiers/{n}: {}", text(r));
    }
    // Every change is a version of its own, and none was lost.
    let want = names.len() as u64 + 1;
    assert!(
        wait_until(DEADLINE, || async {
            a.policy_etag().await == format!("\"{want}\"")
                && b.policy_etag().await == format!("\"{want}\"")
        })
        .await,
        "A at {}, B at {}",
        a.policy_etag().await,
        b.policy_etag().await
    );
    let tiers = get(&format!("{}/v1/tiers", b.admin), &[]).await.json();
    for n in &names {
        assert!(
            tiers.to_string().contains(&format!("\"{n}\"")),
            "{n}: {tiers}"
        );
    }
    let mut logs = a.stop().await;
    logs.extend(b.stop().await);
    for v in 2..=want {
        assert_eq!(audit_lines(&logs, v).len(), 1, "version {v}: {logs:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_refused_while_redis_is_frozen_and_kept_later_has_one_audit_line() {
    let (redis, _dir, a, b) = two_replicas();
    redis.pause();
    let r = a.put_api_limit(175, "\"1\"").await;
    assert_eq!(r.status, 503, "{}", text(&r));
    redis.resume();
    // Redis runs the queued change when it resumes: both replicas apply
    // it as version 2.
    for p in [&a, &b] {
        assert!(
            p.limit_becomes(UNKNOWN_KEY, "175", DEADLINE).await,
            "{:?}",
            p.limit(UNKNOWN_KEY).await
        );
    }
    let logs_a = a.stop().await;
    let logs_b = b.stop().await;
    let on_a = audit_lines(&logs_a, 2);
    assert_eq!(on_a.len(), 1, "{logs_a:#?}");
    assert_eq!(on_a[0]["confirmed_late"], true, "{}", on_a[0]);
    assert_eq!(on_a[0]["actor"], "anonymous", "{}", on_a[0]);
    assert!(audit_lines(&logs_b, 2).is_empty(), "{logs_b:#?}");
    // The refusal itself is logged where it happened.
    assert!(
        logs_a
            .iter()
            .any(|l| l.contains("policy change refused") && l.contains("floodgate::audit")),
        "{logs_a:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_refused_while_redis_is_frozen_never_comes_back() {
    let (redis, _dir, a, b) = two_replicas();
    let key = "never-shown-key-0123456789";
    redis.pause();
    let r = send(
        "POST",
        &format!("{}/v1/clients", a.admin),
        &[],
        json!({"tier": "pro", "api_key": key}).to_string(),
    )
    .await;
    assert_eq!(r.status, 503, "{}", text(&r));
    redis.resume();
    // Redis keeps the queued creation when it resumes (clients change
    // 1); the replica that was refused revokes it at once (change 2).
    for p in [&a, &b] {
        let url = format!("{}/v1/clients", p.admin);
        assert!(
            wait_until(DEADLINE, || async {
                get(&url, &[]).await.json()["seq"] == 2
            })
            .await,
            "{}",
            get(&url, &[]).await.json()
        );
        let clients = get(&url, &[]).await.json();
        assert_eq!(clients["clients"], json!([]), "{clients}");
        // The key is the default tier's, as it always was.
        assert_eq!(p.limit(key).await.as_deref(), Some("100"));
    }
    let history = a.history().await;
    assert!(
        history["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "replica" && e["kind"] == "clients"),
        "{history}"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_state_file_is_a_logged_503_that_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let file = state.join("policy.json");
    let extra = format!(
        "admin: {{ listen: 127.0.0.1:0, state_file: {} }}\n",
        file.display()
    );
    let text_config = config(100, "").replace("admin: { listen: 127.0.0.1:0 }\n", &extra);
    let path = write_config(dir.path(), &text_config);
    let a = Proc::spawn(&path);
    // The state file's directory becomes a plain file: the next write
    // fails, whoever runs the server (root too).
    assert!(
        wait_until(DEADLINE, || async { file.exists() }).await,
        "the state file was not written"
    );
    std::fs::remove_dir_all(&state).unwrap();
    std::fs::write(&state, b"not a directory").unwrap();
    let r = a.put_api_limit(175, "").await;
    assert_eq!(r.status, 503, "{}", text(&r));
    let body = text(&r);
    assert!(body.contains("policy.json"), "{body}");
    assert!(
        !body.contains("Redis") && !body.contains("did not confirm"),
        "{body}"
    );
    assert_eq!(a.limit(UNKNOWN_KEY).await.as_deref(), Some("100"));
    let logs = a.stop().await;
    assert!(
        logs.iter()
            .any(|l| l.contains("policy change refused") && l.contains("policy.json")),
        "{logs:#?}"
    );
}
