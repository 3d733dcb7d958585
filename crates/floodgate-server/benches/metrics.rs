//! The per-decision metric updates, kept by hand (what the server runs)
//! against the same updates on the `prometheus-client` crate, on one
//! thread and on two threads deciding at once.
//!
//! ```text
//! cargo bench -p floodgate-server --bench metrics
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use floodgate_core::policy::LimitOutcome;
use floodgate_core::{Decision, Quota, Rate, Verdict};
use floodgate_server::observe::metrics::Decisions;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A typical verdict: two rules, three limits, all allowed, one near its
/// limit.
fn verdict() -> Verdict {
    verdict_of("per-ip", "per-key")
}

/// The verdict of two rules named `a` and `b`, shaped as [`verdict`].
fn verdict_of(a: &str, b: &str) -> Verdict {
    let outcome = |rule: &str, limit: &str, cap: u64, remaining: u64| LimitOutcome {
        rule: Arc::from(rule),
        limit: Arc::from(limit),
        quota: Quota::token_bucket(cap, Rate::per_second(cap).unwrap()).unwrap(),
        shadow: false,
        soft: None,
        decision: Decision {
            allowed: true,
            limit: cap,
            remaining,
            reset_after: Duration::from_millis(100),
            retry_after: None,
            delay: Duration::ZERO,
        },
    };
    Verdict {
        allowed: true,
        tier: None,
        outcomes: vec![
            outcome(a, "second", 10, 1),
            outcome(a, "minute", 300, 200),
            outcome(b, "second", 100, 50),
        ],
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: Arc<str>,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    rule: Arc<str>,
    limit: Arc<str>,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NearLabels {
    rule: Arc<str>,
    limit: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

fn decision_histogram() -> Histogram {
    Histogram::new([
        0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
    ])
}

/// The same families and updates as [`Decisions`], on `prometheus-client`.
struct Client {
    requests: Family<RuleLabels, Counter>,
    decisions: Family<OutcomeLabels, Counter>,
    limits: Family<LimitLabels, Counter>,
    near_limit: Family<NearLabels, Counter>,
    latency: Histogram,
    _registry: Registry,
}

impl Client {
    fn new() -> Client {
        let c = Client {
            requests: Family::default(),
            decisions: Family::default(),
            limits: Family::default(),
            near_limit: Family::default(),
            latency: decision_histogram(),
            _registry: Registry::default(),
        };
        let mut r = Registry::default();
        r.register("floodgate_requests", "", c.requests.clone());
        r.register("floodgate_decisions", "", c.decisions.clone());
        r.register("floodgate_limit_decisions", "", c.limits.clone());
        r.register("floodgate_near_limit", "", c.near_limit.clone());
        r.register("floodgate_decision_duration_seconds", "", c.latency.clone());
        Client { _registry: r, ..c }
    }

    fn record(&self, v: &Verdict, elapsed: Duration) {
        self.latency.observe(elapsed.as_secs_f64());
        let outcome = |ok: bool| if ok { "allowed" } else { "limited" };
        self.decisions
            .get_or_create(&OutcomeLabels {
                outcome: outcome(v.allowed),
            })
            .inc();
        let mut per_rule: Vec<(&Arc<str>, bool)> = Vec::with_capacity(v.outcomes.len());
        for o in &v.outcomes {
            match per_rule.iter_mut().find(|(r, _)| **r == o.rule) {
                Some(e) => e.1 &= o.decision.allowed,
                None => per_rule.push((&o.rule, o.decision.allowed)),
            }
            self.limits
                .get_or_create(&LimitLabels {
                    rule: o.rule.clone(),
                    limit: o.limit.clone(),
                    outcome: outcome(o.decision.allowed),
                })
                .inc();
            let d = &o.decision;
            if d.allowed && (d.limit - d.remaining) as f64 >= 0.8 * d.limit as f64 {
                self.near_limit
                    .get_or_create(&NearLabels {
                        rule: o.rule.clone(),
                        limit: o.limit.clone(),
                    })
                    .inc();
            }
        }
        for (rule, ok) in per_rule {
            self.requests
                .get_or_create(&RuleLabels {
                    rule: rule.clone(),
                    outcome: outcome(ok),
                })
                .inc();
        }
    }
}

/// Runs `iters` records on each of `threads` threads at once; the time
/// per record of the whole (wall time × threads / records).
fn contended(threads: u32, iters: u64, record: impl Fn() + Sync) -> Duration {
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..iters {
                    record();
                }
            });
        }
    });
    started.elapsed()
}

fn bench(c: &mut Criterion) {
    let v = verdict();
    let elapsed = Duration::from_micros(40);
    let hand = Decisions::default();
    let client = Client::new();

    let mut g = c.benchmark_group("metrics_per_decision");
    g.bench_function("hand_kept/1_thread", |b| {
        b.iter(|| hand.record(Ok(std::hint::black_box(&v)), elapsed))
    });
    g.bench_function("prometheus_client/1_thread", |b| {
        b.iter(|| client.record(std::hint::black_box(&v), elapsed))
    });
    g.bench_function("hand_kept/2_threads", |b| {
        b.iter_custom(|iters| contended(2, iters, || hand.record(Ok(&v), elapsed)))
    });
    g.bench_function("prometheus_client/2_threads", |b| {
        b.iter_custom(|iters| contended(2, iters, || client.record(&v, elapsed)))
    });

    // The same after 100 other rules have decided (about 500 series per
    // family with labels): how lookups scale with the policy's size.
    for i in 0..100 {
        // Named to sort before the measured rules (the worst case of a scan).
        let other = verdict_of(&format!("api-{i}"), &format!("api-{i}-key"));
        hand.record(Ok(&other), elapsed);
        client.record(&other, elapsed);
    }
    g.bench_function("hand_kept/1_thread_200_rules", |b| {
        b.iter(|| hand.record(Ok(std::hint::black_box(&v)), elapsed))
    });
    g.bench_function("prometheus_client/1_thread_200_rules", |b| {
        b.iter(|| client.record(std::hint::black_box(&v), elapsed))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
