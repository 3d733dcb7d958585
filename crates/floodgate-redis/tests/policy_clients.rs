//! The known clients in `RedisPolicyStore`, on a real Redis and a real
//! Redis Cluster: each change refused or made with its sequence number, log
//! entry and history entry, a restore, the history bounded in bytes, and
//! the watcher woken by a clients change.

mod common;

use std::time::Duration;

use common::*;
use floodgate_redis::{
    ClientsChange, ClientsCommit, ClientsOp, RedisConfig, RedisPolicyStore, HISTORY_BYTES,
};

fn pair(field: &str, tier: &str) -> (String, String) {
    (field.to_string(), format!(r#"{{"tier":"{tier}"}}"#))
}

async fn change(
    store: &RedisPolicyStore,
    op: ClientsOp,
    pairs: &[(String, String)],
    history: Option<&str>,
) -> ClientsCommit {
    change_at(store, 0, op, pairs, history).await
}

/// A change by a caller at sequence number `seq`.
async fn change_at(
    store: &RedisPolicyStore,
    seq: u64,
    op: ClientsOp,
    pairs: &[(String, String)],
    history: Option<&str>,
) -> ClientsCommit {
    store
        .change_clients(&ClientsChange {
            op,
            pairs,
            seq,
            log_entry: r#"{"op":"test"}"#,
            history_entry: history,
            history_limit: 10,
            log_limit: 3,
        })
        .await
        .unwrap()
}

async fn clients_change_one_at_a_time(store: &RedisPolicyStore) {
    assert_eq!(store.clients().await.unwrap(), (0, vec![]));
    let a = [pair("aa", "free")];
    assert_eq!(
        change(store, ClientsOp::Create, &a, Some("created aa")).await,
        ClientsCommit::Done(1)
    );
    assert_eq!(
        change(store, ClientsOp::Create, &[pair("aa", "pro")], None).await,
        ClientsCommit::Exists
    );
    assert_eq!(
        change(store, ClientsOp::Update, &[pair("bb", "pro")], None).await,
        ClientsCommit::Missing
    );
    assert_eq!(
        change(store, ClientsOp::Update, &[pair("aa", "pro")], None).await,
        ClientsCommit::Done(2)
    );
    let many: Vec<_> = (0..500).map(|i| pair(&format!("k{i}"), "free")).collect();
    assert_eq!(
        change(store, ClientsOp::Import, &many, Some("imported")).await,
        ClientsCommit::Done(3)
    );
    let gone = [("k7".to_string(), String::new())];
    assert_eq!(
        change(store, ClientsOp::Delete, &gone, None).await,
        ClientsCommit::Done(4)
    );
    assert_eq!(
        change(store, ClientsOp::Delete, &gone, None).await,
        ClientsCommit::Missing
    );
    let (seq, all) = store.clients().await.unwrap();
    assert_eq!((seq, all.len()), (4, 500));
    assert!(all.contains(&pair("aa", "pro")));
    assert_eq!(store.clients_seq().await.unwrap(), 4);
    // The log keeps the newest 3, newest first, each with its number.
    let log = store.clients_log(10).await.unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0], r#"{"seq":4,"change":{"op":"test"}}"#);
    assert!(log[2].starts_with(r#"{"seq":2,"#), "{log:?}");
    // Refused changes wrote no history; the others wrote theirs, in the
    // clients' own history (the policy's has none of them).
    assert_eq!(
        store.clients_history(10).await.unwrap(),
        vec!["imported".to_string(), "created aa".to_string()]
    );
    assert!(store.history(10).await.unwrap().is_empty());
    // A store that holds clients is not restored.
    let back = [pair("zz", "free")];
    assert_eq!(
        change(store, ClientsOp::Restore(9), &back, None).await,
        ClientsCommit::Exists
    );
}

#[tokio::test]
async fn a_store_that_lost_its_clients_is_restored_before_it_is_written() {
    let server = RedisServer::start();
    let store = RedisPolicyStore::connect(&RedisConfig::standalone(server.url()))
        .await
        .unwrap();
    let aa = [pair("aa", "free")];
    assert_eq!(
        change(&store, ClientsOp::Create, &aa, None).await,
        ClientsCommit::Done(1)
    );
    // Redis restarts empty; a replica at 1 writes: refused, the store is
    // behind it.
    server.cli(&["FLUSHALL"]);
    let bb = [pair("bb", "pro")];
    assert_eq!(
        change_at(&store, 1, ClientsOp::Create, &bb, None).await,
        ClientsCommit::Lost
    );
    // Restored at its number, then written.
    assert_eq!(
        change(&store, ClientsOp::Restore(1), &aa, None).await,
        ClientsCommit::Done(1)
    );
    assert_eq!(
        change_at(&store, 1, ClientsOp::Create, &bb, None).await,
        ClientsCommit::Done(2)
    );
    let (seq, mut all) = store.clients().await.unwrap();
    all.sort();
    assert_eq!((seq, all), (2, vec![aa[0].clone(), bb[0].clone()]));
    // A second restore (another replica that saw the loss) is refused.
    assert_eq!(
        change(&store, ClientsOp::Restore(1), &aa, None).await,
        ClientsCommit::Exists
    );
}

#[tokio::test]
async fn clients_change_on_redis() {
    let server = RedisServer::start();
    let store = RedisPolicyStore::connect(&RedisConfig::standalone(server.url()))
        .await
        .unwrap();
    clients_change_one_at_a_time(&store).await;
}

#[tokio::test]
async fn clients_change_on_a_cluster() {
    let cluster = RedisCluster::start();
    let store = RedisPolicyStore::connect(&RedisConfig::cluster(cluster.urls()))
        .await
        .unwrap();
    clients_change_one_at_a_time(&store).await;
}

#[tokio::test]
async fn the_history_is_bounded_in_bytes() {
    let server = RedisServer::start();
    let store = RedisPolicyStore::connect(&RedisConfig::standalone(server.url()))
        .await
        .unwrap();
    // Entries of a quarter of the bound: at most four are kept, whatever
    // the count allows.
    let big = "x".repeat(HISTORY_BYTES / 4);
    for v in 1..=10u64 {
        let entry = format!("{v}{big}");
        store.commit(v - 1, v, "{}", &entry, 100).await.unwrap();
    }
    let kept = store.history(100).await.unwrap();
    assert!(kept.len() <= 4 && kept.len() >= 3, "{}", kept.len());
    assert!(kept[0].starts_with("10"));
    let bytes: usize = kept.iter().map(String::len).sum();
    assert!(bytes <= HISTORY_BYTES, "{bytes}");
    // One entry larger than the bound is kept alone.
    let huge = "y".repeat(HISTORY_BYTES + 1);
    store.commit(10, 11, "{}", &huge, 100).await.unwrap();
    assert_eq!(store.history(100).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_clients_change_wakes_the_watcher() {
    let server = RedisServer::start();
    let config = RedisConfig::standalone(server.url());
    let a = RedisPolicyStore::connect(&config).await.unwrap();
    let b = RedisPolicyStore::connect(&config).await.unwrap();
    let mut rx = b.watch(Duration::from_secs(3_600)).await;
    rx.borrow_and_update();
    change(&a, ClientsOp::Create, &[pair("aa", "free")], None).await;
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .expect("no wake-up within 10 s")
        .unwrap();
    assert_eq!(*rx.borrow(), 0, "the policy version stays");
    assert_eq!(b.clients_seq().await.unwrap(), 1);
}
