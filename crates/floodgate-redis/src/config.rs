//! `RedisConfig`: the Redis store's settings, built in Rust. Parsing the
//! config file's `store:` section into it is the config crate's job; this
//! module holds the defaults it uses and [`RedisConfig::validate`].

use std::time::Duration;

pub use floodgate_core::store::{BreakerConfig, FailureSettings};
use floodgate_core::FailureMode;

pub use crate::config_error::ConfigError;
pub use crate::connect::secret::{Credentials, Secret};
pub use crate::connect::sentinel::SentinelSettings;
pub use crate::connect::tls::TlsSettings;

/// Standalone Redis, Redis Cluster, or a primary under Sentinel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisKind {
    /// One Redis server (or a proxy that looks like one): `url`.
    Redis,
    /// A Redis Cluster: `nodes`, seed nodes of the cluster.
    RedisCluster,
    /// The primary the Sentinels name: `sentinel`.
    RedisSentinel,
}

/// Where the time a script decides at comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeSource {
    /// Redis' own `TIME`, read inside the script: replicas with skewed
    /// clocks still agree. The default.
    #[default]
    Redis,
    /// The `now` the caller passes to `Store::check` (tests, `simulate`).
    Caller,
}

/// How the store runs its Lua code on Redis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scripting {
    /// Redis Functions when the server has them (Redis 7 and later),
    /// otherwise scripts; chosen once, when the store connects. The
    /// default.
    #[default]
    Auto,
    /// Redis Functions: the library is loaded once (`FUNCTION LOAD`) and
    /// each decision is one `FCALL`, which runs only the decision's code.
    /// Connecting fails on a server without them.
    Functions,
    /// One script (`SCRIPT LOAD`, then `EVALSHA`), whose whole chunk runs
    /// on every call: any Redis since 2.6.
    Eval,
}

/// The Redis store's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// Standalone or cluster.
    pub kind: RedisKind,
    /// The server's URL (`redis://host:port/db`), for [`RedisKind::Redis`].
    pub url: Option<String>,
    /// Seed nodes, for [`RedisKind::RedisCluster`].
    pub nodes: Vec<String>,
    /// Prefix of every key (short, as key names are most of a key's
    /// memory); no braces.
    pub key_prefix: String,
    /// Longest wait for one decision; past it the store fails with a
    /// transient error.
    pub timeout: Duration,
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Multiplexed connections to a standalone server, used in turn
    /// (requests are pipelined on each); 1 to 64.
    pub connections: usize,
    /// Redis' time or the caller's.
    pub time: TimeSource,
    /// What to do when Redis cannot decide: the default mode, the local
    /// divisor and the circuit breaker.
    pub failure: FailureSettings,
    /// Redis Functions or scripts.
    pub scripting: Scripting,
    /// Gathering: the most requests one call carries (1: every request is
    /// a call of its own). Requests concurrent on one connection (and, on
    /// a cluster, one hash slot) wait to be gathered only while that
    /// connection already has `gather_in_flight` calls out.
    pub gather_max: usize,
    /// Gathering: the calls a connection has out before further requests
    /// wait and are gathered into its next call. Below it (low load) a
    /// request is sent at once, alone.
    pub gather_in_flight: usize,
    /// The ACL user and password for the data servers (win over the
    /// URLs').
    pub credentials: Credentials,
    /// CA and client certificate files for `rediss://` connections.
    pub tls: TlsSettings,
    /// The Sentinels and master name, for [`RedisKind::RedisSentinel`].
    pub sentinel: SentinelSettings,
}

impl RedisConfig {
    /// Default of `key_prefix`.
    pub const DEFAULT_KEY_PREFIX: &'static str = "fg:";
    /// Default of `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
    /// Default of `connect_timeout`.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default of `connections`.
    pub const DEFAULT_CONNECTIONS: usize = 1;
    /// Default of `time`.
    pub const DEFAULT_TIME: TimeSource = TimeSource::Redis;
    /// Default of `on_failure`.
    pub const DEFAULT_ON_FAILURE: FailureMode = FailureSettings::DEFAULT_ON_FAILURE;
    /// Default of `local_divisor`.
    pub const DEFAULT_LOCAL_DIVISOR: u64 = FailureSettings::DEFAULT_LOCAL_DIVISOR;
    /// Default of `scripting`.
    pub const DEFAULT_SCRIPTING: Scripting = Scripting::Auto;
    /// Default of `gather_max`.
    pub const DEFAULT_GATHER_MAX: usize = 32;
    /// Most `gather_max` allowed.
    pub const MAX_GATHER_MAX: usize = 1_024;
    /// Default of `gather_in_flight`.
    pub const DEFAULT_GATHER_IN_FLIGHT: usize = 1;
    /// Most `gather_in_flight` allowed.
    pub const MAX_GATHER_IN_FLIGHT: usize = 1_024;
    /// Most `connections` allowed.
    pub const MAX_CONNECTIONS: usize = 64;

    /// Defaults for `kind`, with neither `url` nor `nodes`.
    pub fn with_defaults(kind: RedisKind) -> RedisConfig {
        RedisConfig {
            kind,
            url: None,
            nodes: Vec::new(),
            key_prefix: RedisConfig::DEFAULT_KEY_PREFIX.into(),
            timeout: RedisConfig::DEFAULT_TIMEOUT,
            connect_timeout: RedisConfig::DEFAULT_CONNECT_TIMEOUT,
            connections: RedisConfig::DEFAULT_CONNECTIONS,
            time: RedisConfig::DEFAULT_TIME,
            failure: FailureSettings::default(),
            scripting: RedisConfig::DEFAULT_SCRIPTING,
            gather_max: RedisConfig::DEFAULT_GATHER_MAX,
            gather_in_flight: RedisConfig::DEFAULT_GATHER_IN_FLIGHT,
            credentials: Credentials::default(),
            tls: TlsSettings::default(),
            sentinel: SentinelSettings::default(),
        }
    }

    /// Defaults for one server at `url`.
    pub fn standalone(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: Some(url.into()),
            ..RedisConfig::with_defaults(RedisKind::Redis)
        }
    }

    /// Defaults for the primary that the Sentinels at `sentinels` name
    /// `master_name`.
    pub fn sentinel(
        master_name: impl Into<String>,
        sentinels: impl IntoIterator<Item = impl Into<String>>,
    ) -> RedisConfig {
        RedisConfig {
            sentinel: SentinelSettings {
                master_name: master_name.into(),
                sentinels: sentinels.into_iter().map(Into::into).collect(),
                ..SentinelSettings::default()
            },
            ..RedisConfig::with_defaults(RedisKind::RedisSentinel)
        }
    }

    /// The URLs this config connects to (the Sentinels' for Sentinel).
    pub fn urls(&self) -> Vec<&str> {
        match self.kind {
            RedisKind::Redis => self.url.as_deref().into_iter().collect(),
            RedisKind::RedisCluster => self.nodes.iter().map(String::as_str).collect(),
            RedisKind::RedisSentinel => {
                self.sentinel.sentinels.iter().map(String::as_str).collect()
            }
        }
    }

    /// Defaults for a cluster reached through `nodes`.
    pub fn cluster(nodes: impl IntoIterator<Item = impl Into<String>>) -> RedisConfig {
        RedisConfig {
            nodes: nodes.into_iter().map(Into::into).collect(),
            ..RedisConfig::with_defaults(RedisKind::RedisCluster)
        }
    }

    /// Checks that the settings can work together.
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
            RedisKind::RedisSentinel if self.url.is_some() || !self.nodes.is_empty() => {
                return err("kind: redis_sentinel takes `sentinels`, not `url` or `nodes`")
            }
            RedisKind::RedisSentinel if self.sentinel.sentinels.is_empty() => {
                return err("kind: redis_sentinel needs `sentinels`")
            }
            RedisKind::RedisSentinel if self.sentinel.master_name.is_empty() => {
                return err("kind: redis_sentinel needs `master_name`")
            }
            _ => {}
        }
        let urls = self.urls();
        let tls = urls.iter().filter(|u| u.starts_with("rediss://")).count();
        if tls != 0 && tls != urls.len() {
            return err("every URL is rediss:// or none is");
        }
        if self.tls.server_name.is_some() && self.kind == RedisKind::RedisCluster {
            return err("tls.server_name applies to kind redis and redis_sentinel");
        }
        if tls == 0
            && (self.tls.has_files()
                || self.tls.insecure_skip_verify
                || self.tls.server_name.is_some())
        {
            return err("`tls` settings apply to rediss:// URLs; these are redis://");
        }
        if self.key_prefix.contains(['{', '}']) {
            return err("key_prefix must not contain braces (the identity is the hash tag)");
        }
        if self.timeout.is_zero() {
            return err("timeout must be above 0");
        }
        if self.connections == 0 || self.connections > RedisConfig::MAX_CONNECTIONS {
            return err("connections must be between 1 and 64");
        }
        if self.failure.local_divisor == 0 {
            return err("local_divisor must be at least 1");
        }
        if self.gather_max == 0 || self.gather_max > RedisConfig::MAX_GATHER_MAX {
            return err("gather_max must be between 1 and 1024");
        }
        if self.gather_in_flight == 0 || self.gather_in_flight > RedisConfig::MAX_GATHER_IN_FLIGHT {
            return err("gather_in_flight must be between 1 and 1024");
        }
        if self.failure.breaker.failures == 0 {
            return err("breaker.failures must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(c: &RedisConfig) -> String {
        c.validate().expect_err("invalid config").to_string()
    }

    #[test]
    fn constructors_fill_in_the_defaults_and_validate() {
        let c = RedisConfig::standalone("redis://127.0.0.1:6379");
        assert_eq!(c.kind, RedisKind::Redis);
        assert_eq!(c.url.as_deref(), Some("redis://127.0.0.1:6379"));
        assert!(c.nodes.is_empty());
        assert_eq!(c.key_prefix, "fg:");
        assert_eq!(c.timeout, Duration::from_millis(50));
        assert_eq!(c.connect_timeout, Duration::from_secs(1));
        assert_eq!(c.connections, 1);
        assert_eq!(c.time, TimeSource::Redis);
        assert_eq!(c.failure.on_failure, FailureMode::Local);
        assert_eq!(c.failure.local_divisor, 1);
        assert_eq!(c.scripting, Scripting::Auto);
        assert_eq!((c.gather_max, c.gather_in_flight), (32, 1));
        assert_eq!(
            c.failure.breaker,
            BreakerConfig {
                failures: 5,
                cooldown: Duration::from_secs(1)
            }
        );
        assert_eq!(c.validate(), Ok(()));

        let c = RedisConfig::cluster(["redis://a:7000", "redis://b:7001"]);
        assert_eq!(c.kind, RedisKind::RedisCluster);
        assert_eq!(c.url, None);
        assert_eq!(c.nodes, ["redis://a:7000", "redis://b:7001"]);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn every_field_set_validates() {
        let c = RedisConfig {
            key_prefix: "app:".into(),
            timeout: Duration::from_millis(20),
            connect_timeout: Duration::from_secs(2),
            connections: 64,
            time: TimeSource::Caller,
            failure: FailureSettings {
                on_failure: FailureMode::FailOpen,
                local_divisor: 3,
                breaker: BreakerConfig {
                    failures: 1,
                    cooldown: Duration::from_millis(500),
                },
            },
            scripting: Scripting::Eval,
            gather_max: 1_024,
            gather_in_flight: 1,
            ..RedisConfig::cluster(["redis://a:7000"])
        };
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn url_and_nodes_follow_the_kind() {
        let mut c = RedisConfig::standalone("redis://x");
        c.url = None;
        assert!(error_of(&c).contains("needs a `url`"));
        let mut c = RedisConfig::standalone("redis://x");
        c.nodes = vec!["redis://y".into()];
        assert!(error_of(&c).contains("use `url`"));
        let mut c = RedisConfig::cluster(["redis://x"]);
        c.nodes.clear();
        assert!(error_of(&c).contains("needs `nodes`"));
        let mut c = RedisConfig::cluster(["redis://x"]);
        c.url = Some("redis://x".into());
        assert!(error_of(&c).contains("use `nodes`"));
    }

    /// Configs with one setting out of range, and the setting.
    fn out_of_range() -> [(RedisConfig, &'static str); 10] {
        let with = |set: fn(&mut RedisConfig)| {
            let mut c = RedisConfig::standalone("redis://x");
            set(&mut c);
            c
        };
        [
            (with(|c| c.gather_max = 0), "gather_max"),
            (with(|c| c.gather_max = 1_025), "gather_max"),
            (with(|c| c.gather_in_flight = 0), "gather_in_flight"),
            (with(|c| c.gather_in_flight = 1_025), "gather_in_flight"),
            (with(|c| c.key_prefix = "a{b".into()), "braces"),
            (
                with(|c| c.timeout = Duration::ZERO),
                "timeout must be above 0",
            ),
            (with(|c| c.connections = 0), "connections"),
            (with(|c| c.connections = 65), "connections"),
            (with(|c| c.failure.local_divisor = 0), "local_divisor"),
            (with(|c| c.failure.breaker.failures = 0), "breaker.failures"),
        ]
    }

    #[test]
    fn out_of_range_settings_are_errors() {
        for (c, expected) in out_of_range() {
            let e = error_of(&c);
            assert!(e.starts_with("redis store config: "), "{e}");
            assert!(e.contains(expected), "{expected}: {e}");
        }
    }
}
