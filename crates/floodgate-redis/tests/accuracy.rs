//! Accuracy across replicas: several `RedisStore`s (replicas) and many
//! concurrent tasks hammer one key under a fixed window of L; exactly L are
//! allowed in total.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use floodgate_core::{Quota, Store, Timestamp};
use floodgate_redis::{RedisStore, TimeSource};

const LIMIT: u64 = 100;
const REPLICAS: usize = 4;
const TASKS_PER_REPLICA: usize = 16;
const REQUESTS_PER_TASK: usize = 25;

async fn hammer(replicas: Vec<RedisStore>) -> (u64, u64) {
    let quota = Quota::fixed_window(LIMIT, Duration::from_secs(3_600)).unwrap();
    let now = Timestamp::from_micros(1_700_006_400_000_000);
    let mut tasks = Vec::new();
    for store in replicas.into_iter().map(Arc::new) {
        for _ in 0..TASKS_PER_REPLICA {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                let c = check("hot/limit/0", "one-client", quota, 1);
                let mut allowed = 0u64;
                for _ in 0..REQUESTS_PER_TASK {
                    let d = store.check(std::slice::from_ref(&c), now).await.unwrap();
                    allowed += u64::from(d[0].allowed);
                }
                allowed
            }));
        }
    }
    let mut total = 0;
    let mut attempts = 0;
    for t in tasks {
        total += t.await.unwrap();
        attempts += REQUESTS_PER_TASK as u64;
    }
    (total, attempts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_redis_allow_exactly_the_limit() {
    let server = RedisServer::start();
    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        replicas.push(caller_store(&server).await);
    }
    let (allowed, attempts) = hammer(replicas).await;
    assert!(attempts > 10 * LIMIT);
    assert_eq!(allowed, LIMIT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_a_cluster_allow_exactly_the_limit() {
    let cluster = RedisCluster::start();
    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        replicas.push(cluster_store(&cluster, TimeSource::Caller).await);
    }
    let (allowed, attempts) = hammer(replicas).await;
    assert!(attempts > 10 * LIMIT);
    assert_eq!(allowed, LIMIT);
}
