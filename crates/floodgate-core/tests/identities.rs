//! Two limits never share a counter, whatever their names: generated rule,
//! tier and limit names (from the allowed set, and beyond it with the
//! characters ids are built from), on the memory store.
//!
//! A failing case's seed lands in `tests/proptest-regressions/identities.txt`.

use floodgate_core::MemoryStore;
use floodgate_testkit::{block_on, limits_stay_apart, LimitSpec};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Names over a small alphabet (so that near misses are frequent), with
/// the separators ids are built from.
fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[ab.\\-_/@%]{1,4}", "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,8}",]
}

fn spec() -> impl Strategy<Value = LimitSpec> {
    (name(), proptest::option::of(name()), name())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/identities.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn two_limits_never_share_a_counter(a in spec(), b in spec()) {
        let store = MemoryStore::default();
        block_on(limits_stay_apart(&store, "t", &a, &b)).map_err(|e| TestCaseError::fail(String::from(e)))?;
    }

    /// Specs that differ in one part only, where collisions would hide.
    #[test]
    fn near_misses_stay_apart(rule in name(), tier in name(), n in name(), other in name()) {
        let store = MemoryStore::default();
        let pairs = [
            ((rule.clone(), None, n.clone()), (rule.clone(), Some(tier.clone()), n.clone())),
            ((rule.clone(), None, n.clone()), (other.clone(), None, n.clone())),
            ((rule.clone(), Some(tier.clone()), n.clone()), (rule.clone(), Some(other.clone()), n.clone())),
            ((format!("{rule}@{tier}"), None, n.clone()), (rule.clone(), Some(tier.clone()), n.clone())),
            ((format!("{rule}/{n}"), None, other.clone()), (rule.clone(), None, format!("{n}/{other}"))),
        ];
        for (i, (a, b)) in pairs.iter().enumerate() {
            block_on(limits_stay_apart(&store, &format!("p{i}"), a, b)).map_err(|e| TestCaseError::fail(String::from(e)))?;
        }
    }
}
