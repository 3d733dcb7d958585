//! The conformance suite (floodgate-testkit) on a real Redis, standalone
//! and cluster, with caller time, through Redis Functions (`FCALL`, the
//! default on Redis 7) and through the script (`EVALSHA`, older servers).

mod common;

use common::*;
use std::time::Duration;

use floodgate_redis::{RedisConfig, RedisStore, Scripting, TimeSource};

#[tokio::test]
async fn conformance_cases_on_standalone_redis() {
    let server = RedisServer::start();
    let store = caller_store(&server).await;
    floodgate_testkit::run_cases(&store, "standalone")
        .await
        .unwrap();
}

#[tokio::test]
async fn atomicity_over_limits_on_standalone_redis() {
    let server = RedisServer::start();
    let store = caller_store(&server).await;
    floodgate_testkit::atomic_suite(&store, "standalone")
        .await
        .unwrap();
}

#[tokio::test]
async fn conformance_cases_on_redis_cluster() {
    let cluster = RedisCluster::start();
    let store = cluster_store(&cluster, TimeSource::Caller).await;
    assert_eq!(store.call_command(), "FCALL");
    floodgate_testkit::run_cases(&store, "cluster")
        .await
        .unwrap();
    floodgate_testkit::atomic_suite(&store, "cluster")
        .await
        .unwrap();
}

#[tokio::test]
async fn conformance_cases_on_standalone_redis_by_each_call() {
    let server = RedisServer::start();
    for (scripting, command) in [
        (Scripting::Functions, "FCALL"),
        (Scripting::Eval, "EVALSHA"),
    ] {
        let store = scripted_store(&server, scripting, command).await;
        let ns = format!("standalone-{command}");
        floodgate_testkit::run_cases(&store, &ns).await.unwrap();
        floodgate_testkit::atomic_suite(&store, &ns).await.unwrap();
        floodgate_testkit::inspect_suite(&store, &ns).await.unwrap();
    }
}

#[tokio::test]
async fn conformance_cases_on_redis_cluster_by_script() {
    let cluster = RedisCluster::start();
    let config = RedisConfig {
        scripting: Scripting::Eval,
        time: TimeSource::Caller,
        timeout: Duration::from_millis(2_000),
        ..RedisConfig::cluster(cluster.urls())
    };
    let store = RedisStore::connect(&config).await.unwrap();
    assert_eq!(store.call_command(), "EVALSHA");
    floodgate_testkit::run_cases(&store, "cluster-eval")
        .await
        .unwrap();
    floodgate_testkit::atomic_suite(&store, "cluster-eval")
        .await
        .unwrap();
}
