//! Concurrency limits: slots held by this replica's requests in flight,
//! slots taken, denials, and leases that ended before their release.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use floodgate_core::policy::{Held, LimitOutcome, RuleLimit};
use parking_lot::Mutex;

use super::primitives::{header, sample, single, Counters};

/// The concurrency families.
#[derive(Default)]
pub struct Concurrency {
    /// Slots held now, by `(rule, limit)` (a series stays, at 0, once
    /// seen: rule and limit names are bounded by the policy).
    in_flight: Mutex<BTreeMap<RuleLimit, u64>>,
    acquired: Counters,
    denied: Counters,
    lost: AtomicU64,
}

impl Concurrency {
    /// Slots of `held` taken (`taken`) or given back.
    pub fn slots(&self, held: &Held, taken: bool) {
        let mut m = self.in_flight.lock();
        for (rule, limit) in &held.names {
            let n = m.entry((rule.clone(), limit.clone())).or_default();
            if taken {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
            }
        }
        drop(m);
        if taken {
            for (rule, limit) in &held.names {
                self.acquired.inc(&[rule, limit]);
            }
        }
    }

    /// A decided request's concurrency limits that denied.
    pub fn decided<'a>(&self, outcomes: impl Iterator<Item = &'a LimitOutcome>) {
        for o in outcomes {
            if o.quota.is_concurrency() && !o.shadow && !o.decision.allowed {
                self.denied.inc(&[&o.rule, &o.limit]);
            }
        }
    }

    /// A renewal found a slot's lease ended while its request was in
    /// flight.
    pub fn lease_lost(&self) {
        self.lost.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes the families; `expired` is the store's count of ended
    /// leases it removed, when it keeps one.
    pub fn render(&self, out: &mut String, expired: Option<u64>) {
        let name = "floodgate_concurrency_in_flight";
        header(
            out,
            name,
            "Concurrency slots held by this replica's requests in flight, by rule and limit.",
            "gauge",
        );
        for ((rule, limit), n) in self.in_flight.lock().iter() {
            sample(out, name, &[("rule", rule), ("limit", limit)], *n);
        }
        self.acquired.render(
            out,
            "floodgate_concurrency_acquired_total",
            "Concurrency slots taken by requests that went on, by rule and limit.",
            &["rule", "limit"],
        );
        self.denied.render(
            out,
            "floodgate_concurrency_denied_total",
            "Requests denied by a concurrency limit (all its slots held), by rule and limit.",
            &["rule", "limit"],
        );
        if let Some(n) = expired {
            single(
                out,
                "floodgate_concurrency_leases_expired_total",
                "Concurrency slots whose lease ended before their holder released them, freed by the store.",
                "counter",
                n,
            );
        }
        single(
            out,
            "floodgate_concurrency_leases_lost_total",
            "Renewals that found a slot of a request still in flight had lost its lease.",
            "counter",
            self.lost.load(Ordering::Relaxed),
        );
    }
}
