//! The conformance suite (floodgate-testkit) on a real Redis, standalone
//! and cluster, with caller time.

mod common;

use common::*;
use floodgate_redis::TimeSource;

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
    floodgate_testkit::run_cases(&store, "cluster")
        .await
        .unwrap();
    floodgate_testkit::atomic_suite(&store, "cluster")
        .await
        .unwrap();
}
