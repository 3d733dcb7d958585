//! The store a `store:` section describes, built as the server builds
//! it: memory; or Redis / Redis Cluster (the same scripts and keys as the
//! gateway) connecting in the background, wrapped in the failure policy
//! (`on_failure`, `local_divisor`, `breaker`), with the memory store's
//! size as the local fallback's.

use std::sync::Arc;

use floodgate_config::{ScriptingName, StoreDocument, StoreKind, TimeSourceName};
use floodgate_core::{MemoryStore, MemoryStoreConfig, Store};
use floodgate_redis::{
    FailurePolicy, FailureSettings, LazyRedisStore, RedisConfig, ResilientStore, Scripting,
    TimeSource,
};

/// What a limiter decides on, and the Redis part of it when there is one.
pub struct Built {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The Redis store inside the failure policy, to connect at once.
    pub redis: Option<LazyRedisStore>,
}

/// Builds the store of `section` (not connecting yet: see
/// [`LazyRedisStore::connect_now`]). Must run inside a tokio runtime.
pub fn build(section: &StoreDocument, memory: MemoryStoreConfig) -> Built {
    let Some(config) = redis_config(section) else {
        return Built {
            store: Arc::new(MemoryStore::new(memory)),
            redis: None,
        };
    };
    let redis = LazyRedisStore::new(config.clone(), config.failure.breaker.cooldown);
    let policy = FailurePolicy {
        local: memory,
        ..FailurePolicy::from(&config)
    };
    Built {
        store: Arc::new(ResilientStore::new(redis.clone(), policy)),
        redis: Some(redis),
    }
}

/// The Redis store's settings from a checked `store:` section, absent
/// fields taking the store's defaults (`connections`: 2).
pub fn redis_config(s: &StoreDocument) -> Option<RedisConfig> {
    let base = match s.kind {
        StoreKind::Memory => return None,
        StoreKind::Redis => RedisConfig::standalone(s.url.clone().unwrap_or_default()),
        StoreKind::RedisCluster => RedisConfig::cluster(s.nodes.clone().unwrap_or_default()),
    };
    Some(RedisConfig {
        key_prefix: s.key_prefix.clone().unwrap_or(base.key_prefix.clone()),
        timeout: s.timeout.map_or(base.timeout, |d| d.0),
        connect_timeout: s.connect_timeout.map_or(base.connect_timeout, |d| d.0),
        connections: s.connections.map_or(base.connections, |n| n as usize),
        time: match s.time {
            None | Some(TimeSourceName::Redis) => TimeSource::Redis,
            Some(TimeSourceName::Caller) => TimeSource::Caller,
        },
        failure: FailureSettings::from(s),
        scripting: match s.scripting {
            None | Some(ScriptingName::Auto) => Scripting::Auto,
            Some(ScriptingName::Functions) => Scripting::Functions,
            Some(ScriptingName::Eval) => Scripting::Eval,
        },
        gather_max: s.gather_max.map_or(base.gather_max, |n| n as usize),
        gather_in_flight: s
            .gather_in_flight
            .map_or(base.gather_in_flight, |n| n as usize),
        ..base
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::FailureMode;

    #[test]
    fn absent_fields_take_the_stores_defaults() {
        let s = StoreDocument {
            kind: StoreKind::Redis,
            url: Some("redis://127.0.0.1:6379".into()),
            on_failure: Some(FailureMode::FailClosed),
            ..StoreDocument::default()
        };
        let c = redis_config(&s).unwrap();
        assert_eq!(c.key_prefix, RedisConfig::DEFAULT_KEY_PREFIX);
        assert_eq!(c.timeout, RedisConfig::DEFAULT_TIMEOUT);
        assert_eq!(c.connections, RedisConfig::DEFAULT_CONNECTIONS);
        assert_eq!(c.failure.on_failure, FailureMode::FailClosed);
        assert!(redis_config(&StoreDocument::default()).is_none());
    }
}
