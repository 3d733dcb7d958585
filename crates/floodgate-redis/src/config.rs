//! `RedisConfig`: the `store:` section of the server's config for Redis.

use std::collections::HashMap;
use std::time::Duration;

use floodgate_core::policy::units::DurationField;
use floodgate_core::policy::FailureMode;
use serde::Deserialize;

/// Standalone Redis or Redis Cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisKind {
    /// One Redis server (or a proxy that looks like one): `url`.
    Redis,
    /// A Redis Cluster: `nodes`, seed nodes of the cluster.
    RedisCluster,
}

/// Where the time a script decides at comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// Redis' own `TIME`, read inside the script: replicas with skewed
    /// clocks still agree. The default.
    #[default]
    Redis,
    /// The `now` the caller passes to `Store::check` (tests, `simulate`).
    Caller,
}

/// Circuit breaker settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker (default 5).
    #[serde(default = "default_failures")]
    pub failures: u32,
    /// How long an open breaker keeps requests away from Redis before it
    /// lets one probe through (default `1s`).
    #[serde(default = "default_cooldown")]
    pub cooldown: DurationField,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: default_failures(),
            cooldown: default_cooldown(),
        }
    }
}

/// The Redis store's settings, as written under `store:`.
///
/// ```yaml
/// store:
///   kind: redis              # or redis_cluster, with nodes: [redis://h1:6379, ...]
///   url: redis://127.0.0.1:6379
///   timeout: 50ms
///   on_failure: local
///   local_divisor: 4         # replicas sharing the limit while on local
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis` or `redis_cluster`.
    pub kind: RedisKind,
    /// The server's URL (`redis://host:port/db`), for `kind: redis`.
    #[serde(default)]
    pub url: Option<String>,
    /// Seed nodes, for `kind: redis_cluster`.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Prefix of every key (default `fg:`; short, as key names are most of
    /// a key's memory); no braces.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Longest wait for one decision; past it the store fails with a
    /// transient error (default `50ms`).
    #[serde(default = "default_timeout")]
    pub timeout: DurationField,
    /// Longest wait for a connection (default `1s`).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: DurationField,
    /// Multiplexed connections to a standalone server, used in turn
    /// (default 2; requests are pipelined on each).
    #[serde(default = "default_connections")]
    pub connections: usize,
    /// `redis` (default) or `caller`.
    #[serde(default)]
    pub time: TimeSource,
    /// What to do when Redis cannot decide: `fail_open`, `fail_closed` or
    /// `local` (default). Rules may override it.
    #[serde(default = "default_on_failure")]
    pub on_failure: FailureMode,
    /// In `local` mode, each limit is divided by this (the number of
    /// replicas that share it; default 1).
    #[serde(default = "default_divisor")]
    pub local_divisor: u64,
    /// Per-rule failure modes (rule name → mode), overriding `on_failure`.
    /// The policy's `on_store_failure` may also be fed in at run time.
    #[serde(default)]
    pub rules: HashMap<String, FailureMode>,
    /// Circuit breaker.
    #[serde(default)]
    pub breaker: BreakerConfig,
}

fn default_failures() -> u32 {
    5
}
fn default_cooldown() -> DurationField {
    DurationField(Duration::from_secs(1))
}
fn default_prefix() -> String {
    "fg:".into()
}
fn default_timeout() -> DurationField {
    DurationField(Duration::from_millis(50))
}
fn default_connect_timeout() -> DurationField {
    DurationField(Duration::from_secs(1))
}
fn default_connections() -> usize {
    2
}
fn default_on_failure() -> FailureMode {
    FailureMode::Local
}
fn default_divisor() -> u64 {
    1
}

/// A config that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("redis store config: {0}")]
pub struct ConfigError(pub String);

impl RedisConfig {
    fn base(kind: RedisKind) -> RedisConfig {
        RedisConfig {
            kind,
            url: None,
            nodes: Vec::new(),
            key_prefix: default_prefix(),
            timeout: default_timeout(),
            connect_timeout: default_connect_timeout(),
            connections: default_connections(),
            time: TimeSource::Redis,
            on_failure: default_on_failure(),
            local_divisor: default_divisor(),
            rules: HashMap::new(),
            breaker: BreakerConfig::default(),
        }
    }

    /// Defaults for one server at `url`.
    pub fn standalone(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: Some(url.into()),
            ..RedisConfig::base(RedisKind::Redis)
        }
    }

    /// Defaults for a cluster reached through `nodes`.
    pub fn cluster(nodes: impl IntoIterator<Item = impl Into<String>>) -> RedisConfig {
        RedisConfig {
            nodes: nodes.into_iter().map(Into::into).collect(),
            ..RedisConfig::base(RedisKind::RedisCluster)
        }
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: &str| Err(ConfigError(m.into()));
        match self.kind {
            RedisKind::Redis if self.url.is_none() => return err("kind: redis needs a `url`"),
            RedisKind::Redis if !self.nodes.is_empty() => {
                return err("`nodes` is for kind: redis_cluster; use `url`")
            }
            RedisKind::RedisCluster if self.nodes.is_empty() => {
                return err("kind: redis_cluster needs `nodes`")
            }
            RedisKind::RedisCluster if self.url.is_some() => {
                return err("`url` is for kind: redis; use `nodes`")
            }
            _ => {}
        }
        if self.key_prefix.contains(['{', '}']) {
            return err("key_prefix must not contain braces (the identity is the hash tag)");
        }
        if self.timeout.0.is_zero() {
            return err("timeout must be above 0");
        }
        if self.connections == 0 || self.connections > 64 {
            return err("connections must be between 1 and 64");
        }
        if self.local_divisor == 0 {
            return err("local_divisor must be at least 1");
        }
        if self.breaker.failures == 0 {
            return err("breaker.failures must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<RedisConfig, String> {
        let c: RedisConfig = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn standalone_with_defaults() {
        let c = parse("kind: redis\nurl: redis://127.0.0.1:6379\n").unwrap();
        assert_eq!(c, RedisConfig::standalone("redis://127.0.0.1:6379"));
        assert_eq!(c.timeout.0, Duration::from_millis(50));
        assert_eq!(c.key_prefix, "fg:");
        assert_eq!(c.on_failure, FailureMode::Local);
        assert_eq!(c.time, TimeSource::Redis);
    }

    #[test]
    fn cluster_with_every_field() {
        let c = parse(
            "kind: redis_cluster\nnodes: [redis://a:7000, redis://b:7001]\nkey_prefix: \"fg:\"\n\
             timeout: 20ms\nconnect_timeout: 2s\nconnections: 4\ntime: caller\n\
             on_failure: fail_open\nlocal_divisor: 3\nrules: {login: fail_closed}\n\
             breaker: {failures: 2, cooldown: 500ms}\n",
        )
        .unwrap();
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(c.timeout.0, Duration::from_millis(20));
        assert_eq!(c.rules["login"], FailureMode::FailClosed);
        assert_eq!(c.breaker.cooldown.0, Duration::from_millis(500));
        assert_eq!(c.time, TimeSource::Caller);
    }

    #[test]
    fn mistakes_are_errors() {
        let e = parse("kind: redis\nurl: redis://x\ntimeot: 5ms\n").unwrap_err();
        assert!(e.contains("timeot"), "{e}");
        let e = parse("kind: redis_cluster\nurl: redis://x\n").unwrap_err();
        assert!(e.contains("needs `nodes`"), "{e}");
        let e = parse("kind: redis\nurl: redis://x\ntimeout: 50\n").unwrap_err();
        assert!(e.contains("unit"), "{e}");
        let e = parse("kind: redis\nurl: redis://x\nkey_prefix: \"a{b\"\n").unwrap_err();
        assert!(e.contains("braces"), "{e}");
    }
}
