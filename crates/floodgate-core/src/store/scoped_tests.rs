//! ScopedStore's tests.

use super::*;
use crate::quota::Quota;
use crate::store::MemoryStore;

fn check(scope: Scope, limit: u64) -> LimitCheck {
    let quota = Quota::fixed_window(limit, Duration::from_secs(60)).unwrap();
    LimitCheck {
        scope,
        ..LimitCheck::new(
            Arc::from(format!("{}/{limit}", scope.as_str())),
            Arc::from("c"),
            quota,
            1,
        )
    }
}

fn stores() -> (Arc<MemoryStore>, Arc<MemoryStore>, ScopedStore) {
    let (r, g) = (
        Arc::new(MemoryStore::default()),
        Arc::new(MemoryStore::default()),
    );
    let share = RegionShare {
        name: Arc::from("eu"),
        weight_ppm: 400_000,
    };
    let s = ScopedStore::new(r.clone(), g.clone(), share);
    (r, g, s)
}

fn admitted(s: &ScopedStore, checks: &[LimitCheck], n: usize) -> usize {
    let now = Timestamp::from_micros(1_000_000);
    (0..n)
        .filter(|_| {
            let d = floodgate_testkit::block_on(s.check(checks, now)).unwrap();
            d.iter().all(|d| d.allowed)
        })
        .count()
}

#[test]
fn a_weighted_limit_is_this_regions_share_and_a_global_one_goes_to_the_global_store() {
    let (_, g, s) = stores();
    assert_eq!(admitted(&s, &[check(Scope::RegionWeighted, 100)], 200), 40);
    assert_eq!(admitted(&s, &[check(Scope::Region, 30)], 50), 30);
    assert_eq!(admitted(&s, &[check(Scope::Global, 20)], 50), 20);
    assert_eq!(
        g.active_keys(),
        Some(1),
        "the global limit is counted in the global store only"
    );
}

#[test]
fn a_request_the_global_store_denies_consumes_nothing_in_the_region() {
    let (_, _, s) = stores();
    let both = [check(Scope::Region, 10), check(Scope::Global, 3)];
    assert_eq!(admitted(&s, &both, 8), 3);
    // The 5 requests the global limit denied gave the region's limit back:
    // 7 of its 10 are left.
    assert_eq!(admitted(&s, &[check(Scope::Region, 10)], 20), 7);
}
