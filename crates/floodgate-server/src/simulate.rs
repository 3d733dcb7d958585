//! `floodgate simulate`: replays a traffic trace through the policy engine
//! on a manual clock, to preview a policy against recorded traffic.
//!
//! The trace is JSON lines (`t`, `ip`, `method`, `path`, `headers`, `cost`);
//! the output is one JSON line per request and a final summary line. The
//! formats are documented in `docs/simulate.md`.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::sync::Arc;

use floodgate_core::policy::CheckError;
use floodgate_core::{
    Decision, Limiter, ManualClock, MemoryStore, Request, RetryAfter, Store, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::Config;

/// One request of a trace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceLine {
    /// Seconds (Unix time, or any origin; windows align to multiples of
    /// their length from 0). Non-decreasing.
    pub t: f64,
    /// Client IP.
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// HTTP method (default GET).
    #[serde(default = "get")]
    pub method: String,
    /// Path, with or without a query.
    pub path: String,
    /// Request headers (names case-insensitive).
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// Cost (default 1).
    #[serde(default)]
    pub cost: Option<u64>,
}

fn get() -> String {
    "GET".into()
}

/// A trace that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// A bad line.
    #[error("{file}:{line}: {message}")]
    Line {
        /// Trace file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Counts for one rule.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct RuleSummary {
    /// Requests the rule applied to.
    pub matched: u64,
    /// Requests it let through (all its limits allowed).
    pub allowed: u64,
    /// Requests it denied (enforced) or would have denied (shadow).
    pub limited: u64,
    /// Whether the rule is in shadow mode (its `limited` denied nothing).
    pub shadow: bool,
}

/// The final summary.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Requests replayed.
    pub requests: u64,
    /// Requests allowed.
    pub allowed: u64,
    /// Requests denied by a limit.
    pub limited: u64,
    /// Requests refused for lack of a (known) API key.
    pub unauthorized: u64,
    /// Requests allowed but held by a shaping limit.
    pub delayed: u64,
    /// Per rule.
    pub rules: BTreeMap<String, RuleSummary>,
}

/// One output line. Fields are absent when they do not apply (no limit
/// applied, or the request was refused before any limit).
#[derive(Debug, Default, Serialize)]
struct Record<'a> {
    line: usize,
    t: f64,
    ip: Option<IpAddr>,
    method: &'a str,
    path: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    algorithm: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reset_after: Option<f64>,
    #[serde(skip_serializing_if = "Value::is_null")]
    retry_after: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    shadow_limited: Vec<String>,
}

fn secs(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

fn retry_json(d: &Decision) -> Value {
    match d.retry_after {
        None => Value::Null,
        Some(RetryAfter::Never) => json!("never"),
        Some(RetryAfter::After(r)) => json!(secs(r)),
    }
}

/// Replays `trace` (named `trace_name` in errors) through `config` on
/// `store`, writing one JSON line per request and the summary to `out`.
pub async fn run(
    config: &Config,
    store: Arc<dyn Store>,
    trace_name: &str,
    trace: impl BufRead,
    mut out: impl Write,
) -> Result<Summary, SimulateError> {
    let limiter = Limiter::new(config.policy.clone(), store);
    let policy = config.policy.clone();
    let clock = ManualClock::new(Timestamp::EPOCH);
    let mut summary = Summary::default();
    for r in &policy.rules {
        summary.rules.insert(
            r.name.to_string(),
            RuleSummary {
                shadow: r.shadow,
                ..RuleSummary::default()
            },
        );
    }
    if !policy.global.is_empty() {
        summary
            .rules
            .insert("global".into(), RuleSummary::default());
    }
    let mut last_t = f64::NEG_INFINITY;
    for (i, line) in trace.lines().enumerate() {
        let n = i + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| SimulateError::Line {
            file: trace_name.to_string(),
            line: n,
            message,
        };
        let req: TraceLine = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        if !req.t.is_finite() || req.t < 0.0 {
            return Err(bad(format!(
                "`t` must be a non-negative number, got {}",
                req.t
            )));
        }
        if req.t < last_t {
            return Err(bad(format!(
                "`t` goes back in time ({} after {})",
                req.t, last_t
            )));
        }
        last_t = req.t;
        if !req.path.starts_with('/') {
            return Err(bad(format!("`path` must start with /, got `{}`", req.path)));
        }
        if req.cost == Some(0) {
            return Err(bad("`cost` must be at least 1".into()));
        }
        clock.set(Timestamp::from_secs_f64(req.t));
        let now = floodgate_core::Clock::now(&clock);
        let headers: HashMap<String, &str> = req
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
            .collect();
        let path = req.path.split('?').next().unwrap_or("/");
        let request = Request {
            ip: req.ip,
            method: &req.method,
            path,
            api_key: headers.get(&policy.identity.api_key_header).copied(),
            user: headers.get(&policy.identity.user_header).copied(),
        };
        let cost = req.cost.unwrap_or(1);
        summary.requests += 1;
        let mut record = Record {
            line: n,
            t: req.t,
            ip: req.ip,
            method: &req.method,
            path: &req.path,
            ..Record::default()
        };
        match limiter.check(&request, cost, now).await {
            Err(CheckError::Store(e)) => return Err(bad(format!("store failed: {e}"))),
            Err(e) => {
                summary.unauthorized += 1;
                record.error = Some(e.to_string());
            }
            Ok(v) => {
                if v.allowed {
                    summary.allowed += 1;
                } else {
                    summary.limited += 1;
                }
                if v.delay() > std::time::Duration::ZERO {
                    summary.delayed += 1;
                }
                // Per rule: did any of its limits deny?
                let mut per_rule: BTreeMap<&str, bool> = BTreeMap::new();
                for o in &v.outcomes {
                    *per_rule.entry(&o.rule).or_insert(true) &= o.decision.allowed;
                }
                for (rule, ok) in per_rule {
                    if let Some(s) = summary.rules.get_mut(rule) {
                        s.matched += 1;
                        if ok {
                            s.allowed += 1;
                        } else {
                            s.limited += 1;
                        }
                    }
                }
                record.allowed = v.allowed;
                record.tier = v.tier.as_deref().map(str::to_string);
                if let Some(o) = v.deciding() {
                    let d = &o.decision;
                    record.rule = Some(o.rule.to_string());
                    record.limit_name = Some(o.limit.to_string());
                    record.algorithm = Some(o.quota.algorithm_name());
                    record.limit = Some(d.limit);
                    record.remaining = Some(d.remaining);
                    record.reset_after = Some(secs(d.reset_after));
                    record.retry_after = retry_json(d);
                    record.delay = Some(secs(v.delay()));
                }
                record.shadow_limited = v
                    .shadow_denials()
                    .map(|o| format!("{}/{}", o.rule, o.limit))
                    .collect();
            }
        }
        let record = serde_json::to_string(&record).map_err(std::io::Error::other)?;
        writeln!(out, "{record}")?;
    }
    #[derive(Serialize)]
    struct Final<'a> {
        summary: &'a Summary,
    }
    let last =
        serde_json::to_string(&Final { summary: &summary }).map_err(std::io::Error::other)?;
    writeln!(out, "{last}")?;
    out.flush()?;
    Ok(summary)
}

/// A memory store sized by the config.
pub fn memory_store(config: &Config) -> Arc<dyn Store> {
    Arc::new(MemoryStore::new(config.memory))
}

/// The store `--store` names: `memory`, `redis://…` or
/// `redis-cluster://host:port,host:port`. Redis decides at the trace's
/// time (`time: caller`), under a key prefix unique to this run so that
/// runs never mix with each other or with live traffic.
pub async fn store_for(config: &Config, spec: &str) -> anyhow::Result<Arc<dyn Store>> {
    use floodgate_redis::{RedisConfig, RedisStore, TimeSource};
    if spec == "memory" {
        return Ok(memory_store(config));
    }
    let base = if let Some(nodes) = spec.strip_prefix("redis-cluster://") {
        RedisConfig::cluster(nodes.split(',').map(|n| format!("redis://{n}")))
    } else if spec.starts_with("redis://") || spec.starts_with("rediss://") {
        RedisConfig::standalone(spec)
    } else {
        anyhow::bail!("--store: `{spec}` is not memory, redis://… or redis-cluster://…");
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    let cfg = RedisConfig {
        key_prefix: format!("fgsim:{}-{stamp}:", std::process::id()),
        time: TimeSource::Caller,
        timeout: floodgate_core::policy::units::DurationField(std::time::Duration::from_secs(5)),
        ..base
    };
    let store = RedisStore::connect(&cfg)
        .await
        .map_err(|e| anyhow::anyhow!("--store {spec}: {e}"))?;
    Ok(Arc::new(store))
}
