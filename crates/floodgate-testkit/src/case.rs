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
) -> Result<(), String> {
    for (i, step) in case.steps.iter().enumerate() {
        let check = case.limit_check(step.cost);
        let d = decide(&check, at(step.at_us));
        if let Some(m) = step.mismatch(&case.quota, &d) {
            return Err(case.failure(i, step, &format!("{m} got {d:?}")));
        }
    }
    Ok(())
}

/// Replays `case` against `store` in `namespace`.
pub async fn run_case_with(store: &dyn Store, case: &Case, namespace: &str) -> Result<(), String> {
    for (i, step) in case.steps.iter().enumerate() {
        let check = case.limit_check_in(namespace, step.cost);
        let out = store
            .check(std::slice::from_ref(&check), at(step.at_us))
            .await
            .map_err(|e| case.failure(i, step, &format!(" store error: {e}")))?;
        let [d] = out.as_slice() else {
            return Err(case.failure(i, step, &format!(" {} decisions for 1 check", out.len())));
        };
        if let Some(m) = step.mismatch(&case.quota, d) {
            return Err(case.failure(i, step, &format!("{m} got {d:?}")));
        }
    }
    Ok(())
}

/// Replays `case` against `store` in the `conformance` namespace.
pub async fn run_case(store: &dyn Store, case: &Case) -> Result<(), String> {
    run_case_with(store, case, "conformance").await
}

/// Replays every case of [`cases()`](crate::cases()) against `store` in
/// `namespace`, and errs listing every case that failed.
pub async fn run_cases(store: &dyn Store, namespace: &str) -> Result<(), String> {
    let mut failures = Vec::new();
    for case in crate::cases() {
        if let Err(e) = run_case_with(store, &case, namespace).await {
            failures.push(e);
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// Checks a store's atomicity over several limits of one request, in
/// `namespace`:
///
/// - two limits where the second denies: the first consumes nothing;
/// - a limit that can never fit denies the whole request;
/// - the same key twice in one request: the second check sees the first's
///   cost, so a bucket of 1 cannot admit a request that costs it 2.
pub async fn atomic_suite(store: &dyn Store, namespace: &str) -> Result<(), String> {
    let check = |name: &str, quota: Quota, cost: u64| LimitCheck {
        limit_id: Arc::from(format!("{namespace}:atomic:{name}")),
        identity: Arc::from("atomic-client"),
        quota,
        cost,
        on_failure: None,
        lease: None,
    };
    let per_sec = floodgate_core::Rate::per_second(1).expect("valid rate");
    let bucket = Quota::token_bucket(5, per_sec).expect("valid quota");
    let window = Quota::fixed_window(1, Duration::from_secs(60)).expect("valid quota");
    let t = at(0);
    let run = |checks: Vec<LimitCheck>| async move {
        store
            .check(&checks, t)
            .await
            .map_err(|e| format!("store error: {e}"))
    };
    let expect = |what: &str, got: &[Decision], want: &[bool]| {
        let allowed: Vec<bool> = got.iter().map(|d| d.allowed).collect();
        if allowed == want {
            Ok(())
        } else {
            Err(format!(
                "atomic: {what}: allowed {allowed:?}, want {want:?}: {got:?}"
            ))
        }
    };

    let (a, b) = (check("a", bucket, 1), check("b", window, 1));
    let d = run(vec![a.clone(), b.clone()]).await?;
    expect("both allow", &d, &[true, true])?;
    let d = run(vec![a.clone(), b.clone()]).await?;
    expect("second limit denies", &d, &[true, false])?;
    let d = run(vec![a.clone()]).await?;
    expect("first limit alone", &d, &[true])?;
    if d[0].remaining != 3 {
        return Err(format!(
            "atomic: the denied request consumed from the first limit: remaining {} (want 3)",
            d[0].remaining
        ));
    }

    let c = check("c", bucket, 1);
    let huge = check("huge", bucket, 6);
    let d = run(vec![c.clone(), huge]).await?;
    expect("a limit that never fits", &d, &[true, false])?;
    if d[1].retry_after != Some(RetryAfter::Never) {
        return Err(format!("atomic: cost above capacity: {:?}", d[1]));
    }
    let d = run(vec![c]).await?;
    if d[0].remaining != 4 {
        return Err(format!(
            "atomic: a request denied by a never-fitting limit consumed: remaining {} (want 4)",
            d[0].remaining
        ));
    }

    let one = Quota::token_bucket(1, per_sec).expect("valid quota");
    let dup = check("dup", one, 1);
    let d = run(vec![dup.clone(), dup.clone()]).await?;
    expect("the same key twice", &d, &[true, false])?;
    let d = run(vec![dup]).await?;
    expect("the same key after a denied double", &d, &[true])?;
    if d[0].remaining != 0 {
        return Err(format!("atomic: the same key twice: {:?}", d[0]));
    }
    Ok(())
}
