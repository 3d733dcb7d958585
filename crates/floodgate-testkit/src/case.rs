//! A conformance case as data, and the runners that replay it.
//!
//! A [`Case`] is a quota and a list of [`Step`]s: at an offset from
//! [`BASE`](crate::BASE), send one request of some cost, and expect a
//! decision. The same cases run against the bare algorithm, the memory store
//! and the Redis store; every case has its own `limit_id`, so they can all
//! share one store.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::{Decision, LimitCheck, Quota, RetryAfter, Store, Timestamp};

use crate::clock::at;
use crate::failure::Failure;

/// One request of a case and the decision it must get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// When, in µs after [`BASE`](crate::BASE).
    pub at_us: u64,
    /// The request's cost.
    pub cost: u64,
    /// Whether it must be allowed.
    pub expect_allowed: bool,
    /// `Decision::remaining`, when checked.
    pub expect_remaining: Option<u64>,
    /// `Decision::retry_after` of a denial, when checked. An allowed
    /// request must always have none; a denied one always some.
    pub expect_retry: Option<RetryAfter>,
    /// `Decision::reset_after` in µs, when checked.
    pub expect_reset_us: Option<u64>,
    /// `Decision::delay` in µs, when checked. When unset the delay must be
    /// zero, except under a shaping quota, where it is not checked.
    pub expect_delay_us: Option<u64>,
}

impl Step {
    fn new(at_us: u64, allowed: bool) -> Step {
        Step {
            at_us,
            cost: 1,
            expect_allowed: allowed,
            expect_remaining: None,
            expect_retry: None,
            expect_reset_us: None,
            expect_delay_us: None,
        }
    }

    /// A request at `at_us` that must be allowed.
    pub fn allow(at_us: u64) -> Step {
        Step::new(at_us, true)
    }

    /// A request at `at_us` that must be denied.
    pub fn deny(at_us: u64) -> Step {
        Step::new(at_us, false)
    }

    /// With cost `n` (default 1).
    pub fn cost(mut self, n: u64) -> Step {
        self.cost = n;
        self
    }

    /// Expecting `remaining == n`.
    pub fn remaining(mut self, n: u64) -> Step {
        self.expect_remaining = Some(n);
        self
    }

    /// Expecting `retry_after == After(us µs)`.
    pub fn retry_us(mut self, us: u64) -> Step {
        self.expect_retry = Some(RetryAfter::After(Duration::from_micros(us)));
        self
    }

    /// Expecting `retry_after == Never`.
    pub fn never(mut self) -> Step {
        self.expect_retry = Some(RetryAfter::Never);
        self
    }

    /// Expecting `reset_after == us µs`.
    pub fn reset_us(mut self, us: u64) -> Step {
        self.expect_reset_us = Some(us);
        self
    }

    /// Expecting `delay == us µs`.
    pub fn delay_us(mut self, us: u64) -> Step {
        self.expect_delay_us = Some(us);
        self
    }

    /// What is wrong with `d` as this step's decision under `quota`, if
    /// anything.
    pub fn mismatch(&self, quota: &Quota, d: &Decision) -> Option<String> {
        let mut errs = String::new();
        if d.allowed != self.expect_allowed {
            let _ = write!(
                errs,
                " allowed={} (want {});",
                d.allowed, self.expect_allowed
            );
        }
        if d.limit != quota.limit() {
            let _ = write!(errs, " limit={} (want {});", d.limit, quota.limit());
        }
        if let Some(r) = self.expect_remaining {
            if d.remaining != r {
                let _ = write!(errs, " remaining={} (want {r});", d.remaining);
            }
        }
        if d.allowed && d.retry_after.is_some() {
            let _ = write!(
                errs,
                " retry_after={:?} on an allowed request;",
                d.retry_after
            );
        }
        if !d.allowed && d.retry_after.is_none() {
            errs.push_str(" no retry_after on a denied request;");
        }
        if let (Some(want), false) = (self.expect_retry, d.allowed) {
            if d.retry_after != Some(want) {
                let _ = write!(errs, " retry_after={:?} (want {want:?});", d.retry_after);
            }
        }
        if let Some(r) = self.expect_reset_us {
            if d.reset_after != Duration::from_micros(r) {
                let _ = write!(errs, " reset_after={:?} (want {r}µs);", d.reset_after);
            }
        }
        let shaping = matches!(
            quota,
            Quota::LeakyBucket {
                mode: floodgate_core::LeakMode::Shaping,
                ..
            }
        );
        match self.expect_delay_us {
            Some(us) if d.delay != Duration::from_micros(us) => {
                let _ = write!(errs, " delay={:?} (want {us}µs);", d.delay);
            }
            None if !shaping && !d.delay.is_zero() => {
                let _ = write!(errs, " delay={:?} (want 0);", d.delay);
            }
            _ => {}
        }
        (!errs.is_empty()).then_some(errs)
    }
}

/// A named quota and the requests to replay against it.
#[derive(Clone, Debug)]
pub struct Case {
    /// Unique among [`cases()`](crate::cases()); part of the `limit_id`.
    pub name: &'static str,
    /// The limit under test.
    pub quota: Quota,
    /// The requests, in time order (offsets never decrease).
    pub steps: Vec<Step>,
}

impl Case {
    /// The check for one request of this case, in `namespace` (so that
    /// repeated runs against a persistent store can stay apart).
    pub fn limit_check_in(&self, namespace: &str, cost: u64) -> LimitCheck {
        LimitCheck {
            limit_id: Arc::from(format!("{namespace}:{}", self.name)),
            identity: Arc::from("conformance-client"),
            quota: self.quota,
            cost,
            on_failure: None,
            lease: None,
            sync: None,
            scope: floodgate_core::store::Scope::Region,
        }
    }

    /// [`Case::limit_check_in`] the `conformance` namespace.
    pub fn limit_check(&self, cost: u64) -> LimitCheck {
        self.limit_check_in("conformance", cost)
    }

    fn failure(&self, i: usize, step: &Step, what: &str) -> String {
        format!(
            "case `{}` ({}), step {i} (at +{}µs, cost {}):{what}",
            self.name, self.quota, step.at_us, step.cost
        )
    }
}

/// Replays `case` through `decide`, which answers one check at one time
/// (the bare algorithm, a store's sync entry point...). Errs naming the
/// first step whose decision differs, and the decision it got.
pub fn run_case_sync(
    case: &Case,
    mut decide: impl FnMut(&LimitCheck, Timestamp) -> Decision,
) -> Result<(), Failure> {
    for (i, step) in case.steps.iter().enumerate() {
        let check = case.limit_check(step.cost);
        let d = decide(&check, at(step.at_us));
        if let Some(m) = step.mismatch(&case.quota, &d) {
            return Err(case.failure(i, step, &format!("{m} got {d:?}")).into());
        }
    }
    Ok(())
}

/// Replays `case` against `store` in `namespace`.
pub async fn run_case_with(store: &dyn Store, case: &Case, namespace: &str) -> Result<(), Failure> {
    for (i, step) in case.steps.iter().enumerate() {
        let check = case.limit_check_in(namespace, step.cost);
        let out = store
            .check(std::slice::from_ref(&check), at(step.at_us))
            .await
            .map_err(|e| case.failure(i, step, &format!(" store error: {e}")))?;
        let [d] = out.as_slice() else {
            return Err(case
                .failure(i, step, &format!(" {} decisions for 1 check", out.len()))
                .into());
        };
        if let Some(m) = step.mismatch(&case.quota, d) {
            return Err(case.failure(i, step, &format!("{m} got {d:?}")).into());
        }
    }
    Ok(())
}

/// Replays `case` against `store` in the `conformance` namespace.
pub async fn run_case(store: &dyn Store, case: &Case) -> Result<(), Failure> {
    run_case_with(store, case, "conformance").await
}
