//! `floodgate simulate`: replays a traffic trace through the policy engine
//! on a manual clock, to preview a policy against recorded traffic.
//!
//! The trace is JSON lines (`t`, `ip`, `method`, `path`, `headers`, `cost`);
//! the output is one JSON line per request and a final summary line. The
//! formats are documented in `docs/simulate.md`.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use floodgate_core::policy::{
    check_cost, AttributeError, Attributes, CheckError, DecisionView, Origin, RequestError,
    MAX_COST,
};
use floodgate_core::{Limiter, ManualClock, MemoryStore, Policy, Store, Timestamp, Verdict};
use serde::{Deserialize, Serialize};

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
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The store named by `--store` cannot be used.
    #[error("{0}")]
    Store(String),
    /// The config file is not valid.
    #[error(transparent)]
    Config(#[from] floodgate_config::LoadError),
    /// The trace cannot be opened.
    #[error("{file}: cannot open: {source}")]
    Open {
        /// Trace file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
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

/// One output line: where the request was in the trace, then its
/// decision (`DecisionView`, trace style: fields that do not apply are
/// absent).
struct Record<'a> {
    line: usize,
    req: &'a TraceLine,
    error: Option<String>,
    view: DecisionView<'a>,
}

impl Serialize for Record<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("line", &self.line)?;
        m.serialize_entry("t", &self.req.t)?;
        m.serialize_entry("ip", &self.req.ip)?;
        m.serialize_entry("method", &self.req.method)?;
        m.serialize_entry("path", &self.req.path)?;
        if let Some(e) = &self.error {
            m.serialize_entry("error", e)?;
        }
        self.view.write_fields(&mut m)?;
        m.end()
    }
}

/// The latest `t` a trace may have, in seconds: 9,000,000,000 (about the
/// year 2255), below 2^53 µs, where the engine's time arithmetic is exact
/// (and cannot overflow).
pub const MAX_T: f64 = 9_000_000_000.0;

/// `floodgate simulate`: replays the trace file at `trace` through the
/// config file at `config` on the store `store` names, printing to
/// stdout.
pub fn run_files(config: &Path, trace: &Path, store: &str) -> Result<(), SimulateError> {
    let config = Config::load(config)?;
    let name = trace.display().to_string();
    let file = std::fs::File::open(trace).map_err(|source| SimulateError::Open {
        file: name.clone(),
        source,
    })?;
    let input = BufReader::new(file);
    let out = BufWriter::new(std::io::stdout().lock());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let done = rt.block_on(async {
        let store = store_for(&config, store).await?;
        run(&config, store, &name, input, out).await
    });
    match done {
        // The reader went away (`simulate … | head`): nothing more to say.
        Err(SimulateError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e),
        Ok(_) => Ok(()),
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
    let policy = config.policy.clone();
    let limiter = Limiter::new(policy.clone(), store);
    let clock = ManualClock::new(Timestamp::EPOCH);
    let mut summary = Summary::for_policy(&policy);
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
        let req = read_line(&line, last_t, bad)?;
        last_t = req.t;
        clock.set(Timestamp::from_secs_f64(req.t));
        let now = floodgate_core::Clock::now(&clock);
        let result = decide(&limiter, &req, now, bad).await?;
        let record = summary.count(n, &req, &result, now);
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

/// A trace line, read and checked: `t` a number of seconds within range,
/// never going back.
/// (`bad` makes the line's error from what is wrong with it.)
fn read_line(
    line: &str,
    last_t: f64,
    bad: impl Fn(String) -> SimulateError,
) -> Result<TraceLine, SimulateError> {
    let req: TraceLine = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
    if !req.t.is_finite() || !(0.0..=MAX_T).contains(&req.t) {
        return Err(bad(format!(
            "`t` must be a number of seconds from 0 to {MAX_T}, got {:?}",
            req.t
        )));
    }
    if req.t < last_t {
        return Err(bad(format!(
            "`t` goes back in time ({} after {})",
            req.t, last_t
        )));
    }
    Ok(req)
}

/// Decides `req` at `now` as the decision API would (the one builder from
/// attributes, the caller trusted for the client IP); a line that cannot
/// be decided, or a store that fails, is the trace's error.
async fn decide(
    limiter: &Limiter,
    req: &TraceLine,
    now: Timestamp,
    bad: impl Fn(String) -> SimulateError,
) -> Result<Result<Verdict, CheckError>, SimulateError> {
    let attributes = Attributes {
        ip: req.ip,
        method: Some(&req.method),
        path: &req.path,
        headers: req.headers.iter().map(|(k, v)| (k, v.as_str())).collect(),
        ..Attributes::default()
    };
    let wording = |e: AttributeError| {
        bad(match e {
            AttributeError::Path(p) => format!("`path` must start with /, got `{p}`"),
            AttributeError::Cost(_) => format!("`cost` must be between 1 and {MAX_COST}"),
            AttributeError::Method(m) => format!("`method` `{m}` is not an HTTP method"),
        })
    };
    attributes.check().map_err(wording)?;
    let cost = check_cost(req.cost.unwrap_or(1)).map_err(wording)?;
    let origin = Origin {
        peer_trusted: true,
        now,
    };
    let result = match limiter.policy().identity.request_from(&attributes, origin) {
        Ok(request) => limiter.check(&request, cost, now).await,
        Err(RequestError::Refused(e)) => Err(e),
        Err(RequestError::Attributes(e)) => return Err(wording(e)),
    };
    match result {
        Err(CheckError::Store(e)) => Err(bad(format!("store failed: {e}"))),
        r => Ok(r),
    }
}

impl Summary {
    /// Nothing counted yet, a line for each rule of `policy`.
    fn for_policy(policy: &Policy) -> Summary {
        let mut summary = Summary::default();
        for r in &policy.rules {
            let rule = RuleSummary {
                shadow: r.shadow,
                ..RuleSummary::default()
            };
            summary.rules.insert(r.name.to_string(), rule);
        }
        if !policy.global.is_empty() {
            summary
                .rules
                .insert("global".into(), RuleSummary::default());
        }
        summary
    }

    /// Counts request `n` decided as `result`, and its output line.
    fn count<'a>(
        &mut self,
        n: usize,
        req: &'a TraceLine,
        result: &'a Result<Verdict, CheckError>,
        now: Timestamp,
    ) -> Record<'a> {
        self.requests += 1;
        let v = match result {
            Err(e) => {
                self.unauthorized += 1;
                return Record {
                    line: n,
                    req,
                    error: Some(e.to_string()),
                    view: DecisionView::refused(),
                };
            }
            Ok(v) => v,
        };
        if v.allowed {
            self.allowed += 1;
        } else {
            self.limited += 1;
        }
        if v.delay() > std::time::Duration::ZERO {
            self.delayed += 1;
        }
        // Per rule: did any of its limits deny?
        let mut per_rule: BTreeMap<&str, bool> = BTreeMap::new();
        for o in &v.outcomes {
            *per_rule.entry(&o.rule).or_insert(true) &= o.decision.allowed;
        }
        for (rule, ok) in per_rule {
            if let Some(s) = self.rules.get_mut(rule) {
                s.matched += 1;
                if ok {
                    s.allowed += 1;
                } else {
                    s.limited += 1;
                }
            }
        }
        Record {
            line: n,
            req,
            error: None,
            view: DecisionView::trace(v, now),
        }
    }
}

/// A memory store sized by the config.
pub fn memory_store(config: &Config) -> Arc<dyn Store> {
    Arc::new(MemoryStore::new(config.memory))
}

/// The store `--store` names: `memory`, `redis://…` or
/// `redis-cluster://host:port,host:port`. Redis decides at the trace's
/// time (`time: caller`), under a key prefix unique to this run so that
/// runs never mix with each other or with live traffic.
pub async fn store_for(config: &Config, spec: &str) -> Result<Arc<dyn Store>, SimulateError> {
    use floodgate_redis::{RedisConfig, RedisStore, TimeSource};
    if spec == "memory" {
        return Ok(memory_store(config));
    }
    let base = if let Some(nodes) = spec.strip_prefix("redis-cluster://") {
        RedisConfig::cluster(nodes.split(',').map(|n| format!("redis://{n}")))
    } else if spec.starts_with("redis://") || spec.starts_with("rediss://") {
        RedisConfig::standalone(spec)
    } else {
        return Err(SimulateError::Store(format!(
            "--store: `{spec}` is not memory, redis://… or redis-cluster://…"
        )));
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    let cfg = RedisConfig {
        key_prefix: format!("fgsim:{}-{stamp}:", std::process::id()),
        time: TimeSource::Caller,
        timeout: std::time::Duration::from_secs(5),
        ..base
    };
    let store = RedisStore::connect(&cfg)
        .await
        .map_err(|e| SimulateError::Store(format!("--store {spec}: {e}")))?;
    Ok(Arc::new(store))
}
