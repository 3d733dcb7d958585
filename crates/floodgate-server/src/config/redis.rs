//! The Redis store's settings from the config file's `store:` section.

use floodgate_config::{FileDocument, ScriptingName, StoreKind, TimeSourceName};
use floodgate_redis::{FailureSettings, RedisConfig, RedisKind, Scripting, TimeSource};

/// The Redis store's settings from a checked `store:` section (absent
/// fields take the store's defaults; `connections`, one per serving
/// thread of `threads`, from 2 to 64, so that each thread has its own).
pub(super) fn redis_config(doc: &FileDocument, threads: usize) -> Option<RedisConfig> {
    let s = &doc.server.store;
    let base = match s.kind {
        StoreKind::Memory => return None,
        StoreKind::Redis => RedisConfig::standalone(s.url.clone().unwrap_or_default()),
        StoreKind::RedisCluster => RedisConfig::cluster(s.nodes.clone().unwrap_or_default()),
    };
    debug_assert!(matches!(
        base.kind,
        RedisKind::Redis | RedisKind::RedisCluster
    ));
    Some(RedisConfig {
        key_prefix: s.key_prefix.clone().unwrap_or(base.key_prefix.clone()),
        timeout: s.timeout.map_or(base.timeout, |d| d.0),
        connect_timeout: s.connect_timeout.map_or(base.connect_timeout, |d| d.0),
        connections: s.connections.map_or_else(
            || {
                threads.clamp(
                    RedisConfig::DEFAULT_CONNECTIONS,
                    RedisConfig::MAX_CONNECTIONS,
                )
            },
            |n| n as usize,
        ),
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
