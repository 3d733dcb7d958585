//! The human summary `check-config` prints.

use std::fmt::Write as _;

use floodgate_core::policy::{Limit, Rule};
use floodgate_core::store::{redacted_url, Scope};
use floodgate_redis::{RedisConfig, RedisKind, Secret};

use crate::config::Config;

impl Config {
    /// A human summary, as printed by `check-config`.
    pub fn summary(&self) -> String {
        let p = &self.policy;
        let mut out = String::new();
        let _ = writeln!(out, "{}: ok", self.file);
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
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
        let shared = self.redis.is_some();
        let leased = p
            .rules
            .iter()
            .flat_map(|r| r.limits.iter().chain(r.tiers.values().flatten()))
            .chain(&p.global)
            .any(|l| l.sync.is_some());
        if leased && !shared {
            let _ = writeln!(
                out,
                "note: `sync: leased` decides like `exact` on the memory store: every decision is already made in this process"
            );
        }
        let ctx = Ctx {
            shared,
            region: self.region.as_ref(),
            global: self.global_redis.is_some(),
        };
        self.region_lines(&mut out, p);
        for r in &p.rules {
            rule(&mut out, r, &ctx);
        }
        for l in &p.global {
            let _ = writeln!(out, "global {}", limit(l, &ctx));
        }
        self.store_line(&mut out);
        self.listeners_lines(&mut out);
        self.upstream_lines(&mut out);
        out
    }

    /// This replica's region, the regions' weights, the global store; a
    /// note when limits are scoped without regions.
    fn region_lines(&self, out: &mut String, p: &floodgate_core::Policy) {
        let scoped = all_limits(p).any(|l| l.scope != Scope::Region);
        match (&self.region, &self.global_redis) {
            (None, _) if scoped => {
                let _ = writeln!(
                    out,
                    "note: without `region:` every scope is counted in `store` (one region: region_weighted limits as written)"
                );
            }
            (None, _) => {}
            (Some(r), g) => {
                let weights: Vec<String> = r
                    .all
                    .iter()
                    .map(|(n, w)| format!("{n} {}", percent(*w)))
                    .collect();
                let _ = writeln!(
                    out,
                    "region: {} (weight {}); regions: {}",
                    r.share.name,
                    percent(r.share.weight_ppm),
                    weights.join(", ")
                );
                match g {
                    Some(g) => {
                        let urls: Vec<String> = g.urls().into_iter().map(redacted_url).collect();
                        let _ = writeln!(
                            out,
                            "global store: {:?} {}, timeout {:?}, on failure {} (a partition decides global limits on {} of each, split over local_divisor {} replicas)",
                            g.kind,
                            urls.join(", "),
                            g.timeout,
                            g.failure.on_failure.as_str(),
                            percent(r.share.weight_ppm),
                            g.failure.local_divisor
                        );
                    }
                    None if all_limits(p).any(|l| l.scope == Scope::Global) => {
                        let _ = writeln!(
                            out,
                            "note: no `global_store:`: global limits are counted in this region's store"
                        );
                    }
                    None => {}
                }
            }
        }
    }

    /// The store, and its local fallback.
    fn store_line(&self, out: &mut String) {
        match &self.redis {
            None => {
                let _ = writeln!(out, "store: memory, at most {} keys", self.memory.max_keys);
            }
            Some(r) => {
                let urls: Vec<String> = r.urls().into_iter().map(redacted_url).collect();
                let target = match r.kind {
                    RedisKind::RedisSentinel => format!(
                        "primary `{}` named by Sentinels {}",
                        r.sentinel.master_name,
                        urls.join(", ")
                    ),
                    _ => urls.join(", "),
                };
                let connections = match r.kind {
                    RedisKind::Redis | RedisKind::RedisSentinel => {
                        let n = r.connections;
                        format!(", {n} connection{}", if n == 1 { "" } else { "s" })
                    }
                    RedisKind::RedisCluster => String::new(),
                };
                let access = access(r);
                let _ = writeln!(
                out,
                "store: {:?} {target}{connections}{access}, timeout {:?}, on failure {}; local fallback at most {} keys",
                r.kind,
                r.timeout,
                r.failure.on_failure.as_str(),
                self.memory.max_keys
            );
                // Counters, the live policy, the clients and the fleet
                // view all live under it: deployments sharing a Redis
                // database are apart only with prefixes of their own.
                let _ = writeln!(
                    out,
                    "namespace: key prefix {:?} (the counters, live policy, clients and fleet view of this deployment)",
                    r.key_prefix
                );
                if self.global_redis.is_some() {
                    let _ = writeln!(
                        out,
                        "the live policy, clients and fleet view are kept on the global store (every region's replicas follow them)"
                    );
                }
            }
        }
    }

    /// The listeners, tokens, threads and the fleet view.
    fn listeners_lines(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "listen: {}; admin: {}{}",
            self.listen,
            self.admin_listen,
            if self.admin_tokens.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = self
                    .admin_tokens
                    .iter()
                    .map(|(n, r)| format!("{n}/{}", r.as_str()))
                    .collect();
                format!(" (tokens: {})", names.join(", "))
            }
        );
        let _ = writeln!(out, "serving threads: {}", self.threads);
        if self.redis.is_some() {
            let d = &self.document.server.admin.dashboard;
            let _ = writeln!(
                out,
                "fleet view: replica {}, a report every {:?}, gone after {:?} of silence",
                d.replica.as_deref().unwrap_or("<host name>:<admin port>"),
                d.publish_every(),
                d.replica_timeout()
            );
        }
        if let Some(g) = self.grpc_listen {
            let _ = writeln!(out, "grpc: {g} (Envoy's rate limit service)");
        }
    }

    /// The upstream and its WebSocket proxying.
    fn upstream_lines(&self, out: &mut String) {
        match &self.upstream {
            Some(u) => {
                let _ = writeln!(out, "upstream: {} (timeout {:?})", u.base, u.timeout);
                match &u.websocket {
                    Some(w) => {
                        let messages = match &w.messages {
                            None => "no message limit".to_string(),
                            Some(q) => format!("messages {q} per {}", w.key.name()),
                        };
                        let _ = writeln!(
                        out,
                        "websocket: at most {} open, idle timeout {:?}, messages up to {} bytes, {messages}",
                        w.max_connections, w.idle_timeout, w.max_message
                    );
                    }
                    None => {
                        let _ = writeln!(out, "websocket: not proxied");
                    }
                }
            }
            None => {
                let _ = writeln!(out, "upstream: none (demo endpoints)");
            }
        }
    }
}

/// One rule: what it matches, its key and limits, its tiers'.
/// How the store authenticates and what TLS trusts, never a secret:
/// `, user fg, password from file /run/secrets/redis, tls (CA file
/// /etc/ca.pem, client certificate)`.
fn access(r: &RedisConfig) -> String {
    let mut parts = Vec::new();
    if let Some(u) = &r.credentials.username {
        parts.push(format!("user {u}"));
    }
    if let Some(p) = &r.credentials.password {
        parts.push(format!("password {}", source(p)));
    }
    if r.kind == RedisKind::RedisSentinel {
        if let Some(u) = &r.sentinel.credentials.username {
            parts.push(format!("Sentinel user {u}"));
        }
        if let Some(p) = &r.sentinel.credentials.password {
            parts.push(format!("Sentinel password {}", source(p)));
        }
    }
    if r.urls().iter().any(|u| u.starts_with("rediss://")) {
        let t = &r.tls;
        let mut tls = Vec::new();
        if let Some(f) = &t.ca_file {
            tls.push(format!("CA file {}", f.display()));
        }
        if let Some(d) = &t.ca_dir {
            tls.push(format!("CA directory {}", d.display()));
        }
        if tls.is_empty() {
            tls.push("system CAs".to_string());
        }
        if t.cert_file.is_some() {
            tls.push("client certificate".to_string());
        }
        if let Some(n) = &t.server_name {
            tls.push(format!("server name {n}"));
        }
        if t.insecure_skip_verify {
            tls = vec!["certificates NOT verified (insecure_skip_verify)".to_string()];
        }
        parts.push(format!("tls ({})", tls.join(", ")));
    }
    parts.iter().map(|p| format!(", {p}")).collect()
}

/// Where a password is read from, never what it is.
fn source(s: &Secret) -> String {
    match s {
        Secret::Value(_) => "given".to_string(),
        Secret::File(p) => format!("from file {}", p.display()),
        Secret::Env(n) => format!("from ${n}"),
    }
}

/// What a limit's line says beyond its quota.
struct Ctx<'a> {
    shared: bool,
    region: Option<&'a floodgate_config::region::Region>,
    global: bool,
}

/// Every limit of a policy.
fn all_limits(p: &floodgate_core::Policy) -> impl Iterator<Item = &Limit> {
    p.rules
        .iter()
        .flat_map(|r| r.limits.iter().chain(r.tiers.values().flatten()))
        .chain(&p.global)
}

/// Millionths as a percentage (`40%`, `33.3%`).
fn percent(ppm: u32) -> String {
    let tenths = (ppm as u64 + 500) / 1000;
    if tenths % 10 == 0 {
        format!("{}%", tenths / 10)
    } else {
        format!("{}.{}%", tenths / 10, tenths % 10)
    }
}

fn rule(out: &mut String, r: &Rule, ctx: &Ctx) {
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
    if let Some(m) = r.on_store_failure {
        let _ = writeln!(out, "  on store failure: {}", m.as_str());
    }
    for l in &r.limits {
        let _ = writeln!(out, "  {}", limit(l, ctx));
    }
    let mut tiers: Vec<_> = r.tiers.iter().collect();
    tiers.sort_by(|a, b| a.0.cmp(b.0));
    for (t, ls) in tiers {
        if ls.is_empty() {
            let _ = writeln!(out, "  tier {t}: unlimited");
        }
        for l in ls {
            let _ = writeln!(out, "  tier {t}: {}", limit(l, ctx));
        }
    }
}

/// A limit: its name, quota, how its decisions are kept in step across
/// replicas (on a shared store) and where it is counted.
fn limit(l: &Limit, ctx: &Ctx) -> String {
    let global = l.scope == Scope::Global && ctx.global;
    let sync = if ctx.shared || global {
        floodgate_config::sync::describe(l.sync)
    } else {
        "local (memory store)".to_string()
    };
    let scope = match (l.scope, ctx.region) {
        (Scope::RegionWeighted, Some(r)) => format!(
            "scope region_weighted ({} of it in {}: {})",
            percent(r.share.weight_ppm),
            r.share.name,
            l.quota.share(r.share.weight_ppm)
        ),
        (Scope::Global, Some(_)) if ctx.global => "scope global (the global store)".to_string(),
        (s, _) => format!("scope {}", s.as_str()),
    };
    format!("{}: {}, sync {sync}, {scope}", l.name, l.quota)
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
