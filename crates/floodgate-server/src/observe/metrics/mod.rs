//! Prometheus metrics in the text exposition format (0.0.4), kept by hand
//! (a maintained client measured slower on the per-decision updates: see
//! `docs/benchmarks.md`, "Metrics"), with bounded label sets and no
//! identity ever a label.
//!
//! Layout: [`primitives`] (histogram, labelled counters, writers),
//! [`decisions`] (what each decision updates: the hot path), [`store`]
//! (Redis latency, errors, breaker, fallback), [`connections`] (the
//! listeners), [`concurrency`] (slots in flight, taken, denied, expired),
//! [`websocket`] (the gateway's WebSocket connections),
//! [`policy`] (configured limits and policy version, read at
//! scrape time).

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::policy::Held;
use floodgate_core::{Policy, Store};
use floodgate_tower::{Observer, Seen};

use crate::observe::logs::RejectionLog;
use store::Resilient;

pub mod concurrency;
pub mod connections;
pub mod decisions;
pub mod global;
pub mod leased;
pub mod policy;
pub mod primitives;
pub mod store;
pub mod websocket;

pub use decisions::{Decisions, DEFAULT_NEAR_LIMIT_SHARE};
pub use primitives::{Counters, Histogram};

use primitives::single;

/// Histogram buckets (seconds) for upstream latency: 1ms to 30s.
const UPSTREAM_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A part that writes its own metrics at scrape time (the gateway's
/// load shedding).
pub trait Exposition: Send + Sync + 'static {
    /// Writes its metrics.
    fn render(&self, out: &mut String);
}

/// What the metrics read at scrape time, given at construction.
pub struct Sources {
    /// The store whose keys are reported as active.
    pub store: Arc<dyn Store>,
    /// The Redis wrapper whose health is reported.
    pub redis: Option<Arc<Resilient>>,
    /// The leased slices around it.
    pub leased: Option<Arc<store::Leased>>,
    /// The global store, for a replica in one region of several.
    pub global: Option<global::Source>,
    /// The histogram the Redis store's [`store::Timed`] wrapper fills.
    pub store_latency: Arc<Histogram>,
    /// The gateway's load shedding, whose state is reported.
    pub overload: Option<Arc<dyn Exposition>>,
    /// Rejections are logged through it.
    pub rejections: RejectionLog,
    /// The share of a limit that counts as near it.
    pub near_limit_share: f64,
}

/// All of the server's metrics.
pub struct Metrics {
    decisions: Decisions,
    upstream_responses: Counters,
    upstream_errors: Counters,
    upstream_latency: Histogram,
    store: Arc<dyn Store>,
    redis: Option<Arc<Resilient>>,
    leased: Option<Arc<store::Leased>>,
    global: Option<global::Source>,
    store_latency: Arc<Histogram>,
    rejections: RejectionLog,
    connections: connections::Connections,
    overload: Option<Arc<dyn Exposition>>,
    concurrency: concurrency::Concurrency,
    websocket: websocket::WebSocketMetrics,
}

impl Metrics {
    /// Empty metrics reading `sources` at scrape time.
    pub fn new(sources: Sources) -> Self {
        let decisions = Decisions::default();
        decisions.set_near_limit_share(sources.near_limit_share);
        Metrics {
            decisions,
            upstream_responses: Counters::default(),
            upstream_errors: Counters::default(),
            upstream_latency: Histogram::new(UPSTREAM_BUCKETS),
            store: sources.store,
            redis: sources.redis,
            leased: sources.leased,
            global: sources.global,
            store_latency: sources.store_latency,
            rejections: sources.rejections,
            connections: connections::Connections::default(),
            overload: sources.overload,
            concurrency: concurrency::Concurrency::default(),
            websocket: websocket::WebSocketMetrics::default(),
        }
    }

    /// The histogram the Redis store's [`store::Timed`] wrapper fills.
    pub fn store_latency(&self) -> &Arc<Histogram> {
        &self.store_latency
    }

    /// The gateway's WebSocket metrics.
    pub fn websocket(&self) -> &websocket::WebSocketMetrics {
        &self.websocket
    }

    /// The per-decision metrics.
    pub fn decisions(&self) -> &Decisions {
        &self.decisions
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
    pub fn connections_open(&self, listener: &'static str) -> Arc<std::sync::atomic::AtomicU64> {
        self.connections.open(listener)
    }

    /// `listener` accepted a connection within its bounds.
    pub fn connection_accepted(&self, listener: &str) {
        self.connections.accepted(listener);
    }

    /// `listener` closed a new connection at once, past a bound (`max`,
    /// `max_per_ip`).
    pub fn connection_rejected(&self, listener: &str, reason: &str) {
        self.connections.rejected(listener, reason);
    }

    /// `listener` closed a connection that timed out (`header_read`,
    /// `idle`).
    pub fn connection_timed_out(&self, listener: &str, reason: &str) {
        self.connections.timed_out(listener, reason);
    }

    /// `listener` refused a request whose `part` (`head`, `body`) was too
    /// large.
    pub fn request_too_large(&self, listener: &str, part: &str) {
        self.connections.too_large(listener, part);
    }

    /// The exposition text; `policy` is the live policy, at `version`
    /// (passed in rather than held, as the policy's holders hold these
    /// metrics).
    pub fn render(&self, policy: &Policy, version: u64) -> String {
        let mut out = String::with_capacity(8192);
        self.decisions.render(&mut out);
        policy::render_limits(&mut out, policy);
        policy::render_version(&mut out, version);
        if let Some(keys) = self.store.active_keys() {
            single(
                &mut out,
                "floodgate_active_keys",
                "Keys held by the store.",
                "gauge",
                keys,
            );
        }
        if let Some(r) = &self.redis {
            store::render_redis(&mut out, r, &self.store_latency);
        }
        if let Some(l) = &self.leased {
            leased::render(&mut out, l);
        }
        if let Some(g) = &self.global {
            global::render(&mut out, g);
        }
        let expired = self.store.leases_expired();
        self.concurrency.render(&mut out, expired);
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
        if let Some(o) = &self.overload {
            o.render(&mut out);
        }
        self.websocket.render(&mut out);
        self.connections.render(&mut out);
        single(
            &mut out,
            "floodgate_rejection_logs_suppressed_total",
            "Rejection log lines dropped by the log rate limit.",
            "counter",
            self.rejections.suppressed_total(),
        );
        out
    }
}

impl Observer for Metrics {
    fn observe(&self, seen: &Seen<'_>) {
        self.decisions.record(seen.verdict, seen.elapsed);
        if let Ok(v) = seen.verdict {
            if !v.allowed {
                self.rejections.rejected(seen, v);
                self.concurrency.decided(v.outcomes.iter());
            }
        }
    }

    fn slots(&self, held: &Held, taken: bool) {
        self.concurrency.slots(held, taken);
    }

    fn lease_lost(&self, _held: &Held) {
        self.concurrency.lease_lost();
    }
}
