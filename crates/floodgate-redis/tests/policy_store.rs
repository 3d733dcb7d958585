//! `RedisPolicyStore` on a real Redis and a real Redis Cluster:
//! compare-and-set commits, history, announcements, and Redis going away.

mod common;

use std::time::Duration;

use common::*;
use floodgate_redis::keys::slot;
use floodgate_redis::{Commit, RedisConfig, RedisPolicyStore, StoredPolicy};
use tokio::sync::watch;

/// So long that only an announcement can move a watcher within a test.
const NO_POLL: Duration = Duration::from_secs(3_600);

async fn standalone(server: &RedisServer) -> RedisPolicyStore {
    RedisPolicyStore::connect(&RedisConfig::standalone(server.url()))
        .await
        .expect("connect to the test redis")
}

async fn cluster(cluster: &RedisCluster) -> RedisPolicyStore {
    RedisPolicyStore::connect(&RedisConfig::cluster(cluster.urls()))
        .await
        .expect("connect to the test cluster")
}

/// Waits (at most 10 s) until the watcher shows `version`.
async fn sees(rx: &mut watch::Receiver<u64>, version: u64) {
    let r = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|v| *v == version))
        .await
        .map(|r| r.is_ok());
    assert_eq!(
        r,
        Ok(true),
        "the watcher never showed {version}, last {}",
        *rx.borrow()
    );
}

fn doc(v: u64) -> String {
    format!(r#"{{"rules":[],"v":{v}}}"#)
}

fn entry(v: u64) -> String {
    format!(r#"{{"version":{v},"by":"test"}}"#)
}

/// Load, conflicts and history, as every deployment sees them.
async fn commits_compare_and_set(store: &RedisPolicyStore) {
    assert_eq!(store.load().await.unwrap(), None);
    assert_eq!(store.version().await.unwrap(), 0);
    assert_eq!(store.history(10).await.unwrap(), Vec::<String>::new());

    assert_eq!(
        store.commit(0, 1, &doc(1), &entry(1), 3).await.unwrap(),
        Commit::Done
    );
    let stored = StoredPolicy {
        file_digest: None,
        version: 1,
        document: doc(1),
    };
    assert_eq!(store.load().await.unwrap(), Some(stored.clone()));
    assert_eq!(store.version().await.unwrap(), 1);

    // A stale expected version writes nothing.
    assert_eq!(
        store.commit(0, 2, &doc(2), &entry(2), 3).await.unwrap(),
        Commit::Conflict { current: 1 }
    );
    assert_eq!(store.load().await.unwrap(), Some(stored));
    assert_eq!(store.history(10).await.unwrap(), vec![entry(1)]);

    // Newest first, trimmed to the limit of the latest commit.
    for v in 2..=5 {
        assert_eq!(
            store.commit(v - 1, v, &doc(v), &entry(v), 3).await.unwrap(),
            Commit::Done
        );
    }
    assert_eq!(
        store.history(10).await.unwrap(),
        vec![entry(5), entry(4), entry(3)]
    );
    assert_eq!(store.history(2).await.unwrap(), vec![entry(5), entry(4)]);
    assert_eq!(store.history(0).await.unwrap(), Vec::<String>::new());
    store.commit(5, 6, &doc(6), &entry(6), 1).await.unwrap();
    assert_eq!(store.history(10).await.unwrap(), vec![entry(6)]);
    store.commit(6, 7, &doc(7), &entry(7), 0).await.unwrap();
    assert_eq!(store.history(10).await.unwrap(), Vec::<String>::new());
    assert_eq!(store.version().await.unwrap(), 7);

    // Versions only grow.
    let e = store.commit(7, 7, &doc(7), &entry(7), 3).await.unwrap_err();
    assert!(!e.transient, "{e}");
    assert_eq!(store.version().await.unwrap(), 7);
}

/// Two replicas commit on the same version, many times: one wins each.
async fn one_of_two_concurrent_commits_wins(a: &RedisPolicyStore, b: &RedisPolicyStore) {
    let base = a.version().await.unwrap();
    for round in 0..20 {
        let expected = base + round;
        let (ra, rb) = tokio::join!(
            a.commit(expected, expected + 1, "from a", "a", 50),
            b.commit(expected, expected + 1, "from b", "b", 50),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let winner = match (ra, rb) {
            (Commit::Done, Commit::Conflict { current }) => {
                assert_eq!(current, expected + 1);
                "from a"
            }
            (Commit::Conflict { current }, Commit::Done) => {
                assert_eq!(current, expected + 1);
                "from b"
            }
            other => panic!("round {round}: {other:?}"),
        };
        let stored = a.load().await.unwrap().unwrap();
        assert_eq!(
            (stored.version, stored.document.as_str()),
            (expected + 1, winner)
        );
    }
    assert_eq!(b.history(100).await.unwrap().len(), 20, "one entry per win");
}

#[tokio::test]
async fn commits_compare_and_set_on_standalone_redis() {
    let server = RedisServer::start();
    commits_compare_and_set(&standalone(&server).await).await;
}

#[tokio::test]
async fn commits_compare_and_set_on_redis_cluster() {
    let c = RedisCluster::start();
    commits_compare_and_set(&cluster(&c).await).await;
}

#[tokio::test]
async fn one_of_two_concurrent_commits_wins_on_standalone_redis() {
    let server = RedisServer::start();
    let (a, b) = (standalone(&server).await, standalone(&server).await);
    one_of_two_concurrent_commits_wins(&a, &b).await;
}

#[tokio::test]
async fn one_of_two_concurrent_commits_wins_on_redis_cluster() {
    let c = RedisCluster::start();
    let (a, b) = (cluster(&c).await, cluster(&c).await);
    one_of_two_concurrent_commits_wins(&a, &b).await;
}

#[tokio::test]
async fn another_replica_hears_of_each_commit() {
    let server = RedisServer::start();
    let (a, b) = (standalone(&server).await, standalone(&server).await);
    a.commit(0, 1, &doc(1), &entry(1), 10).await.unwrap();
    let mut rx = b.watch(NO_POLL).await;
    assert_eq!(*rx.borrow(), 1, "the watcher starts current");
    for v in 2..=4 {
        a.commit(v - 1, v, &doc(v), &entry(v), 10).await.unwrap();
        sees(&mut rx, v).await;
    }
    // A conflicting commit announces nothing: the next change is 5.
    a.commit(1, 9, &doc(9), &entry(9), 10).await.unwrap();
    a.commit(4, 5, &doc(5), &entry(5), 10).await.unwrap();
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow_and_update(), 5);
}

#[tokio::test]
async fn another_replica_hears_of_each_commit_on_a_cluster() {
    let c = RedisCluster::start();
    let (a, b) = (cluster(&c).await, cluster(&c).await);
    let mut rx = b.watch(NO_POLL).await;
    assert_eq!(*rx.borrow(), 0);
    for v in 1..=3 {
        a.commit(v - 1, v, &doc(v), &entry(v), 10).await.unwrap();
        sees(&mut rx, v).await;
    }
}

#[tokio::test]
async fn the_policy_keys_live_on_one_cluster_node() {
    let c = RedisCluster::start();
    let store = cluster(&c).await;
    assert_eq!(slot(store.doc_key()), slot(store.history_key()));
    store.commit(0, 1, &doc(1), &entry(1), 10).await.unwrap();
    let holders = |key: &str| -> Vec<u16> {
        c.nodes()
            .iter()
            .filter(|n| n.cli(&["EXISTS", key]).trim() == "1")
            .map(RedisServer::port)
            .collect()
    };
    let doc_node = holders(store.doc_key());
    assert_eq!(doc_node.len(), 1, "exactly one node holds the document");
    assert_eq!(holders(store.history_key()), doc_node);
    let reported = c.nodes()[0].cli(&["CLUSTER", "KEYSLOT", store.doc_key()]);
    assert_eq!(reported.trim(), slot(store.doc_key()).to_string());
}

#[tokio::test]
async fn redis_away_is_transient_and_the_watcher_comes_back() {
    let mut server = RedisServer::start();
    let config = RedisConfig {
        connect_timeout: Duration::from_millis(300),
        ..RedisConfig::standalone(server.url())
    };
    let store = RedisPolicyStore::connect(&config).await.unwrap();
    let other = RedisPolicyStore::connect(&config).await.unwrap();
    store.commit(0, 1, &doc(1), &entry(1), 10).await.unwrap();
    let mut rx = other.watch(Duration::from_millis(50)).await;
    assert_eq!(*rx.borrow(), 1);
    let subscribers = |server: &RedisServer| {
        server
            .cli(&["PUBSUB", "NUMSUB", store.channel()])
            .lines()
            .nth(1)
            .map(|n| n.trim().to_string())
    };
    assert_eq!(subscribers(&server).as_deref(), Some("1"));

    server.kill();
    let e = store.load().await.unwrap_err();
    assert!(e.transient, "load: {e}");
    let e = store
        .commit(1, 2, &doc(2), &entry(2), 10)
        .await
        .unwrap_err();
    assert!(e.transient, "commit: {e}");
    let e = store.version().await.unwrap_err();
    assert!(e.transient, "version: {e}");
    assert_eq!(
        *rx.borrow(),
        1,
        "the last version stays while Redis is away"
    );

    // Back, empty (no persistence): the poll reports what is stored.
    server.restart();
    sees(&mut rx, 0).await;
    let deadline = Deadline::in_secs(10);
    while subscribers(&server).as_deref() != Some("1") {
        deadline.poll("the watcher never subscribed again").await;
    }
    let deadline = Deadline::in_secs(10);
    while store.version().await.is_err() {
        deadline.poll("the store never reconnected").await;
    }
    assert_eq!(
        store.commit(0, 2, &doc(2), &entry(2), 10).await.unwrap(),
        Commit::Done
    );
    sees(&mut rx, 2).await;
}

#[tokio::test]
async fn the_watcher_stops_when_its_receivers_are_dropped() {
    let server = RedisServer::start();
    let store = standalone(&server).await;
    let numsub = || {
        server
            .cli(&["PUBSUB", "NUMSUB", store.channel()])
            .lines()
            .nth(1)
            .map(|n| n.trim().to_string())
    };
    let rx = store.watch(NO_POLL).await;
    let rx2 = rx.clone();
    assert_eq!(numsub().as_deref(), Some("1"));
    drop(rx);
    assert_eq!(numsub().as_deref(), Some("1"), "a clone still watches");
    drop(rx2);
    let deadline = Deadline::in_secs(10);
    while numsub().as_deref() != Some("0") {
        deadline.poll("the watcher kept its subscription").await;
    }
}
