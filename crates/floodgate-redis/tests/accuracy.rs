//! Accuracy across replicas: four `RedisStore`s (replicas) and 64
//! concurrent tasks send 2,000 requests for one key under a limit of 80;
//! exactly 80 are allowed in total, by Redis Functions (`FCALL`) and by
//! the script (`EVALSHA`) alike, on one Redis and on a cluster.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use floodgate_core::{Quota, Rate, Store, Timestamp};
use floodgate_redis::{RedisConfig, RedisStore, Scripting, TimeSource};

const LIMIT: u64 = 80;
const REPLICAS: usize = 4;
const TASKS_PER_REPLICA: usize = 16;
const REQUESTS: u64 = 2_000;
/// Both ways of calling, each under a key prefix of its own.
const WAYS: [(Scripting, &str, &str); 2] = [
    (Scripting::Functions, "FCALL", "fa:"),
    (Scripting::Eval, "EVALSHA", "fb:"),
];

fn quotas() -> Vec<Quota> {
    vec![
        Quota::fixed_window(LIMIT, Duration::from_secs(3_600)).unwrap(),
        Quota::token_bucket(LIMIT, Rate::new(1, Duration::from_secs(3_600)).unwrap()).unwrap(),
    ]
}

/// Allowed requests out of `REQUESTS` for one key of `quota`.
async fn hammer(replicas: &[Arc<RedisStore>], quota: Quota, limit_id: &str) -> u64 {
    let now = Timestamp::from_micros(1_700_006_400_000_000);
    let left = Arc::new(AtomicU64::new(REQUESTS));
    let mut tasks = Vec::new();
    for store in replicas {
        for _ in 0..TASKS_PER_REPLICA {
            let store = Arc::clone(store);
            let left = Arc::clone(&left);
            let c = check(limit_id, "one-client", quota, 1);
            tasks.push(tokio::spawn(async move {
                let mut allowed = 0u64;
                while left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let d = store.check(std::slice::from_ref(&c), now).await.unwrap();
                    allowed += u64::from(d[0].allowed);
                }
                allowed
            }));
        }
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(left.load(Ordering::SeqCst), 0);
    total
}

async fn exact_on(config: RedisConfig, command: &str) {
    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        let store = RedisStore::connect(&config).await.unwrap();
        assert_eq!(store.call_command(), command);
        replicas.push(Arc::new(store));
    }
    for (i, quota) in quotas().into_iter().enumerate() {
        let allowed = hammer(&replicas, quota, &format!("hot/limit/{i}")).await;
        assert_eq!(allowed, LIMIT, "{quota} by {command}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_redis_allow_exactly_the_limit() {
    let server = RedisServer::start();
    for (scripting, command, prefix) in WAYS {
        let config = RedisConfig {
            scripting,
            key_prefix: prefix.into(),
            ..caller_config(&server.url())
        };
        exact_on(config, command).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_a_cluster_allow_exactly_the_limit() {
    let cluster = RedisCluster::start();
    for (scripting, command, prefix) in WAYS {
        let config = RedisConfig {
            scripting,
            key_prefix: prefix.into(),
            time: TimeSource::Caller,
            timeout: Duration::from_millis(2_000),
            ..RedisConfig::cluster(cluster.urls())
        };
        exact_on(config, command).await;
    }
}
