//! The conformance suite (floodgate-testkit) against the bare algorithms
//! and the memory store.

use floodgate_core::algorithm::{self, State};
use floodgate_core::{MemoryStore, MemoryStoreConfig};
use floodgate_testkit::{
    atomic_suite, block_on, cases, run_case, run_case_sync, run_cases, Failure,
};

fn report(failures: Vec<Failure>) {
    let failures: Vec<String> = failures.into_iter().map(String::from).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bare_algorithms_pass_every_case() {
    let failures = cases()
        .iter()
        .filter_map(|case| {
            let mut state: Option<State> = None;
            run_case_sync(case, |check, now| {
                let s = state.get_or_insert_with(|| State::fresh(&check.quota, now));
                algorithm::decide(s, now, check.cost, &check.quota)
            })
            .err()
        })
        .collect();
    report(failures);
}

#[test]
fn evaluate_then_consume_passes_every_case() {
    // The split a store uses for several limits: decide, then consume only
    // when allowed.
    let failures = cases()
        .iter()
        .filter_map(|case| {
            let mut state: Option<State> = None;
            run_case_sync(case, |check, now| {
                let s = state.get_or_insert_with(|| State::fresh(&check.quota, now));
                let d = algorithm::evaluate(s, now, check.cost, &check.quota);
                if d.allowed {
                    algorithm::consume(s, now, check.cost, &check.quota);
                }
                d
            })
            .err()
        })
        .collect();
    report(failures);
}

#[test]
fn memory_store_sync_passes_every_case() {
    let store = MemoryStore::default();
    let failures = cases()
        .iter()
        .filter_map(|case| {
            run_case_sync(case, |c, now| {
                store.check_sync(std::slice::from_ref(c), now)[0]
            })
            .err()
        })
        .collect();
    report(failures);
}

#[test]
fn memory_store_async_passes_every_case_in_one_shared_store() {
    // One store for all cases: their limit ids keep them apart.
    let store = MemoryStore::default();
    block_on(run_cases(&store, "shared")).unwrap_or_else(|e| panic!("{e}"));
    // A second namespace in the same store starts from scratch.
    block_on(run_cases(&store, "again")).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn memory_store_passes_every_case_when_swept_before_each_request() {
    // Dropping idle entries must never change a decision: `reset_after` is
    // when the state is idle again, and the store trusts it.
    let store = MemoryStore::default();
    let failures = cases()
        .iter()
        .filter_map(|case| {
            run_case_sync(case, |c, now| {
                store.sweep(now);
                store.check_sync(std::slice::from_ref(c), now)[0]
            })
            .err()
        })
        .collect();
    report(failures);
}

#[test]
fn tiny_memory_store_passes_every_case() {
    // One key of room: once the first case's key holds it, every later
    // case is decided on its limit's overflow bucket, which a lone client
    // has to itself, so it decides exactly as its own key would.
    let store = MemoryStore::new(MemoryStoreConfig {
        max_keys: 1,
        shards: 1,
        ..MemoryStoreConfig::default()
    });
    let failures = cases()
        .iter()
        .filter_map(|case| block_on(run_case(&store, case)).err())
        .collect();
    report(failures);
    assert!(store.overflowed() > 0);
    // The one key, plus at most one overflow bucket per case's limit.
    assert!(store.len() <= 1 + cases().len());
}

#[test]
fn memory_store_is_atomic_over_the_limits_of_a_request() {
    let store = MemoryStore::default();
    block_on(atomic_suite(&store, "atomic")).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_runner_reports_the_failing_step() {
    // A store that always allows must fail the first case at a denied step,
    // and the message must say which.
    let case = &cases()[0];
    let err = run_case_sync(case, |c, _| floodgate_core::Decision {
        allowed: true,
        limit: c.quota.limit(),
        remaining: 0,
        reset_after: std::time::Duration::ZERO,
        retry_after: None,
        delay: std::time::Duration::ZERO,
    })
    .unwrap_err();
    assert!(err.contains(case.name) && err.contains("step 0"), "{err}");
}

#[test]
fn memory_store_inspects_without_consuming_and_resets() {
    let store = MemoryStore::default();
    floodgate_testkit::block_on(floodgate_testkit::inspect_suite(&store, "memory")).unwrap();
}
