//! A config file that changed wins at start: its policy part becomes a new
//! version (actor `config file`) when it differs from the one last applied
//! from a file; an unchanged file leaves the changes made through the
//! admin API in place. With a state file, and with two replicas on one
//! Redis.

use floodgate_testkit::redis::RedisServer;

use super::proc::*;

fn with_state(limit: u64, state: &std::path::Path) -> String {
    config(limit, "").replacen(
        "admin: { listen: 127.0.0.1:0 }",
        &format!(
            "admin: {{ listen: 127.0.0.1:0, state_file: {} }}",
            state.display()
        ),
        1,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_file_wins_at_start_an_unchanged_one_keeps_admin_changes() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let path = write_config(dir.path(), &with_state(100, &state));
    let p = Proc::spawn(&path);
    assert_eq!(p.policy_etag().await, "\"1\"");
    // Changed through the API: version 2.
    let r = p.put_api_limit(150, "\"1\"").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    p.stop().await;

    // The same file: the API's change stays.
    let p = Proc::spawn(&path);
    assert_eq!(p.policy_etag().await, "\"2\"");
    assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("150"));
    p.stop().await;

    // The file edited while stopped: it wins, as version 3 by the file.
    std::fs::write(&path, with_state(120, &state)).unwrap();
    let p = Proc::spawn(&path);
    assert_eq!(p.policy_etag().await, "\"3\"");
    assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("120"));
    let h = p.history().await;
    assert_eq!(h["history"][0]["actor"], "config file", "{h}");
    assert!(
        p.logs
            .lines()
            .iter()
            .any(|l| l.contains("changed since it was last applied")),
        "{:#?}",
        p.logs.lines()
    );
    p.stop().await;

    // Started again with it: no new version.
    let p = Proc::spawn(&path);
    assert_eq!(p.policy_etag().await, "\"3\"");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_started_with_a_changed_file_make_one_version() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let store = format!(
        "store: {{ kind: redis, url: {}, on_failure: local }}\n",
        redis.url()
    );
    let path = write_config(dir.path(), &config(100, &store));
    let a = Proc::spawn(&path);
    let r = a.put_api_limit(150, "\"1\"").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    a.stop().await;

    std::fs::write(&path, config(120, &store)).unwrap();
    let (a, b) = (Proc::spawn(&path), Proc::spawn(&path));
    for p in [&a, &b] {
        assert!(
            p.limit_becomes(UNKNOWN_KEY, "120", DEADLINE).await,
            "{:?}",
            p.limit(UNKNOWN_KEY).await
        );
        assert_eq!(p.policy_etag().await, "\"3\"");
    }
    let h = a.history().await;
    let by_file = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "config file" && e["kind"] == "policy")
        .count();
    assert_eq!(by_file, 2, "the seed and the changed file, once: {h}");
    a.stop().await;
    b.stop().await;
}
