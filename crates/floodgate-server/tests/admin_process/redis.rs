//! Redis going away, freezing or coming back empty during changes.

use floodgate_testkit::redis::RedisServer;
use serde_json::json;

use super::common::*;
use super::proc::*;

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_killed_a_change_is_refused_and_nothing_changes() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &redis_config(&redis.url()));
    let a = Proc::spawn(&path);
    let b = Proc::spawn(&path);
    let r = a.put_api_limit(150, "\"1\"").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(b.limit_becomes(UNKNOWN_KEY, "150", PROPAGATION).await);

    redis.kill();
    let r = a.put_api_limit(175, "\"2\"").await;
    assert_eq!(r.status, 503, "{}", text(&r));
    assert_eq!(r.json()["error"], "policy_store_unavailable");
    let r = send(
        "POST",
        &format!("{}/v1/clients", b.admin),
        &[],
        json!({"tier": "pro"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 503, "{}", text(&r));
    for p in [&a, &b] {
        let r = get(&format!("{}/v1/policy", p.admin), &[]).await;
        assert_eq!(r.header("etag"), Some("\"2\""));
        assert_eq!(r.json()["rules"][0]["limits"][0]["limit"], 150);
        let clients = get(&format!("{}/v1/clients", p.admin), &[]).await.json();
        assert_eq!(
            clients["total"], 0,
            "the refused client was not added: {clients}"
        );
        // Still enforced (decided locally while Redis is away).
        assert_eq!(p.limit(UNKNOWN_KEY).await.as_deref(), Some("150"));
    }
    for p in [a, b] {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_stopped_a_change_is_refused_and_succeeds_once_it_is_back() {
    let (redis, _dir, a, b) = two_replicas();
    let r = a.put_api_limit(150, "\"1\"").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(b.limit_becomes(UNKNOWN_KEY, "150", PROPAGATION).await);

    // Frozen (SIGSTOP): connections stay open, nothing answers.
    redis.pause();
    let r = a.put_api_limit(175, "\"2\"").await;
    assert_eq!(r.status, 503, "{}", text(&r));
    assert_eq!(r.json()["error"], "policy_store_unavailable");
    let r = get(&format!("{}/v1/policy", a.admin), &[]).await;
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(r.json()["rules"][0]["limits"][0]["limit"], 150);
    assert_eq!(a.limit(UNKNOWN_KEY).await.as_deref(), Some("150"));

    // Back: a change with the live version succeeds again and reaches
    // the other replica.
    redis.resume();
    let (done, last) = a.put_api_limit_until_done(190, "").await;
    assert!(done, "no change succeeded after Redis came back: {last}");
    let etag = a.policy_etag().await;
    assert_ne!(etag, "\"2\"");
    assert_eq!(a.limit(UNKNOWN_KEY).await.as_deref(), Some("190"));
    assert!(
        b.limit_becomes(UNKNOWN_KEY, "190", PROPAGATION).await,
        "B did not follow: {:?}",
        b.limit(UNKNOWN_KEY).await
    );
    assert!(wait_until(PROPAGATION, || async { b.policy_etag().await == etag }).await);
    for p in [a, b] {
        p.stop().await;
    }
}

/// A change answered 503 ("nothing changed") while Redis was frozen must
/// not take effect once Redis answers again.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_unconfirmed_while_redis_is_frozen_is_applied_everywhere_or_nowhere() {
    let (redis, _dir, a, b) = two_replicas();
    redis.pause();
    let r = a.put_api_limit(175, "\"1\"").await;
    assert_eq!(r.status, 503, "{}", text(&r));
    assert!(text(&r).contains("did not confirm"), "{}", text(&r));
    redis.resume();
    // Redis ran the queued change when it resumed: the 503 said it might.
    // Both replicas converge on what Redis kept, and the next change
    // lands after it.
    let (done, last) = a.put_api_limit_until_done(190, "").await;
    assert!(done, "{last}");
    assert!(b.limit_becomes(UNKNOWN_KEY, "190", PROPAGATION).await);
    let h = a.history().await;
    let versions: Vec<u64> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    let top = versions[0];
    assert!(
        versions.windows(2).all(|w| w[0] == w[1] + 1),
        "{versions:?}"
    );
    assert_eq!(b.history().await["history"][0]["version"], top);
    for p in [a, b] {
        p.stop().await;
    }
}

/// Redis restarted empty (no persistence): the replicas hold version 2,
/// Redis holds nothing.
#[tokio::test(flavor = "multi_thread")]
async fn after_redis_restarts_empty_a_change_succeeds_and_propagates() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &redis_config(&redis.url()));
    let a = Proc::spawn(&path);
    let b = Proc::spawn(&path);
    let r = a.put_api_limit(150, "\"1\"").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(b.limit_becomes(UNKNOWN_KEY, "150", PROPAGATION).await);

    redis.restart();
    let (done, last) = a.put_api_limit_until_done(175, "").await;
    assert!(done, "no change succeeded after Redis came back: {last}");
    assert!(
        b.limit_becomes(UNKNOWN_KEY, "175", PROPAGATION).await,
        "B did not follow: {:?}",
        b.limit(UNKNOWN_KEY).await
    );
    for p in [a, b] {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_redis_restarts_empty_the_clients_are_given_back_before_a_new_one() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &redis_config(&redis.url()));
    let a = Proc::spawn(&path);
    let b = Proc::spawn(&path);
    let (x, _) = a.create_client(json!({"tier": "pro"})).await;
    assert!(b.limit_becomes(&x, "400", PROPAGATION).await);

    // Redis loses everything; a client created on B then: B gives the
    // store its clients back first, so X is kept, and both know both.
    redis.restart();
    let url = format!("{}/v1/clients", b.admin);
    let y = "client-after-the-loss-0001";
    let created = wait_until(DEADLINE, || async {
        send(
            "POST",
            &url,
            &[],
            json!({"tier": "pro", "api_key": y}).to_string(),
        )
        .await
        .status
            == 201
    })
    .await;
    assert!(created, "no creation succeeded after Redis came back");
    for (name, p) in [("A", &a), ("B", &b)] {
        for key in [x.as_str(), y] {
            assert!(
                p.limit_becomes(key, "400", DEADLINE).await,
                "{name} does not know {key}: {:?}",
                p.limit(key).await
            );
        }
    }
    for p in [a, b] {
        p.stop().await;
    }
}
