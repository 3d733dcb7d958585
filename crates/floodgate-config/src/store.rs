//! `store:`: where limit state lives. One flat section; `kind` says which
//! fields apply. `max_keys` and `shards` size the memory store, which under
//! a Redis store is the local fallback (`on_failure: local`).

use std::collections::BTreeMap;
use std::time::Duration;

use floodgate_core::store::{BreakerConfig, FailureSettings};
use floodgate_core::{FailureMode, MemoryStoreConfig};
use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Source};
use crate::locate::Seg;
use crate::units::{check_wait, DurationField};
use crate::url::check_url;

/// The store kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// In-process memory (the default).
    #[default]
    Memory,
    /// One Redis server: `url`.
    Redis,
    /// A Redis Cluster: `nodes`.
    RedisCluster,
    /// The primary the Sentinels name: `master_name`, `sentinels`.
    RedisSentinel,
}

/// Where a Redis script takes the time from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSourceName {
    /// Redis' own `TIME` (the default).
    Redis,
    /// The caller's clock.
    Caller,
}

/// How a Redis store runs its Lua code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptingName {
    /// Redis Functions where the server has them, else scripts (default).
    Auto,
    /// Redis Functions (`FUNCTION LOAD` once, `FCALL`; Redis 7+).
    Functions,
    /// One script (`SCRIPT LOAD`, `EVALSHA`).
    Eval,
}

/// `store.breaker:`
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerDocument {
    /// Consecutive failures that open the breaker (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    /// How long an open breaker waits before one probe (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<DurationField>,
}

/// `store.tls:`: the files `rediss://` connections trust and present.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsDocument {
    /// A PEM bundle of the CAs to trust (instead of the system's roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// A directory of `.pem`/`.crt` files of CAs to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_dir: Option<String>,
    /// The client certificate chain (PEM), for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// The client certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// Accept any server certificate (tests only; logged loudly).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
    /// The name the server's certificate must hold, when it is not the
    /// URL's host (`kind: redis` and `redis_sentinel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// `store:` as written. Absent fields take the store's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreDocument {
    /// The top-level key it is written under (`None`: `store`); not a
    /// field of the file.
    #[serde(skip)]
    pub section: Option<&'static str>,
    /// `memory` (default), `redis` or `redis_cluster`.
    #[serde(default)]
    pub kind: StoreKind,
    /// Most keys the memory store (or the local fallback) holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_keys: Option<u64>,
    /// Shards of the memory store (or the local fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<u64>,
    /// The Redis server's URL (`kind: redis`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Seed nodes (`kind: redis_cluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<String>>,
    /// Prefix of every Redis key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// Longest wait for one decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationField>,
    /// Longest wait for a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<DurationField>,
    /// Multiplexed connections to a standalone server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
    /// `redis` or `caller`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeSourceName>,
    /// What rules without their own `on_store_failure` do when Redis
    /// cannot decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<FailureMode>,
    /// In `local` mode, each limit is divided by this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_divisor: Option<u64>,
    /// Rule name → failure mode, for rules without their own
    /// `on_store_failure` (which wins).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::unique::unique_map"
    )]
    pub rules: BTreeMap<String, FailureMode>,
    /// Circuit breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerDocument>,
    /// The status of a request denied because a `fail_closed` limit could
    /// not be decided: 503 (default) or 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_closed_status: Option<u16>,
    /// `auto`, `functions` or `eval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scripting: Option<ScriptingName>,
    /// Most requests one gathered call carries (1: no gathering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gather_max: Option<u64>,
    /// Calls a connection has out before further requests are gathered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gather_in_flight: Option<u64>,
    /// The ACL user (Redis 6+), winning over the URL's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A file holding the password (winning over the URL's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// An environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// CA and client certificate files for `rediss://` URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsDocument>,
    /// The name the Sentinels monitor the primary by (`kind:
    /// redis_sentinel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_name: Option<String>,
    /// The Sentinels' URLs (`kind: redis_sentinel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinels: Option<Vec<String>>,
    /// The Sentinels' own ACL user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel_username: Option<String>,
    /// A file holding the Sentinels' password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel_password_file: Option<String>,
    /// An environment variable holding the Sentinels' password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel_password_env: Option<String>,
    /// The database on the primary (`kind: redis_sentinel`; default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<u64>,
}

/// `store.breaker:` with the defaults for what it leaves out.
impl From<BreakerDocument> for BreakerConfig {
    fn from(b: BreakerDocument) -> BreakerConfig {
        let default = BreakerConfig::default();
        BreakerConfig {
            failures: b.failures.unwrap_or(default.failures),
            cooldown: b.cooldown.map_or(default.cooldown, |d| d.0),
        }
    }
}

/// `on_failure`, `local_divisor` and `breaker` with the defaults for what
/// the section leaves out.
impl From<&StoreDocument> for FailureSettings {
    fn from(s: &StoreDocument) -> FailureSettings {
        let default = FailureSettings::default();
        FailureSettings {
            on_failure: s.on_failure.unwrap_or(default.on_failure),
            local_divisor: s.local_divisor.unwrap_or(default.local_divisor),
            breaker: s.breaker.unwrap_or_default().into(),
        }
    }
}

/// The most keys a memory store may be asked to hold.
pub const MAX_KEYS: u64 = 1 << 32;
/// The most shards a memory store may be asked for.
pub const MAX_SHARDS: u64 = 4_096;
/// The longest Redis decision or connect timeout.
pub const MAX_REDIS_WAIT: Duration = Duration::from_secs(60);
/// The longest breaker cool-down.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(3_600);
/// The most connections to a standalone Redis.
pub const MAX_CONNECTIONS: u64 = 64;
/// The largest `gather_max` and `gather_in_flight`.
pub const MAX_GATHER: u64 = 1_024;
/// The largest `database` (Redis' default `databases` is 16; a server
/// may have more).
pub const MAX_DATABASE: u64 = 1 << 20;
/// The largest `local_divisor` and `breaker.failures`.
pub const MAX_COUNT: u64 = 1_000_000;

impl StoreDocument {
    /// The memory store's settings (also the local fallback's).
    pub fn memory(&self) -> MemoryStoreConfig {
        let d = MemoryStoreConfig::default();
        MemoryStoreConfig {
            max_keys: self.max_keys.map_or(d.max_keys, |n| n as usize),
            shards: self.shards.map_or(d.shards, |n| n as usize),
            ..d
        }
    }

    /// Checks which fields apply to `kind`, and every range.
    pub fn check(&self, src: &Source) -> Result<(), ConfigError> {
        self.range(src, "max_keys", self.max_keys, 1, MAX_KEYS)?;
        self.range(src, "shards", self.shards, 1, MAX_SHARDS)?;
        match self.kind {
            StoreKind::Memory => self.check_no_redis_fields(src),
            StoreKind::Redis => {
                self.check_standalone(src)?;
                self.check_redis_ranges(src)
            }
            StoreKind::RedisCluster => {
                self.check_cluster(src)?;
                self.check_redis_ranges(src)
            }
            StoreKind::RedisSentinel => {
                self.check_sentinel(src)?;
                self.check_redis_ranges(src)
            }
        }?;
        self.check_access(src)
    }

    /// The URLs connected to: `url`, `nodes` or `sentinels`.
    fn urls(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.url.as_deref().into_iter().collect();
        all.extend(self.nodes.iter().flatten().map(String::as_str));
        all.extend(self.sentinels.iter().flatten().map(String::as_str));
        all
    }

    /// Credentials and TLS: one password source each, `tls` only for
    /// `rediss://` URLs, every URL TLS or none.
    fn check_access(&self, src: &Source) -> Result<(), ConfigError> {
        for (file, env) in [
            ("password_file", "password_env"),
            ("sentinel_password_file", "sentinel_password_env"),
        ] {
            let given = |f: &str| match f {
                "password_file" => self.password_file.is_some(),
                "password_env" => self.password_env.is_some(),
                "sentinel_password_file" => self.sentinel_password_file.is_some(),
                _ => self.sentinel_password_env.is_some(),
            };
            if given(file) && given(env) {
                return Err(src.error(&self.at(env), format!("give `{file}` or `{env}`, not both")));
            }
        }
        for (f, v) in [
            ("password_file", &self.password_file),
            ("password_env", &self.password_env),
            ("username", &self.username),
            ("sentinel_password_file", &self.sentinel_password_file),
            ("sentinel_password_env", &self.sentinel_password_env),
            ("sentinel_username", &self.sentinel_username),
        ] {
            if v.as_deref() == Some("") {
                return Err(src.error(&self.at(f), "must not be empty"));
            }
        }
        let urls = self.urls();
        let tls = urls.iter().filter(|u| u.starts_with("rediss://")).count();
        if tls != 0 && tls != urls.len() {
            let f = match self.kind {
                StoreKind::RedisCluster => "nodes",
                StoreKind::RedisSentinel => "sentinels",
                _ => "url",
            };
            return Err(src.error(&self.at(f), "every URL is rediss:// (TLS) or none is"));
        }
        if let Some(t) = &self.tls {
            if tls == 0 {
                return Err(src.error(
                    &self.at("tls"),
                    "applies to rediss:// URLs (TLS); these are redis://",
                ));
            }
            let tat = |f: &str| vec![Seg::from(self.section()), Seg::from("tls"), Seg::from(f)];
            if t.cert_file.is_some() != t.key_file.is_some() {
                let missing = if t.cert_file.is_some() {
                    "key_file"
                } else {
                    "cert_file"
                };
                return Err(src.error(
                    &tat(missing),
                    "`cert_file` and `key_file` go together (mutual TLS)",
                ));
            }
            if t.server_name.is_some() && self.kind == StoreKind::RedisCluster {
                return Err(src.error(
                    &tat("server_name"),
                    "applies to kind redis and redis_sentinel: a cluster's nodes are checked against the names they announce",
                ));
            }
            if let Some(n) = &t.server_name {
                if n.is_empty() || n.contains(|c: char| c.is_whitespace() || c == '/' || c == ':') {
                    return Err(src.error(&tat("server_name"), "must be a host name"));
                }
            }
            for (f, v) in [
                ("ca_file", &t.ca_file),
                ("ca_dir", &t.ca_dir),
                ("cert_file", &t.cert_file),
                ("key_file", &t.key_file),
            ] {
                if v.as_deref() == Some("") {
                    return Err(src.error(&tat(f), "must not be empty"));
                }
            }
        }
        Ok(())
    }

    /// `kind: redis_sentinel`: `master_name` and `sentinels`, no `url`,
    /// `nodes`.
    fn check_sentinel(&self, src: &Source) -> Result<(), ConfigError> {
        for (f, given) in [("url", self.url.is_some()), ("nodes", self.nodes.is_some())] {
            if given {
                return Err(src.error(
                    &self.at(f),
                    format!(
                        "`{f}` is not for kind: redis_sentinel; use `sentinels` and `master_name`"
                    ),
                ));
            }
        }
        match self.master_name.as_deref() {
            None => {
                return Err(src.error(&self.at("kind"), "kind: redis_sentinel needs `master_name`"))
            }
            Some("") => return Err(src.error(&self.at("master_name"), "must not be empty")),
            Some(_) => {}
        }
        let sentinels = self.sentinels.as_deref().unwrap_or_default();
        if sentinels.is_empty() {
            return Err(src.error(&self.at("kind"), "kind: redis_sentinel needs `sentinels`"));
        }
        for (i, n) in sentinels.iter().enumerate() {
            let here = vec![
                Seg::from(self.section()),
                Seg::from("sentinels"),
                Seg::from(i),
            ];
            check_url(n).map_err(|m| src.error(&here, m))?;
        }
        self.range(src, "database", self.database, 0, MAX_DATABASE)
    }

    /// Fields only `kind: redis_sentinel` takes are absent.
    fn check_no_sentinel_fields(&self, src: &Source) -> Result<(), ConfigError> {
        let sentinel_fields = [
            ("master_name", self.master_name.is_some()),
            ("sentinels", self.sentinels.is_some()),
            ("sentinel_username", self.sentinel_username.is_some()),
            (
                "sentinel_password_file",
                self.sentinel_password_file.is_some(),
            ),
            (
                "sentinel_password_env",
                self.sentinel_password_env.is_some(),
            ),
            ("database", self.database.is_some()),
        ];
        match sentinel_fields.iter().find(|(_, given)| *given) {
            Some((f, _)) => {
                Err(src.error(&self.at(f), format!("`{f}` applies to kind redis_sentinel")))
            }
            None => Ok(()),
        }
    }

    /// `kind: memory` sets no Redis field.
    fn check_no_redis_fields(&self, src: &Source) -> Result<(), ConfigError> {
        let redis_fields = [
            ("url", self.url.is_some()),
            ("nodes", self.nodes.is_some()),
            ("key_prefix", self.key_prefix.is_some()),
            ("timeout", self.timeout.is_some()),
            ("connect_timeout", self.connect_timeout.is_some()),
            ("connections", self.connections.is_some()),
            ("time", self.time.is_some()),
            ("on_failure", self.on_failure.is_some()),
            ("local_divisor", self.local_divisor.is_some()),
            ("rules", !self.rules.is_empty()),
            ("breaker", self.breaker.is_some()),
            ("fail_closed_status", self.fail_closed_status.is_some()),
            ("scripting", self.scripting.is_some()),
            ("gather_max", self.gather_max.is_some()),
            ("gather_in_flight", self.gather_in_flight.is_some()),
            ("username", self.username.is_some()),
            ("password_file", self.password_file.is_some()),
            ("password_env", self.password_env.is_some()),
            ("tls", self.tls.is_some()),
        ];
        self.check_no_sentinel_fields(src)?;
        if let Some((f, _)) = redis_fields.iter().find(|(_, given)| *given) {
            let kinds = match *f {
                "url" => "redis",
                "nodes" => "redis_cluster",
                _ => "redis, redis_cluster or redis_sentinel",
            };
            return Err(src.error(
                &self.at(f),
                format!("`{f}` applies to kind {kinds}, not memory"),
            ));
        }
        Ok(())
    }

    /// `kind: redis`: a `url`, no `nodes`.
    fn check_standalone(&self, src: &Source) -> Result<(), ConfigError> {
        if self.nodes.is_some() {
            return Err(src.error(
                &self.at("nodes"),
                "`nodes` is for kind: redis_cluster; use `url`",
            ));
        }
        self.check_no_sentinel_fields(src)?;
        let Some(url) = &self.url else {
            return Err(src.error(&self.at("kind"), "kind: redis needs a `url`"));
        };
        check_url(url).map_err(|m| src.error(&self.at("url"), m))
    }

    /// `kind: redis_cluster`: `nodes`, no `url`, no `connections`.
    fn check_cluster(&self, src: &Source) -> Result<(), ConfigError> {
        self.check_no_sentinel_fields(src)?;
        if self.url.is_some() {
            return Err(src.error(&self.at("url"), "`url` is for kind: redis; use `nodes`"));
        }
        let nodes = self.nodes.as_deref().unwrap_or_default();
        if nodes.is_empty() {
            return Err(src.error(&self.at("kind"), "kind: redis_cluster needs `nodes`"));
        }
        for (i, n) in nodes.iter().enumerate() {
            let here = vec![Seg::from(self.section()), Seg::from("nodes"), Seg::from(i)];
            check_url(n).map_err(|m| src.error(&here, m))?;
        }
        if self.connections.is_some() {
            return Err(src.error(
                &self.at("connections"),
                "applies to kind redis (a cluster client manages its connections)",
            ));
        }
        Ok(())
    }

    /// The ranges of the Redis fields.
    fn check_redis_ranges(&self, src: &Source) -> Result<(), ConfigError> {
        if let Some(p) = &self.key_prefix {
            if p.contains(['{', '}']) || p.len() > 64 {
                return Err(src.error(
                    &self.at("key_prefix"),
                    "at most 64 bytes, no braces (the identity is the hash tag)",
                ));
            }
        }
        check_wait(src, &self.at("timeout"), self.timeout, MAX_REDIS_WAIT)?;
        check_wait(
            src,
            &self.at("connect_timeout"),
            self.connect_timeout,
            MAX_REDIS_WAIT,
        )?;
        self.range(src, "connections", self.connections, 1, MAX_CONNECTIONS)?;
        self.range(src, "local_divisor", self.local_divisor, 1, MAX_COUNT)?;
        self.range(src, "gather_max", self.gather_max, 1, MAX_GATHER)?;
        self.range(
            src,
            "gather_in_flight",
            self.gather_in_flight,
            1,
            MAX_GATHER,
        )?;
        if let Some(b) = &self.breaker {
            let bat = |f: &str| {
                vec![
                    Seg::from(self.section()),
                    Seg::from("breaker"),
                    Seg::from(f),
                ]
            };
            if let Some(n) = b.failures {
                if n == 0 || u64::from(n) > MAX_COUNT {
                    return Err(src.error(
                        &bat("failures"),
                        format!("must be between 1 and {MAX_COUNT}"),
                    ));
                }
            }
            check_wait(src, &bat("cooldown"), b.cooldown, MAX_COOLDOWN)?;
        }
        if let Some(s) = self.fail_closed_status {
            if s != 429 && s != 503 {
                return Err(src.error(
                    &self.at("fail_closed_status"),
                    format!("must be 503 or 429, not {s}"),
                ));
            }
        }
        Ok(())
    }
}

impl StoreDocument {
    /// The top-level key this section is written under: `store`, or
    /// `global_store` for the store every region shares.
    pub fn section(&self) -> &'static str {
        self.section.unwrap_or("store")
    }

    /// The same section, written under `section`.
    pub fn under(mut self, section: &'static str) -> StoreDocument {
        self.section = Some(section);
        self
    }

    /// The path of `<section>.<f>`.
    fn at(&self, f: &str) -> Vec<Seg> {
        vec![Seg::from(self.section()), Seg::from(f)]
    }

    /// Checks `<section>.<f>`, when given, lies in `[lo, hi]`.
    fn range(
        &self,
        src: &Source,
        f: &str,
        v: Option<u64>,
        lo: u64,
        hi: u64,
    ) -> Result<(), ConfigError> {
        match v {
            Some(v) if v < lo || v > hi => {
                Err(src.error(&self.at(f), format!("must be between {lo} and {hi}")))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;

    #[test]
    fn failure_settings_take_the_defaults_for_what_is_left_out() {
        let doc = StoreDocument::default();
        assert_eq!(FailureSettings::from(&doc), FailureSettings::default());
        let doc = StoreDocument {
            on_failure: Some(FailureMode::FailClosed),
            local_divisor: Some(3),
            breaker: Some(BreakerDocument {
                failures: None,
                cooldown: Some(DurationField(Duration::from_secs(9))),
            }),
            ..StoreDocument::default()
        };
        let s = FailureSettings::from(&doc);
        assert_eq!(
            (s.on_failure, s.local_divisor),
            (FailureMode::FailClosed, 3)
        );
        assert_eq!(
            s.breaker,
            BreakerConfig {
                failures: BreakerConfig::DEFAULT_FAILURES,
                cooldown: Duration::from_secs(9),
            }
        );
    }
}
