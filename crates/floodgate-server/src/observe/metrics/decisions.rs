//! The per-decision metrics: what every request decided updates (the hot
//! path), and their exposition.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use floodgate_core::policy::LimitOutcome;
use floodgate_core::{CheckError, Verdict};

use super::primitives::{Counters, Histogram};

/// Histogram buckets (seconds) for decision latency: 10µs to 100ms.
const DECISION_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
];

/// The share of a limit used at or above which an allowed decision counts
/// as near the limit, unless configured.
pub const DEFAULT_NEAR_LIMIT_SHARE: f64 = 0.8;

/// Counts and latency of decisions.
pub struct Decisions {
    requests: Counters,
    decisions: Counters,
    limits: Counters,
    near_limit: Counters,
    soft_limited: Counters,
    latency: Histogram,
    /// The near-limit share, as `f64` bits.
    near_share: AtomicU64,
}

impl Default for Decisions {
    fn default() -> Self {
        Decisions {
            requests: Counters::default(),
            decisions: Counters::default(),
            limits: Counters::default(),
            near_limit: Counters::default(),
            soft_limited: Counters::default(),
            latency: Histogram::new(DECISION_BUCKETS),
            near_share: AtomicU64::new(DEFAULT_NEAR_LIMIT_SHARE.to_bits()),
        }
    }
}

/// Whether an allowed decision left at least `share` of its limit used.
fn near(o: &LimitOutcome, share: f64) -> bool {
    let d = &o.decision;
    d.allowed
        && d.limit > 0
        && (d.limit.saturating_sub(d.remaining) as f64) >= share * d.limit as f64
}

fn outcome(allowed: bool, shadow: bool) -> &'static str {
    match (allowed, shadow) {
        (true, _) => "allowed",
        (false, true) => "shadow_limited",
        (false, false) => "limited",
    }
}

impl Decisions {
    /// Sets the near-limit share (clamped to 0..=1).
    pub fn set_near_limit_share(&self, share: f64) {
        let share = if share.is_nan() {
            DEFAULT_NEAR_LIMIT_SHARE
        } else {
            share.clamp(0.0, 1.0)
        };
        self.near_share.store(share.to_bits(), Ordering::Relaxed);
    }

    /// The near-limit share.
    pub fn near_limit_share(&self) -> f64 {
        f64::from_bits(self.near_share.load(Ordering::Relaxed))
    }

    /// Records one request decided as `verdict` in `elapsed`.
    pub fn record(&self, verdict: Result<&Verdict, &CheckError>, elapsed: Duration) {
        self.latency.observe(elapsed);
        let v = match verdict {
            Ok(v) => v,
            Err(CheckError::Store(_)) => return self.decisions.inc(&["error"]),
            Err(_) => return self.decisions.inc(&["unauthorized"]),
        };
        self.decisions
            .inc(&[if v.allowed { "allowed" } else { "limited" }]);
        let share = self.near_limit_share();
        // One count per rule that applied (limited if any of its limits
        // denied), and one per limit.
        let mut per_rule: Vec<(&str, bool, bool)> = Vec::with_capacity(v.outcomes.len());
        for o in &v.outcomes {
            match per_rule.iter_mut().find(|(r, _, _)| *r == &*o.rule) {
                Some(e) => e.1 &= o.decision.allowed,
                None => per_rule.push((&o.rule, o.decision.allowed, o.shadow)),
            }
            self.limits
                .inc(&[&o.rule, &o.limit, outcome(o.decision.allowed, o.shadow)]);
            if near(o, share) {
                self.near_limit.inc(&[&o.rule, &o.limit]);
            }
            if v.allowed && o.past_soft() {
                self.soft_limited.inc(&[&o.rule, &o.limit]);
            }
        }
        for (rule, ok, shadow) in per_rule {
            self.requests.inc(&[rule, outcome(ok, shadow)]);
        }
    }

    /// The count of `floodgate_limit_decisions_total` for one series.
    pub fn limit_count(&self, rule: &str, limit: &str, outcome: &str) -> u64 {
        self.limits.get(&[rule, limit, outcome])
    }

    /// The count of `floodgate_near_limit_total` for one series.
    pub fn near_limit_count(&self, rule: &str, limit: &str) -> u64 {
        self.near_limit.get(&[rule, limit])
    }

    /// The count of `floodgate_soft_limited_total` for one series.
    pub fn soft_limited_count(&self, rule: &str, limit: &str) -> u64 {
        self.soft_limited.get(&[rule, limit])
    }

    /// Writes the families.
    pub fn render(&self, out: &mut String) {
        self.requests.render(
            out,
            "floodgate_requests_total",
            "Requests per rule that applied, by outcome (allowed, limited, shadow_limited).",
            &["rule", "outcome"],
        );
        self.limits.render(
            out,
            "floodgate_limit_decisions_total",
            "Decisions of each limit of each rule that applied, by the limit's own outcome (allowed, limited, shadow_limited).",
            &["rule", "limit", "outcome"],
        );
        self.near_limit.render(
            out,
            "floodgate_near_limit_total",
            "Allowed decisions that left at least the near-limit share of the limit used.",
            &["rule", "limit"],
        );
        self.soft_limited.render(
            out,
            "floodgate_soft_limited_total",
            "Requests allowed past a limit's soft share (marked degraded), by rule and limit.",
            &["rule", "limit"],
        );
        self.decisions.render(
            out,
            "floodgate_decisions_total",
            "Requests decided, by outcome (allowed, limited, unauthorized, error).",
            &["outcome"],
        );
        self.latency.render(
            out,
            "floodgate_decision_duration_seconds",
            "Time to decide one request.",
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use floodgate_core::{Decision, Quota, Rate};

    use super::*;

    fn outcome_of(
        rule: &str,
        limit: &str,
        cap: u64,
        remaining: u64,
        allowed: bool,
    ) -> LimitOutcome {
        LimitOutcome {
            rule: Arc::from(rule),
            limit: Arc::from(limit),
            quota: Quota::token_bucket(cap, Rate::per_second(1).unwrap()).unwrap(),
            shadow: false,
            soft: None,
            decision: Decision {
                allowed,
                limit: cap,
                remaining,
                reset_after: Duration::ZERO,
                retry_after: None,
                delay: Duration::ZERO,
            },
        }
    }

    fn verdict(outcomes: Vec<LimitOutcome>) -> Verdict {
        Verdict {
            allowed: outcomes.iter().all(|o| o.decision.allowed),
            tier: None,
            outcomes,
        }
    }

    #[test]
    fn near_limit_counts_allowed_decisions_at_or_above_the_share() {
        let d = Decisions::default();
        // 10 of capacity: remaining 3 → 70% used, 2 → 80%, 0 → 100%.
        for remaining in [3, 2, 0] {
            let v = verdict(vec![outcome_of("r", "burst", 10, remaining, true)]);
            d.record(Ok(&v), Duration::ZERO);
        }
        let denied = verdict(vec![outcome_of("r", "burst", 10, 0, false)]);
        d.record(Ok(&denied), Duration::ZERO);
        assert_eq!(d.near_limit_count("r", "burst"), 2);
        assert_eq!(d.limit_count("r", "burst", "allowed"), 3);
        assert_eq!(d.limit_count("r", "burst", "limited"), 1);

        d.set_near_limit_share(0.5);
        let v = verdict(vec![outcome_of("r", "burst", 10, 5, true)]);
        d.record(Ok(&v), Duration::ZERO);
        assert_eq!(d.near_limit_count("r", "burst"), 3);
    }

    #[test]
    fn each_limit_counts_its_own_outcome_and_the_rule_the_request() {
        let d = Decisions::default();
        let v = verdict(vec![
            outcome_of("r", "second", 5, 4, true),
            outcome_of("r", "day", 100, 0, false),
        ]);
        d.record(Ok(&v), Duration::ZERO);
        assert_eq!(d.limit_count("r", "second", "allowed"), 1);
        assert_eq!(d.limit_count("r", "day", "limited"), 1);
        assert_eq!(d.requests.get(&["r", "limited"]), 1);
        assert_eq!(d.requests.get(&["r", "allowed"]), 0);
    }
}
