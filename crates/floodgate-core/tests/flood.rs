//! A flood of invented keys never resets a limited client: with
//! `max_keys: 10000`, 100,000 new identities (two limits each, every
//! algorithm) leave a limited client exactly as limited as before.

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::{
    LeakMode, LimitCheck, MemoryStore, MemoryStoreConfig, Quota, Rate, Timestamp,
};

fn quotas() -> Vec<(&'static str, Quota)> {
    let per_s = |n| Rate::per_second(n).unwrap();
    let minute = Duration::from_secs(60);
    vec![
        ("token_bucket", Quota::token_bucket(3, per_s(1)).unwrap()),
        (
            "leaky_policing",
            Quota::leaky_bucket(3, per_s(1), LeakMode::Policing).unwrap(),
        ),
        (
            "leaky_shaping",
            Quota::leaky_bucket(3, per_s(1), LeakMode::Shaping).unwrap(),
        ),
        ("fixed_window", Quota::fixed_window(3, minute).unwrap()),
        ("sliding_log", Quota::sliding_log(3, minute).unwrap()),
        (
            "sliding_counter",
            Quota::sliding_counter(3, minute).unwrap(),
        ),
        ("gcra", Quota::gcra(per_s(1), 3).unwrap()),
    ]
}

fn checks(name: &str, who: &str, q: Quota) -> [LimitCheck; 2] {
    let per_day = Quota::fixed_window(1_000, Duration::from_secs(86_400)).unwrap();
    [
        LimitCheck::new(Arc::from(format!("{name}/a")), Arc::from(who), q, 1),
        LimitCheck::new(Arc::from(format!("{name}/day")), Arc::from(who), per_day, 1),
    ]
}

#[test]
fn a_limited_client_stays_limited_through_a_flood_of_new_keys() {
    // A day boundary, so the windows do not roll over during the test.
    let t = Timestamp::from_micros(1_764_028_800_000_000);
    for (name, q) in quotas() {
        let store = MemoryStore::new(MemoryStoreConfig {
            max_keys: 10_000,
            ..MemoryStoreConfig::default()
        });
        let victim = checks(name, "victim", q);
        // Until limited.
        let mut n = 0;
        while store.check_sync(&victim, t).iter().all(|d| d.allowed) {
            n += 1;
            assert!(n < 100, "{name}: never limited");
        }
        let before = store.check_sync(&victim, t);
        assert!(!before[0].allowed, "{name}");
        for i in 0..100_000u32 {
            store.check_sync(&checks(name, &format!("invented-{i}"), q), t);
        }
        assert!(
            store.overflowed() > 0,
            "{name}: the flood never filled the store"
        );
        assert!(
            store.len() <= store.capacity() + 2 * 64,
            "{name}: {} keys",
            store.len()
        );
        let after = store.check_sync(&victim, t);
        assert_eq!(
            after, before,
            "{name}: the flood changed the victim's state"
        );
    }
}
