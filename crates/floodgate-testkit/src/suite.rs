//! Suites every store passes: the whole conformance suite in a namespace,
//! and atomicity over several limits of one request.

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::{Decision, LimitCheck, Quota, RetryAfter, Store};

use crate::case::run_case_with;
use crate::cases::cases;
use crate::clock::at;
use crate::failure::Failure;

/// Replays every case of [`cases()`](crate::cases()) against `store` in
/// `namespace`, and errs listing every case that failed.
pub async fn run_cases(store: &dyn Store, namespace: &str) -> Result<(), Failure> {
    let mut failures = Vec::new();
    for case in cases() {
        if let Err(e) = run_case_with(store, &case, namespace).await {
            failures.push(e);
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        let failures: Vec<String> = failures.into_iter().map(String::from).collect();
        Err(failures.join("\n").into())
    }
}

/// Checks a store's atomicity over several limits of one request, in
/// `namespace`:
///
/// - two limits where the second denies: the first consumes nothing;
/// - a limit that can never fit denies the whole request;
/// - the same key twice in one request: the second check sees the first's
///   cost, so a bucket of 1 cannot admit a request that costs it 2.
pub async fn atomic_suite(store: &dyn Store, namespace: &str) -> Result<(), Failure> {
    let check = |name: &str, quota: Quota, cost: u64| LimitCheck {
        limit_id: Arc::from(format!("{namespace}:atomic:{name}")),
        identity: Arc::from("atomic-client"),
        quota,
        cost,
        on_failure: None,
        lease: None,
        sync: None,
        scope: floodgate_core::store::Scope::Region,
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
    let expect = |what: &str, got: &[Decision], want: &[bool]| -> Result<(), Failure> {
        let allowed: Vec<bool> = got.iter().map(|d| d.allowed).collect();
        if allowed == want {
            Ok(())
        } else {
            Err(format!("atomic: {what}: allowed {allowed:?}, want {want:?}: {got:?}").into())
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
        )
        .into());
    }

    let c = check("c", bucket, 1);
    let huge = check("huge", bucket, 6);
    let d = run(vec![c.clone(), huge]).await?;
    expect("a limit that never fits", &d, &[true, false])?;
    if d[1].retry_after != Some(RetryAfter::Never) {
        return Err(format!("atomic: cost above capacity: {:?}", d[1]).into());
    }
    let d = run(vec![c]).await?;
    if d[0].remaining != 4 {
        return Err(format!(
            "atomic: a request denied by a never-fitting limit consumed: remaining {} (want 4)",
            d[0].remaining
        )
        .into());
    }

    let one = Quota::token_bucket(1, per_sec).expect("valid quota");
    let dup = check("dup", one, 1);
    let d = run(vec![dup.clone(), dup.clone()]).await?;
    expect("the same key twice", &d, &[true, false])?;
    let d = run(vec![dup]).await?;
    expect("the same key after a denied double", &d, &[true])?;
    if d[0].remaining != 0 {
        return Err(format!("atomic: the same key twice: {:?}", d[0]).into());
    }
    Ok(())
}
