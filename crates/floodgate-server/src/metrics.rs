//! Prometheus metrics in the text exposition format (0.0.4), kept by hand:
//! a few counters and histograms with bounded label sets.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::Store;
use floodgate_tower::{Observer, Seen};
use parking_lot::{Mutex, RwLock};

use crate::logs::RejectionLog;
use crate::stores::Resilient;
use floodgate_redis::BreakerState;

/// Histogram buckets (seconds) for decision latency: 10µs to 100ms.
const DECISION_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
];
/// Histogram buckets (seconds) for upstream latency: 1ms to 30s.
const UPSTREAM_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A histogram with fixed buckets, lock-free.
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| s <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_ns
            .fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counters keyed by label values. Lookups of an existing series take a
/// read lock and allocate nothing; a new series takes the write lock once.
#[derive(Default)]
struct Counters(RwLock<BTreeMap<Box<[Box<str>]>, AtomicU64>>);

impl Counters {
    fn inc(&self, labels: &[&str]) {
        {
            let m = self.0.read();
            if let Some(c) = m
                .iter()
                .find_map(|(k, v)| same_labels(k, labels).then_some(v))
            {
                c.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let key: Box<[Box<str>]> = labels.iter().map(|l| Box::<str>::from(*l)).collect();
        self.0
            .write()
            .entry(key)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str, names: &[&str]) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (values, n) in self.0.read().iter() {
            let labels: Vec<String> = names
                .iter()
                .zip(values.iter())
                .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
                .collect();
            let _ = writeln!(
                out,
                "{name}{{{}}} {}",
                labels.join(","),
                n.load(Ordering::Relaxed)
            );
        }
    }
}

fn same_labels(key: &[Box<str>], labels: &[&str]) -> bool {
    key.len() == labels.len() && key.iter().zip(labels).all(|(a, b)| **a == **b)
}

/// All of the server's metrics.
pub struct Metrics {
    requests: Counters,
    decisions: Counters,
    decision_latency: Histogram,
    upstream_responses: Counters,
    upstream_errors: Counters,
    upstream_latency: Histogram,
    store: Mutex<Option<Arc<dyn Store>>>,
    redis: Mutex<Option<Arc<Resilient>>>,
    rejections: RejectionLog,
    connections_open: Mutex<BTreeMap<&'static str, Arc<AtomicU64>>>,
    connections_accepted: Counters,
    connections_rejected: Counters,
    connection_timeouts: Counters,
    requests_too_large: Counters,
    overload: Mutex<Option<Arc<crate::overload::Overload>>>,
}

impl Metrics {
    /// Empty metrics; rejections are logged through `rejections`.
    pub fn new(rejections: RejectionLog) -> Self {
        Metrics {
            requests: Counters::default(),
            decisions: Counters::default(),
            decision_latency: Histogram::new(DECISION_BUCKETS),
            upstream_responses: Counters::default(),
            upstream_errors: Counters::default(),
            upstream_latency: Histogram::new(UPSTREAM_BUCKETS),
            store: Mutex::new(None),
            redis: Mutex::new(None),
            rejections,
            connections_open: Mutex::new(BTreeMap::new()),
            connections_accepted: Counters::default(),
            connections_rejected: Counters::default(),
            connection_timeouts: Counters::default(),
            requests_too_large: Counters::default(),
            overload: Mutex::new(None),
        }
    }

    /// The store whose keys are reported as active, and the Redis
    /// wrapper whose health is reported.
    pub fn set_store(&self, store: Arc<dyn Store>, redis: Option<Arc<Resilient>>) {
        *self.store.lock() = Some(store);
        *self.redis.lock() = redis;
    }

    /// The gateway's load shedding, whose state is reported.
    pub fn set_overload(&self, overload: Arc<crate::overload::Overload>) {
        *self.overload.lock() = Some(overload);
    }

    /// An upstream answered with `status` after `elapsed`.
    pub fn upstream_response(&self, status: u16, elapsed: Duration) {
        self.upstream_responses.inc(&[&status.to_string()]);
        self.upstream_latency.observe(elapsed);
    }

    /// The upstream could not be reached (`connect`) or was too slow
    /// (`timeout`).
    pub fn upstream_error(&self, kind: &str, elapsed: Duration) {
        self.upstream_errors.inc(&[kind]);
        self.upstream_latency.observe(elapsed);
    }

    /// The count of `listener`'s open connections, which the listener
    /// keeps (and bounds) and the gauge reports.
    pub fn connections_open(&self, listener: &'static str) -> Arc<AtomicU64> {
        self.connections_open
            .lock()
            .entry(listener)
            .or_default()
            .clone()
    }

    /// `listener` accepted a connection within its bounds.
    pub fn connection_accepted(&self, listener: &str) {
        self.connections_accepted.inc(&[listener]);
    }

    /// `listener` closed a new connection at once, past a bound (`max`,
    /// `max_per_ip`).
    pub fn connection_rejected(&self, listener: &str, reason: &str) {
        self.connections_rejected.inc(&[listener, reason]);
    }

    /// `listener` closed a connection that timed out (`header_read`,
    /// `idle`).
    pub fn connection_timed_out(&self, listener: &str, reason: &str) {
        self.connection_timeouts.inc(&[listener, reason]);
    }

    /// `listener` refused a request whose `part` (`head`, `body`) was too
    /// large.
    pub fn request_too_large(&self, listener: &str, part: &str) {
        self.requests_too_large.inc(&[listener, part]);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.requests.render(
            &mut out,
            "floodgate_requests_total",
            "Requests per rule that applied, by outcome (allowed, limited, shadow_limited).",
            &["rule", "outcome"],
        );
        self.decisions.render(
            &mut out,
            "floodgate_decisions_total",
            "Requests decided, by outcome (allowed, limited, unauthorized, error).",
            &["outcome"],
        );
        self.decision_latency.render(
            &mut out,
            "floodgate_decision_duration_seconds",
            "Time to decide one request.",
        );
        let keys = self.store.lock().as_ref().and_then(|s| s.active_keys());
        if let Some(keys) = keys {
            let _ = writeln!(out, "# HELP floodgate_active_keys Keys held by the store.");
            let _ = writeln!(out, "# TYPE floodgate_active_keys gauge");
            let _ = writeln!(out, "floodgate_active_keys {keys}");
        }
        if let Some(r) = self.redis.lock().as_ref() {
            render_redis(&mut out, r);
        }
        self.upstream_responses.render(
            &mut out,
            "floodgate_upstream_responses_total",
            "Upstream responses by status code.",
            &["status"],
        );
        self.upstream_errors.render(
            &mut out,
            "floodgate_upstream_errors_total",
            "Requests the upstream did not answer, by kind (connect, timeout).",
            &["kind"],
        );
        self.upstream_latency.render(
            &mut out,
            "floodgate_upstream_duration_seconds",
            "Time from forwarding a request to the upstream's response headers.",
        );
        if let Some(o) = self.overload.lock().as_ref() {
            o.render(&mut out);
        }
        self.render_connections(&mut out);
        let suppressed = self.rejections.suppressed_total();
        let _ = writeln!(
            out,
            "# HELP floodgate_rejection_logs_suppressed_total Rejection log lines dropped by the log rate limit."
        );
        let _ = writeln!(
            out,
            "# TYPE floodgate_rejection_logs_suppressed_total counter"
        );
        let _ = writeln!(
            out,
            "floodgate_rejection_logs_suppressed_total {suppressed}"
        );
        out
    }
}

impl Metrics {
    fn render_connections(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP floodgate_connections_open Connections open, by listener."
        );
        let _ = writeln!(out, "# TYPE floodgate_connections_open gauge");
        for (listener, n) in self.connections_open.lock().iter() {
            let _ = writeln!(
                out,
                "floodgate_connections_open{{listener=\"{listener}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        self.connections_accepted.render(
            out,
            "floodgate_connections_accepted_total",
            "Connections accepted within the listener's bounds.",
            &["listener"],
        );
        self.connections_rejected.render(
            out,
            "floodgate_connections_rejected_total",
            "New connections closed at once, by the bound they were past (max, max_per_ip).",
            &["listener", "reason"],
        );
        self.connection_timeouts.render(
            out,
            "floodgate_connection_timeouts_total",
            "Connections closed for a timeout (header_read: no whole request head in time; idle: no request on a keep-alive connection).",
            &["listener", "reason"],
        );
        self.requests_too_large.render(
            out,
            "floodgate_requests_too_large_total",
            "Requests refused for a part larger than its bound (head: 431, body: 413).",
            &["listener", "part"],
        );
    }
}

fn render_redis(out: &mut String, r: &Resilient) {
    let st = r.stats();
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {v}");
    };
    counter(
        "floodgate_store_errors_total",
        "Calls to Redis that failed (errors and timeouts).",
        st.store_errors,
    );
    counter(
        "floodgate_store_short_circuited_total",
        "Requests that skipped Redis because the breaker was open.",
        st.short_circuited,
    );
    counter(
        "floodgate_store_breaker_opened_total",
        "Times the circuit breaker opened.",
        st.breaker_opened,
    );
    counter(
        "floodgate_store_refund_failures_total",
        "Cross-slot give-backs that could not be applied.",
        r.inner().refund_failures(),
    );
    let _ = writeln!(
        out,
        "# HELP floodgate_store_breaker_open Whether the Redis circuit breaker is open (1) or closed (0)."
    );
    let _ = writeln!(out, "# TYPE floodgate_store_breaker_open gauge");
    let open = u8::from(r.breaker_state() == BreakerState::Open);
    let _ = writeln!(out, "floodgate_store_breaker_open {open}");
    let _ = writeln!(
        out,
        "# HELP floodgate_degraded_decisions_total Limit checks decided without Redis, by failure mode."
    );
    let _ = writeln!(out, "# TYPE floodgate_degraded_decisions_total counter");
    for (mode, v) in [
        ("fail_open", st.degraded_open),
        ("fail_closed", st.degraded_closed),
        ("local", st.degraded_local),
    ] {
        let _ = writeln!(
            out,
            "floodgate_degraded_decisions_total{{mode=\"{mode}\"}} {v}"
        );
    }
}

impl Observer for Metrics {
    fn observe(&self, seen: &Seen<'_>) {
        self.decision_latency.observe(seen.elapsed);
        let v = match seen.verdict {
            Ok(v) => v,
            Err(e) => {
                let outcome = match e {
                    floodgate_core::CheckError::Store(_) => "error",
                    _ => "unauthorized",
                };
                self.decisions.inc(&[outcome]);
                return;
            }
        };
        self.decisions
            .inc(&[if v.allowed { "allowed" } else { "limited" }]);
        // One count per rule that applied.
        let mut per_rule: Vec<(&str, bool, bool)> = Vec::new();
        for o in &v.outcomes {
            match per_rule.iter_mut().find(|(r, _, _)| *r == &*o.rule) {
                Some(e) => e.1 &= o.decision.allowed,
                None => per_rule.push((&o.rule, o.decision.allowed, o.shadow)),
            }
        }
        for (rule, ok, shadow) in per_rule {
            let outcome = match (ok, shadow) {
                (true, _) => "allowed",
                (false, true) => "shadow_limited",
                (false, false) => "limited",
            };
            self.requests.inc(&[rule, outcome]);
        }
        if !v.allowed {
            self.rejections.rejected(seen, v);
        }
    }
}
