//! The config file: one YAML document with the policy sections (see
//! `floodgate_core::policy::config`) and the server's own.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::policy::config::{
    ClientConfig, ConfigError, IdentityConfig, LimitConfig, PolicyConfig, RuleConfig,
};
use floodgate_core::policy::locate::Seg;
use floodgate_core::policy::units::DurationField;
use floodgate_core::{MemoryStoreConfig, Policy};
use floodgate_redis::RedisConfig;
use floodgate_tower::TrustedProxies;
use serde::Deserialize;

use crate::logs::LogFormat;

/// The file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Tier names.
    #[serde(default)]
    pub tiers: Vec<String>,
    /// Tier of clients without a known API key.
    #[serde(default)]
    pub default_tier: Option<String>,
    /// API key → tier.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// Where identities come from.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// Rules.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Limits over all traffic.
    #[serde(default)]
    pub global: Vec<LimitConfig>,
    /// Where state lives: `kind: memory` (default), `redis` or
    /// `redis_cluster`. Read as a value first, as its fields depend on
    /// `kind`.
    #[serde(default)]
    pub store: Option<serde_yaml_ng::Value>,
    /// Public listener address.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Admin listener.
    #[serde(default)]
    pub admin: AdminSection,
    /// Forward allowed requests here (`http://host:port`); without it the
    /// public listener serves the built-in demo endpoints.
    #[serde(default)]
    pub upstream: Option<String>,
    /// How long to wait for the upstream's response headers.
    #[serde(default)]
    pub upstream_timeout: Option<DurationField>,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` are believed (CIDRs).
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
    /// Time allowed to finish in-flight requests on shutdown.
    #[serde(default)]
    pub shutdown_grace: Option<DurationField>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// `admin:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Admin listener address (loopback by default).
    #[serde(default = "default_admin_listen")]
    pub listen: String,
    /// Bearer token required on admin endpoints (all but `/healthz` and
    /// `/readyz`). Required when `listen` is not a loopback address.
    #[serde(default)]
    pub token: Option<String>,
}

fn default_admin_listen() -> String {
    "127.0.0.1:9090".into()
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            listen: default_admin_listen(),
            token: None,
        }
    }
}

/// `log:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    pub format: LogFormat,
    /// `error`, `warn`, `info`, `debug`, `trace` (or a tracing filter).
    #[serde(default = "default_log_level")]
    pub level: String,
    /// Rejection log lines per second at most (0: every rejection).
    #[serde(default = "default_rejections_per_second")]
    pub rejections_per_second: u64,
}

fn default_log_format() -> LogFormat {
    LogFormat::Text
}
fn default_log_level() -> String {
    "info".into()
}
fn default_rejections_per_second() -> u64 {
    10
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: default_log_format(),
            level: default_log_level(),
            rejections_per_second: default_rejections_per_second(),
        }
    }
}

/// `store:` with `kind: memory`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `memory`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Most keys the memory store holds.
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
    /// Memory store shards.
    #[serde(default = "default_shards")]
    pub shards: usize,
}

fn default_kind() -> String {
    "memory".into()
}
fn default_max_keys() -> usize {
    MemoryStoreConfig::default().max_keys
}
fn default_shards() -> usize {
    MemoryStoreConfig::default().shards
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            kind: default_kind(),
            max_keys: default_max_keys(),
            shards: default_shards(),
        }
    }
}

/// A validated config.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it came from.
    pub file: String,
    /// The policy.
    pub policy: Arc<Policy>,
    /// Memory store settings (also the size of the local fallback store
    /// with Redis).
    pub memory: MemoryStoreConfig,
    /// Redis settings, when state lives in Redis.
    pub redis: Option<RedisConfig>,
    /// Public listener.
    pub listen: SocketAddr,
    /// Admin listener.
    pub admin_listen: SocketAddr,
    /// Admin bearer token.
    pub admin_token: Option<String>,
    /// Upstream, if proxying.
    pub upstream: Option<Upstream>,
    /// Trusted proxies.
    pub trusted_proxies: TrustedProxies,
    /// Logging.
    pub log: LogSection,
    /// Time allowed to finish in-flight requests on shutdown.
    pub shutdown_grace: Duration,
}

/// Where allowed requests go.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// Scheme and authority (`http://host:port`), no path.
    pub base: http::Uri,
    /// Wait at most this long for the response headers.
    pub timeout: Duration,
}

/// The config `serve` runs without `--config`: in-memory, public
/// listener on 127.0.0.1:8080 with the demo endpoints, admin on
/// 127.0.0.1:9090, 100 tokens refilled at 1 a second per client IP.
pub const DEFAULT_CONFIG: &str = r#"
listen: 127.0.0.1:8080
admin:
  listen: 127.0.0.1:9090
rules:
  - name: per-ip
    key: ip
    limits:
      - { algorithm: token_bucket, capacity: 100, refill: 1/s }
"#;

impl Config {
    /// Parses and validates `source`, naming `file` in errors.
    pub fn parse(file: &str, source: &str) -> Result<Config, ConfigError> {
        let raw: FileConfig =
            serde_yaml_ng::from_str(source).map_err(|e| ConfigError::from_yaml(file, &e))?;
        let policy = PolicyConfig {
            tiers: raw.tiers,
            default_tier: raw.default_tier,
            clients: raw.clients,
            identity: raw.identity,
            rules: raw.rules,
            global: raw.global,
        }
        .validate(file, source)?;
        let err = |path: &[&str], msg: String| {
            let segs: Vec<Seg> = path.iter().map(|p| Seg::from(*p)).collect();
            ConfigError::at(file, source, &segs, msg)
        };
        let listen: SocketAddr = raw.listen.parse().map_err(|_| {
            err(
                &["listen"],
                format!("`{}` is not an address like 127.0.0.1:8080", raw.listen),
            )
        })?;
        let admin_listen: SocketAddr = raw.admin.listen.parse().map_err(|_| {
            err(
                &["admin", "listen"],
                format!(
                    "`{}` is not an address like 127.0.0.1:9090",
                    raw.admin.listen
                ),
            )
        })?;
        if let Some(t) = &raw.admin.token {
            if t.len() < 16 {
                return Err(err(
                    &["admin", "token"],
                    "use at least 16 characters".into(),
                ));
            }
        }
        if !admin_listen.ip().is_loopback() && raw.admin.token.is_none() {
            return Err(err(
                &["admin", "listen"],
                format!(
                    "the admin listener on {admin_listen} is reachable from other hosts: set admin.token"
                ),
            ));
        }
        let upstream = match &raw.upstream {
            None => None,
            Some(u) => {
                let base: http::Uri = u
                    .parse()
                    .map_err(|e| err(&["upstream"], format!("`{u}` is not a URL: {e}")))?;
                if base.scheme_str() != Some("http") || base.authority().is_none() {
                    return Err(err(
                        &["upstream"],
                        format!("`{u}`: only http://host:port upstreams are supported"),
                    ));
                }
                if base.path() != "/" && !base.path().is_empty() {
                    return Err(err(
                        &["upstream"],
                        format!("`{u}`: give no path, only http://host:port"),
                    ));
                }
                Some(Upstream {
                    base,
                    timeout: raw
                        .upstream_timeout
                        .map_or(Duration::from_secs(30), |d| d.0),
                })
            }
        };
        if raw.upstream.is_none() && raw.upstream_timeout.is_some() {
            return Err(err(&["upstream_timeout"], "set without an upstream".into()));
        }
        let trusted_proxies = TrustedProxies::parse(&raw.trusted_proxies)
            .map_err(|m| err(&["trusted_proxies"], m))?;
        if tracing_subscriber::EnvFilter::try_new(&raw.log.level).is_err() {
            return Err(err(
                &["log", "level"],
                format!("`{}` is not a log level", raw.log.level),
            ));
        }
        let store_err = |field: &str, msg: String| {
            let mut path = vec![Seg::from("store")];
            if !field.is_empty() {
                path.push(Seg::from(field));
            }
            ConfigError::at(file, source, &path, msg)
        };
        // serde errors on a detached value carry no place: find the field
        // the message names.
        let value_err = |e: serde_yaml_ng::Error| {
            let msg = e.to_string();
            let field = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.starts_with("unknown field") || msg.starts_with("invalid"))
                .unwrap_or("")
                .to_string();
            store_err(&field, msg)
        };
        let value = raw.store.clone().unwrap_or(serde_yaml_ng::Value::Null);
        let kind = match &value {
            serde_yaml_ng::Value::Null => "memory".to_string(),
            serde_yaml_ng::Value::Mapping(m) => match m.get("kind") {
                None => "memory".to_string(),
                Some(serde_yaml_ng::Value::String(k)) => k.clone(),
                Some(_) => return Err(store_err("kind", "must be a string".into())),
            },
            _ => return Err(store_err("", "must be a mapping".into())),
        };
        let (store, redis) = match kind.as_str() {
            "memory" => {
                let section: StoreSection = if value.is_null() {
                    StoreSection::default()
                } else {
                    serde_yaml_ng::from_value(value).map_err(value_err)?
                };
                (section, None)
            }
            "redis" | "redis_cluster" => {
                let cfg: RedisConfig = serde_yaml_ng::from_value(value).map_err(value_err)?;
                cfg.validate().map_err(|e| store_err("", e.0))?;
                (StoreSection::default(), Some(cfg))
            }
            other => {
                return Err(store_err(
                    "kind",
                    format!(
                        "unknown store kind `{other}`, expected memory, redis or redis_cluster"
                    ),
                ))
            }
        };
        let store = &store;
        if store.max_keys == 0 {
            return Err(store_err("max_keys", "must be at least 1".into()));
        }
        Ok(Config {
            file: file.to_string(),
            policy: Arc::new(policy),
            memory: MemoryStoreConfig {
                max_keys: store.max_keys,
                shards: store.shards,
                ..MemoryStoreConfig::default()
            },
            redis,
            listen,
            admin_listen,
            admin_token: raw.admin.token.clone(),
            upstream,
            trusted_proxies,
            log: raw.log.clone(),
            shutdown_grace: raw.shutdown_grace.map_or(Duration::from_secs(10), |d| d.0),
        })
    }

    /// The embedded default config.
    pub fn default_config() -> Config {
        Config::parse("(default config)", DEFAULT_CONFIG).expect("the default config is valid")
    }

    /// Reads and validates a file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{file}: cannot read: {e}"))?;
        Ok(Config::parse(&file, &source)?)
    }

    /// A human summary, as printed by `check-config`.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let p = &self.policy;
        let mut out = String::new();
        let _ = writeln!(out, "{}: ok", self.file);
        let _ = writeln!(
            out,
            "tiers: {} (default: {}); clients: {}",
            if p.tiers.is_empty() {
                "none".to_string()
            } else {
                p.tiers
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            p.default_tier.as_deref().unwrap_or("none"),
            p.clients.len()
        );
        for r in &p.rules {
            let _ = writeln!(
                out,
                "rule {}{}: {} {} by {}",
                r.name,
                if r.shadow { " (shadow)" } else { "" },
                r.matcher.path,
                if r.matcher.methods.is_empty() {
                    "any method".to_string()
                } else {
                    r.matcher.methods.join(",")
                },
                r.key
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join("+")
            );
            for l in &r.limits {
                let _ = writeln!(out, "  {}: {}", l.name, l.quota);
            }
            let mut tiers: Vec<_> = r.tiers.iter().collect();
            tiers.sort_by(|a, b| a.0.cmp(b.0));
            for (t, ls) in tiers {
                if ls.is_empty() {
                    let _ = writeln!(out, "  tier {t}: unlimited");
                }
                for l in ls {
                    let _ = writeln!(out, "  tier {t}: {}: {}", l.name, l.quota);
                }
            }
        }
        for l in &p.global {
            let _ = writeln!(out, "global {}: {}", l.name, l.quota);
        }
        match &self.redis {
            None => {
                let _ = writeln!(out, "store: memory, at most {} keys", self.memory.max_keys);
            }
            Some(r) => {
                let target = r.url.clone().unwrap_or_else(|| r.nodes.join(", "));
                let _ = writeln!(
                    out,
                    "store: {:?} {target}, timeout {:?}, on failure {}",
                    r.kind,
                    r.timeout.0,
                    r.on_failure.as_str()
                );
            }
        }
        let _ = writeln!(
            out,
            "listen: {}; admin: {}{}",
            self.listen,
            self.admin_listen,
            if self.admin_token.is_some() {
                " (token)"
            } else {
                ""
            }
        );
        match &self.upstream {
            Some(u) => {
                let _ = writeln!(out, "upstream: {} (timeout {:?})", u.base, u.timeout);
            }
            None => {
                let _ = writeln!(out, "upstream: none (demo endpoints)");
            }
        }
        out
    }
}
