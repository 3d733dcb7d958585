//! Two limits never share a counter in Redis, whatever their names:
//! generated rule, tier and limit names on a real redis-server (the same
//! suite the memory store runs).
//!
//! A failing case's seed lands in `tests/proptest-regressions/identities.txt`.

mod common;

use common::{caller_store, RedisServer};
use floodgate_testkit::{limits_stay_apart, LimitSpec};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[ab.\\-_/@%]{1,4}", "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,8}",]
}

fn spec() -> impl Strategy<Value = LimitSpec> {
    (name(), proptest::option::of(name()), name())
}

#[test]
fn two_limits_never_share_a_counter_in_redis() {
    let server = RedisServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(caller_store(&server));
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/identities.txt",
        ))),
        ..Config::default()
    });
    let case = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&(spec(), spec()), |(a, b)| {
        // A namespace per case: Redis keeps state between cases.
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ns = format!("ids-{n}");
        rt.block_on(limits_stay_apart(&store, &ns, &a, &b))
            .map_err(|e| TestCaseError::fail(String::from(e)))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
