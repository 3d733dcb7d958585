//! Shared test setup: real Redis servers, stores on them.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::policy::units::DurationField;
use floodgate_core::{LimitCheck, Quota};
use floodgate_redis::{RedisConfig, RedisStore, TimeSource};

pub use floodgate_testkit::redis::{RedisCluster, RedisServer};

/// A standalone config for `url` deciding at the caller's time, with a
/// generous timeout (debug builds on a shared machine).
pub fn caller_config(url: &str) -> RedisConfig {
    RedisConfig {
        time: TimeSource::Caller,
        timeout: DurationField(Duration::from_millis(2_000)),
        ..RedisConfig::standalone(url)
    }
}

pub async fn caller_store(server: &RedisServer) -> RedisStore {
    RedisStore::connect(&caller_config(&server.url()))
        .await
        .expect("connect to the test redis")
}

pub async fn cluster_store(cluster: &RedisCluster, time: TimeSource) -> RedisStore {
    let config = RedisConfig {
        time,
        timeout: DurationField(Duration::from_millis(2_000)),
        ..RedisConfig::cluster(cluster.urls())
    };
    RedisStore::connect(&config)
        .await
        .expect("connect to the test cluster")
}

pub fn check(limit_id: &str, identity: &str, quota: Quota, cost: u64) -> LimitCheck {
    LimitCheck {
        limit_id: Arc::from(limit_id),
        identity: Arc::from(identity),
        quota,
        cost,
        on_failure: None,
    }
}
