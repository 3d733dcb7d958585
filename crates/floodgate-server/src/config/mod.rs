//! The config file as the server runs it: the validated policy (from
//! `floodgate-config`) and the server's sections turned into addresses,
//! URLs, proxies and store settings. Errors name the file, line and field.
//!
//! # Layout
//!
//! - this file: [`Config`] and its checks.
//! - [`limits`]: each listener's connection bounds.
//! - [`redis`]: the Redis store's settings.
//! - [`hot`]: which fields change at a reload, and which need a restart.
//! - [`summary`]: what `check-config` prints.

pub mod hot;
pub mod limits;
mod redis;
pub mod summary;

pub use limits::ConnectionLimits;
use redis::redis_config;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use floodgate_config::locate::Seg;
use floodgate_config::{
    ConfigError, ConfigFile, FileDocument, LoadError, LogSection, ServerDocument,
};
use floodgate_core::{MemoryStoreConfig, Policy};
use floodgate_redis::RedisConfig;
use floodgate_tower::TrustedProxies;

use floodgate_admin::auth::Tokens;

/// A validated config.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it came from.
    pub file: String,
    /// The document as written (reloads compare sections with it).
    pub document: FileDocument,
    /// The policy.
    pub policy: Arc<Policy>,
    /// What the file's `envoy_ratelimit` files hold that is accepted
    /// without its full meaning, located.
    pub warnings: Vec<ConfigError>,
    /// Memory store settings (also the size of the local fallback store
    /// with Redis).
    pub memory: MemoryStoreConfig,
    /// Redis settings, when state lives in Redis.
    pub redis: Option<RedisConfig>,
    /// This replica's region, when it runs in one of several (`region:`,
    /// `FLOODGATE_REGION`).
    pub region: Option<floodgate_config::region::Region>,
    /// The store every region shares (`global_store:`), for `global`
    /// limits.
    pub global_redis: Option<RedisConfig>,
    /// Public listener.
    pub listen: SocketAddr,
    /// Admin listener.
    pub admin_listen: SocketAddr,
    /// gRPC listener (Envoy's rate limit service), when set.
    pub grpc_listen: Option<SocketAddr>,
    /// Admin tokens (`admin.tokens` and `FLOODGATE_ADMIN_TOKENS`).
    pub admin_tokens: Tokens,
    /// Upstream, if proxying.
    pub upstream: Option<Upstream>,
    /// Trusted proxies.
    pub trusted_proxies: TrustedProxies,
    /// The status of a request denied because a `fail_closed` limit could
    /// not be decided (`store.fail_closed_status`, 503 by default).
    pub fail_closed_status: http::StatusCode,
    /// Logging.
    pub log: LogSection,
    /// Time allowed to finish in-flight requests on shutdown.
    pub shutdown_grace: Duration,
    /// Threads serving the listeners' connections (`threads`).
    pub threads: usize,
}

/// Where allowed requests go.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// Scheme and authority (`http://host:port`), no path.
    pub base: http::Uri,
    /// Wait at most this long for the response headers.
    pub timeout: Duration,
    /// Load shedding (`overload:`), unless disabled.
    pub overload: Option<crate::gateway::overload::Settings>,
    /// WebSocket proxying (`websocket:`), unless disabled.
    pub websocket: Option<crate::gateway::websocket::Settings>,
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
        Config::from_file(ConfigFile::parse(file, source)?)
    }

    /// The server's view of a validated file.
    pub fn from_file(cf: ConfigFile) -> Result<Config, ConfigError> {
        let src = cf.source();
        let at = Locate(&src);
        let raw = &cf.document.server;
        let (listen, admin_listen, grpc_listen) = listeners(raw, at)?;
        let admin_tokens = Tokens::from_config(&raw.admin, Tokens::env_value()?.as_deref())?;
        if !admin_listen.ip().is_loopback() && admin_tokens.is_empty() {
            return Err(at.error(
                &["admin", "listen"],
                format!(
                    "the admin listener on {admin_listen} is reachable from other hosts: set admin.tokens (or {})",
                    floodgate_admin::auth::ENV_VAR
                ),
            ));
        }
        let upstream = match &raw.upstream {
            None => None,
            Some(u) => Some(upstream(raw, u, at)?),
        };
        let trusted_proxies = TrustedProxies::parse(&raw.trusted_proxies)
            .map_err(|e| at.error(&["trusted_proxies"], e.to_string()))?;
        check_log_level(&raw.log.level, at)?;
        let threads = raw.threads.map_or_else(
            crate::net::workers::default_threads,
            // Within MAX_THREADS: checked at load.
            |n| usize::try_from(n).unwrap_or(1),
        );
        let region = match &raw.region {
            None => None,
            Some(r) => Some(r.resolve(&src, region_env()?.as_deref())?),
        };
        Ok(Config {
            redis: redis_config(&cf.document),
            region,
            global_redis: raw.global_store.as_ref().and_then(|g| {
                let mut rc =
                    floodgate_config::redis::redis_config(g, RedisConfig::DEFAULT_CONNECTIONS)?;
                // Far away: a call waits for a round trip across regions,
                // and more calls are out at once before requests are
                // gathered (each would otherwise wait a round trip more).
                if g.timeout.is_none() {
                    rc.timeout = GLOBAL_STORE_TIMEOUT;
                }
                if g.gather_in_flight.is_none() {
                    rc.gather_in_flight = GLOBAL_GATHER_IN_FLIGHT;
                }
                Some(rc)
            }),
            listen,
            admin_listen,
            grpc_listen,
            admin_tokens,
            upstream,
            trusted_proxies,
            fail_closed_status: raw
                .store
                .fail_closed_status
                .and_then(|s| http::StatusCode::from_u16(s).ok())
                .unwrap_or(http::StatusCode::SERVICE_UNAVAILABLE),
            log: raw.log.clone(),
            shutdown_grace: raw.shutdown_grace.map_or(Duration::from_secs(10), |d| d.0),
            threads,
            memory: cf.memory,
            policy: cf.policy,
            warnings: cf.warnings,
            file: cf.file,
            document: cf.document,
        })
    }

    /// The public listener's connection bounds (`connections:`).
    pub fn public_connections(&self) -> ConnectionLimits {
        ConnectionLimits::from_section(&self.document.server.connections, ConnectionLimits::PUBLIC)
    }

    /// The gRPC listener's connection bounds (`grpc.connections:`).
    pub fn grpc_connections(&self) -> ConnectionLimits {
        ConnectionLimits::from_section(
            &self.document.server.grpc.connections,
            ConnectionLimits::GRPC,
        )
    }

    /// The admin listener's connection bounds (`admin.connections:`).
    pub fn admin_connections(&self) -> ConnectionLimits {
        ConnectionLimits::from_section(
            &self.document.server.admin.connections,
            ConnectionLimits::ADMIN,
        )
    }

    /// The embedded default config.
    pub fn default_config() -> Config {
        Config::parse("(default config)", DEFAULT_CONFIG).expect("the default config is valid")
    }

    /// Reads and validates a file; logs its warnings.
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let config = Config::from_file(ConfigFile::load(path)?)?;
        for w in &config.warnings {
            tracing::warn!(warning = %w, "accepted with a warning");
        }
        Ok(config)
    }
}

/// `global_store.timeout` when not written: a round trip across regions
/// takes tens to hundreds of milliseconds.
pub const GLOBAL_STORE_TIMEOUT: Duration = Duration::from_secs(1);

/// `global_store.gather_in_flight` when not written: calls out at once
/// per connection before requests wait to be gathered.
pub const GLOBAL_GATHER_IN_FLIGHT: usize = 16;

/// `FLOODGATE_REGION`, when set.
fn region_env() -> Result<Option<String>, ConfigError> {
    use floodgate_config::region::REGION_ENV;
    match std::env::var(REGION_ENV) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError {
            file: REGION_ENV.into(),
            line: 0,
            column: 0,
            field: String::new(),
            message: "is not valid UTF-8".into(),
        }),
    }
}

/// Errors located in the file a config was read from.
#[derive(Clone, Copy)]
struct Locate<'a>(&'a floodgate_config::Source<'a>);

impl Locate<'_> {
    fn error(&self, path: &[&str], message: String) -> ConfigError {
        let segs: Vec<Seg> = path.iter().map(|p| Seg::from(*p)).collect();
        self.0.error(&segs, message)
    }
}

/// The public, admin and gRPC listeners' addresses.
fn listeners(
    raw: &ServerDocument,
    at: Locate,
) -> Result<(SocketAddr, SocketAddr, Option<SocketAddr>), ConfigError> {
    let listen: SocketAddr = raw.listen.parse().map_err(|_| {
        at.error(
            &["listen"],
            format!("`{}` is not an address like 127.0.0.1:8080", raw.listen),
        )
    })?;
    let admin_listen: SocketAddr = raw.admin.listen.parse().map_err(|_| {
        at.error(
            &["admin", "listen"],
            format!(
                "`{}` is not an address like 127.0.0.1:9090",
                raw.admin.listen
            ),
        )
    })?;
    let grpc_listen = match &raw.grpc.listen {
        None => None,
        Some(g) => Some(g.parse::<SocketAddr>().map_err(|_| {
            at.error(
                &["grpc", "listen"],
                format!("`{g}` is not an address like 127.0.0.1:8081"),
            )
        })?),
    };
    Ok((listen, admin_listen, grpc_listen))
}

/// The upstream `u` and the gateway's settings.
fn upstream(raw: &ServerDocument, u: &str, at: Locate) -> Result<Upstream, ConfigError> {
    let base: http::Uri = u
        .parse()
        .map_err(|e| at.error(&["upstream"], format!("`{u}` is not a URL: {e}")))?;
    if base.scheme_str() != Some("http") || base.authority().is_none() {
        return Err(at.error(
            &["upstream"],
            format!("`{u}`: only http://host:port upstreams are supported"),
        ));
    }
    if base.path() != "/" && !base.path().is_empty() {
        return Err(at.error(
            &["upstream"],
            format!("`{u}`: give no path, only http://host:port"),
        ));
    }
    Ok(Upstream {
        base,
        timeout: raw
            .upstream_timeout
            .map_or(Duration::from_secs(30), |d| d.0),
        overload: crate::gateway::overload::Settings::from_section(&raw.overload),
        websocket: crate::gateway::websocket::Settings::from_section(&raw.websocket, at.0)?,
    })
}

/// A log level or filter: a bare word must be a level, as `verbose`
/// would read as a filter for a module of that name, and silence
/// everything else.
fn check_log_level(level: &str, at: Locate) -> Result<(), ConfigError> {
    let levels = ["off", "error", "warn", "info", "debug", "trace"];
    let bare_word = level
        .split(',')
        .any(|d| !d.contains('=') && !d.contains("::") && !levels.contains(&d.trim()));
    if bare_word || tracing_subscriber::EnvFilter::try_new(level).is_err() {
        return Err(at.error(
            &["log", "level"],
            format!(
                "`{level}` is not a log level: use off, error, warn, info, debug or trace, or a filter such as `info,floodgate=debug`"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connections(threads: &str, store: &str) -> usize {
        let yaml = format!(
            "listen: 127.0.0.1:0\n{threads}store:\n  kind: redis\n  url: redis://127.0.0.1:6379\n{store}rules:\n  - name: r\n    key: ip\n    limits:\n      - {{ algorithm: fixed_window, limit: 1, window: 1s }}\n"
        );
        let config = Config::parse("t.yaml", &yaml).unwrap();
        config.redis.unwrap().connections
    }

    #[test]
    fn redis_connections_default_to_one_whatever_the_serving_threads() {
        assert_eq!(connections("threads: 4\n", ""), 1);
        assert_eq!(connections("threads: 1\n", ""), 1);
        assert_eq!(connections("threads: 200\n", ""), 1);
        assert_eq!(connections("", ""), 1);
        // Set, it is what it says.
        assert_eq!(connections("threads: 4\n", "  connections: 3\n"), 3);
    }
}
