//! Config reloads (SIGHUP, a changed file, or a call): every section that
//! can change at run time changes at once; a change that needs a restart
//! (listeners, upstream, the store's kind and connection, log output) is
//! reported by name, in the log and in the returned report.

use std::path::PathBuf;
use std::sync::Arc;

use floodgate_config::{ServerDocument, StoreDocument};
use floodgate_tower::LimiterHandle;
use parking_lot::Mutex;

use crate::auth::Auth;
use crate::config::Config;
use crate::error::ReloadError;
use crate::live::LivePolicy;
use crate::stores::Resilient;

/// What a reload did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Rules in the live policy after the reload.
    pub rules: usize,
    /// The policy version the file's policy part became, when it changed
    /// since it was last read (an unchanged policy part leaves the live
    /// policy, and changes made through the admin API, in place).
    pub policy_version: Option<u64>,
    /// Why the file's policy part was not applied, when it changed but
    /// could not become the live policy (the policy store was away, for
    /// one): the server sections were applied all the same.
    pub policy_error: Option<String>,
    /// Fields that changed but take effect only at the next restart.
    pub needs_restart: Vec<&'static str>,
}

/// Applies reloads to a running server.
pub(crate) struct Reloader {
    pub(crate) path: Option<PathBuf>,
    pub(crate) handle: LimiterHandle,
    pub(crate) live: Arc<LivePolicy>,
    pub(crate) redis: Option<Arc<Resilient>>,
    pub(crate) auth: Arc<Auth>,
    pub(crate) current: Mutex<Config>,
}

impl Reloader {
    /// Reloads the file. On error the running config stays.
    pub(crate) async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let (report, policy) = self.reload_server_sections()?;
        // The server sections are in force now; the policy part may still
        // be refused (invalid as a whole live policy, or its store away).
        let (policy_version, policy_error) = match self.live.file_reloaded(policy).await {
            Ok(done) => (done.map(|c| c.version), None),
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "the config file's policy part was not applied (the server sections were); \
                     the live policy stays; reload again once this is resolved"
                );
                (None, Some(e.to_string()))
            }
        };
        let report = ReloadReport {
            rules: self.live.policy().await.rules.len(),
            policy_version,
            policy_error,
            ..report
        };
        tracing::info!(
            file = %self.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            rules = report.rules,
            policy_version = report.policy_version,
            "config reloaded; counters of unchanged limits kept"
        );
        Ok(report)
    }

    /// Applies the server sections; returns the file's policy part.
    fn reload_server_sections(
        &self,
    ) -> Result<(ReloadReport, floodgate_config::PolicyDocument), ReloadError> {
        let Some(path) = &self.path else {
            return Err(ReloadError::NoFile);
        };
        let new = match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "config reload refused; keeping the previous config");
                return Err(e.into());
            }
        };
        let mut current = self.current.lock();
        let needs_restart = needs_restart(&current.document.server, &new.document.server);
        for field in &needs_restart {
            tracing::warn!(
                field,
                "this change takes effect at the next restart; the running value stays"
            );
        }
        if let (Some(r), Some(rc)) = (&self.redis, &new.redis) {
            r.reconfigure(rc.on_failure, rc.local_divisor, rc.breaker);
        }
        self.auth.set_tokens(new.admin_tokens.clone());
        self.handle.swap_proxies(new.trusted_proxies.clone());
        let report = ReloadReport {
            needs_restart,
            ..ReloadReport::default()
        };
        let policy = new.document.policy.clone();
        // Sections that need a restart keep their running values, so that
        // the next reload compares against what really runs.
        let mut kept = new;
        if !report.needs_restart.is_empty() {
            kept.document.server = restart_sections(&current.document.server, kept.document.server);
            kept.listen = current.listen;
            kept.admin_listen = current.admin_listen;
            kept.grpc_listen = current.grpc_listen;
            kept.upstream = current.upstream.clone();
            kept.memory = current.memory;
            kept.log = current.log.clone();
            kept.shutdown_grace = current.shutdown_grace;
            kept.threads = current.threads;
            if let (Some(old), Some(new)) = (&current.redis, &mut kept.redis) {
                *new = floodgate_redis::RedisConfig {
                    on_failure: new.on_failure,
                    local_divisor: new.local_divisor,
                    breaker: new.breaker,
                    ..old.clone()
                };
            } else {
                kept.redis = current.redis.clone();
            }
        }
        *current = kept;
        Ok((report, policy))
    }
}

/// The fields of `new` that differ from `old` and need a restart.
pub fn needs_restart(old: &ServerDocument, new: &ServerDocument) -> Vec<&'static str> {
    let (a, b) = (&old.store, &new.store);
    let store_connection = |s: &StoreDocument| {
        (
            s.kind,
            s.url.clone(),
            s.nodes.clone(),
            s.key_prefix.clone(),
            s.timeout,
            s.connect_timeout,
            s.connections,
            s.time,
            s.scripting,
            s.gather_max,
            s.gather_in_flight,
        )
    };
    let changed = [
        ("listen", old.listen != new.listen),
        ("admin.listen", old.admin.listen != new.admin.listen),
        ("upstream", old.upstream != new.upstream),
        (
            "upstream_timeout",
            old.upstream_timeout != new.upstream_timeout,
        ),
        ("store.kind", a.kind != b.kind),
        (
            "store (url, nodes, key_prefix, timeouts, connections, time, scripting, gathering)",
            a.kind == b.kind && store_connection(a) != store_connection(b),
        ),
        ("store.max_keys", a.max_keys != b.max_keys),
        ("store.shards", a.shards != b.shards),
        ("log.format", old.log.format != new.log.format),
        ("log.level", old.log.level != new.log.level),
        (
            "log.rejections_per_second",
            old.log.rejections_per_second != new.log.rejections_per_second,
        ),
        ("shutdown_grace", old.shutdown_grace != new.shutdown_grace),
        ("threads", old.threads != new.threads),
        ("connections", old.connections != new.connections),
        ("overload", old.overload != new.overload),
        ("websocket", old.websocket != new.websocket),
        (
            "admin.connections",
            old.admin.connections != new.admin.connections,
        ),
        ("grpc.listen", old.grpc.listen != new.grpc.listen),
        (
            "grpc.connections",
            old.grpc.connections != new.grpc.connections,
        ),
        (
            "admin.dashboard",
            old.admin.dashboard != new.admin.dashboard,
        ),
    ];
    changed
        .into_iter()
        .filter(|(_, c)| *c)
        .map(|(f, _)| f)
        .collect()
}

/// `new` with the sections that need a restart as they run (`old`).
fn restart_sections(old: &ServerDocument, new: ServerDocument) -> ServerDocument {
    ServerDocument {
        store: StoreDocument {
            on_failure: new.store.on_failure,
            local_divisor: new.store.local_divisor,
            rules: new.store.rules,
            breaker: new.store.breaker,
            ..old.store.clone()
        },
        admin: floodgate_config::AdminSection {
            tokens: new.admin.tokens,
            ..old.admin.clone()
        },
        trusted_proxies: new.trusted_proxies,
        envoy_ratelimit: new.envoy_ratelimit,
        ..old.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> ServerDocument {
        floodgate_config::ConfigFile::parse("t.yaml", yaml)
            .unwrap()
            .document
            .server
    }

    #[test]
    fn restart_fields_are_named() {
        let a = doc("store: {kind: redis, url: redis://a:1}\nrules: []\n");
        let b = doc("store: {kind: redis, url: redis://b:1}\nlisten: 127.0.0.1:1\n");
        let c = doc("store: {kind: memory}\n");
        assert_eq!(
            needs_restart(&a, &b),
            vec![
                "listen",
                "store (url, nodes, key_prefix, timeouts, connections, time, scripting, gathering)"
            ]
        );
        assert_eq!(needs_restart(&a, &c), vec!["store.kind"]);
        // Failure settings apply at once.
        let d = doc(
            "store: {kind: redis, url: redis://a:1, on_failure: fail_closed, local_divisor: 3}\n",
        );
        assert!(needs_restart(&a, &d).is_empty());
        // Functions or scripts are chosen at connect.
        let e = doc("store: {kind: redis, url: redis://a:1, scripting: eval}\n");
        assert_eq!(
            needs_restart(&a, &e),
            vec![
                "store (url, nodes, key_prefix, timeouts, connections, time, scripting, gathering)"
            ]
        );
    }
}
