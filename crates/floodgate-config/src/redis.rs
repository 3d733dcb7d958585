//! The Redis store's settings from the config file's `store:` section
//! (feature `redis`): one conversion, for the server and the Python
//! package alike.

use floodgate_redis::{
    Credentials, FailureSettings, RedisConfig, RedisKind, Scripting, Secret, SentinelSettings,
    TimeSource, TlsSettings,
};

use crate::store::{ScriptingName, StoreDocument, StoreKind, TimeSourceName};

/// The Redis store's settings from a checked `store:` section: absent
/// fields take the store's defaults, and `connections` is
/// `default_connections` (clamped to 1 to 64) when not written.
pub fn redis_config(s: &StoreDocument, default_connections: usize) -> Option<RedisConfig> {
    let base = match s.kind {
        StoreKind::Memory => return None,
        StoreKind::Redis => RedisConfig::standalone(s.url.clone().unwrap_or_default()),
        StoreKind::RedisCluster => RedisConfig::cluster(s.nodes.clone().unwrap_or_default()),
        StoreKind::RedisSentinel => RedisConfig::sentinel(
            s.master_name.clone().unwrap_or_default(),
            s.sentinels.clone().unwrap_or_default(),
        ),
    };
    debug_assert!(base.kind != RedisKind::Redis || base.url.is_some());
    Some(RedisConfig {
        key_prefix: s.key_prefix.clone().unwrap_or(base.key_prefix.clone()),
        timeout: s.timeout.map_or(base.timeout, |d| d.0),
        connect_timeout: s.connect_timeout.map_or(base.connect_timeout, |d| d.0),
        connections: s.connections.map_or_else(
            || default_connections.clamp(1, RedisConfig::MAX_CONNECTIONS),
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
        credentials: credentials(&s.username, &s.password_file, &s.password_env),
        tls: tls(s),
        sentinel: SentinelSettings {
            credentials: credentials(
                &s.sentinel_username,
                &s.sentinel_password_file,
                &s.sentinel_password_env,
            ),
            db: s.database.unwrap_or(0) as i64,
            ..base.sentinel.clone()
        },
        ..base
    })
}

/// An ACL user and where its password is read from.
fn credentials(
    username: &Option<String>,
    file: &Option<String>,
    env: &Option<String>,
) -> Credentials {
    Credentials {
        username: username.clone(),
        password: match (file, env) {
            (Some(f), _) => Some(Secret::File(f.into())),
            (None, Some(e)) => Some(Secret::Env(e.clone())),
            (None, None) => None,
        },
    }
}

/// `store.tls`, as the store takes it.
fn tls(s: &StoreDocument) -> TlsSettings {
    let Some(t) = &s.tls else {
        return TlsSettings::default();
    };
    TlsSettings {
        ca_file: t.ca_file.as_ref().map(Into::into),
        ca_dir: t.ca_dir.as_ref().map(Into::into),
        cert_file: t.cert_file.as_ref().map(Into::into),
        key_file: t.key_file.as_ref().map(Into::into),
        insecure_skip_verify: t.insecure_skip_verify,
        server_name: t.server_name.clone(),
    }
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
        let c = redis_config(&s, RedisConfig::DEFAULT_CONNECTIONS).unwrap();
        assert_eq!(c.key_prefix, RedisConfig::DEFAULT_KEY_PREFIX);
        assert_eq!(c.timeout, RedisConfig::DEFAULT_TIMEOUT);
        assert_eq!(c.connections, RedisConfig::DEFAULT_CONNECTIONS);
        assert_eq!(c.failure.on_failure, FailureMode::FailClosed);
        assert!(redis_config(&StoreDocument::default(), 2).is_none());
    }
}
