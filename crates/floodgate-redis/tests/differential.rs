//! Differential property test: random traces of multi-limit requests give
//! identical decisions on the memory store and on Redis (caller time),
//! through Redis Functions (`FCALL`) and through the script (`EVALSHA`).

mod common;

use std::time::Duration;

use common::*;
use floodgate_core::{LeakMode, LimitCheck, MemoryStore, Quota, Rate, Store, Timestamp};
use floodgate_redis::Scripting;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

fn quotas() -> Vec<Quota> {
    let r = |n, ms| Rate::new(n, Duration::from_millis(ms)).unwrap();
    vec![
        Quota::token_bucket(3, r(2, 1_000)).unwrap(),
        Quota::token_bucket(5, r(3, 7)).unwrap(),
        Quota::leaky_bucket(4, r(3, 1_000), LeakMode::Policing).unwrap(),
        Quota::leaky_bucket(3, r(2, 1_000), LeakMode::Shaping).unwrap(),
        Quota::leaky_bucket(2, r(7, 300), LeakMode::Shaping).unwrap(),
        Quota::fixed_window(5, Duration::from_secs(1)).unwrap(),
        Quota::sliding_log(4, Duration::from_millis(1_500)).unwrap(),
        Quota::sliding_counter(5, Duration::from_secs(1)).unwrap(),
        Quota::sliding_counter(3, Duration::from_millis(700)).unwrap(),
        Quota::gcra(r(3, 1_000), 2).unwrap(),
        Quota::gcra(r(7, 10), 4).unwrap(),
    ]
}

#[derive(Clone, Debug)]
struct Req {
    dt_us: u64,
    checks: Vec<(usize, u8, u64)>,
}

fn req(nq: usize) -> impl Strategy<Value = Req> {
    let dt = prop_oneof![
        Just(0u64),
        Just(1),
        Just(333_333),
        Just(1_000_000),
        0u64..2_000_000,
        0u64..20_000,
    ];
    let check = (0..nq, 0u8..2, prop_oneof![Just(1u64), 0u64..7]);
    (dt, prop::collection::vec(check, 1..4)).prop_map(|(dt_us, checks)| Req { dt_us, checks })
}

#[test]
fn random_traces_decide_the_same_on_memory_and_redis() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = RedisServer::start();
    // The same traces through Redis Functions and through the script.
    let stores = [
        rt.block_on(scripted_store(&server, Scripting::Functions, "FCALL")),
        rt.block_on(scripted_store(&server, Scripting::Eval, "EVALSHA")),
    ];
    let qs = quotas();
    let mut runner = TestRunner::new(Config {
        cases: 256,
        // Failing seeds are kept (and committed) in
        // tests/proptest-regressions/differential.txt, replayed first.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/proptest-regressions/differential.txt"
        )))),
        ..Config::default()
    });
    let runs = std::sync::atomic::AtomicU64::new(0);
    let strategy = prop::collection::vec(req(qs.len()), 1..40);
    runner
        .run(&strategy, |trace| {
            let run = runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let memory = MemoryStore::default();
            // A day-aligned start, plus a per-run odd offset.
            let mut t = 1_700_006_400_000_000u64 + run * 7_919;
            for (i, r) in trace.iter().enumerate() {
                t += r.dt_us;
                let checks: Vec<LimitCheck> = r
                    .checks
                    .iter()
                    .map(|&(q, who, cost)| {
                        check(&format!("run{run}/q{q}"), &format!("c{who}"), qs[q], cost)
                    })
                    .collect();
                let now = Timestamp::from_micros(t);
                let want = rt.block_on(memory.check(&checks, now)).unwrap();
                for redis in &stores {
                    let got = rt.block_on(redis.check(&checks, now)).map_err(|e| {
                        TestCaseError::fail(format!("request {i} by {}: {e}", redis.call_command()))
                    })?;
                    prop_assert_eq!(
                        &got,
                        &want,
                        "request {} by {} of {:?}",
                        i,
                        redis.call_command(),
                        trace
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}
