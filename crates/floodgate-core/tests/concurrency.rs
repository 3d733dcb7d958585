//! The memory store under threads, across several limits, and at its key
//! cap. Time is frozen or stepped by hand; nothing sleeps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use floodgate_core::{
    LeakMode, LimitCheck, MemoryStore, MemoryStoreConfig, Quota, Rate, RetryAfter, Timestamp,
};

const THREADS: u64 = 8;
const PER_THREAD: u64 = 200;

fn now() -> Timestamp {
    Timestamp::from_micros(floodgate_testkit::BASE_US)
}

fn check(limit: &str, who: &str, quota: Quota, cost: u64) -> LimitCheck {
    LimitCheck {
        limit_id: limit.into(),
        identity: who.into(),
        quota,
        cost,
        on_failure: None,
        lease: None,
        sync: None,
        scope: floodgate_core::store::Scope::Region,
    }
}

fn quotas() -> Vec<Quota> {
    let r = Rate::per_second(10).unwrap();
    let w = Duration::from_secs(60);
    vec![
        Quota::token_bucket(100, r).unwrap(),
        Quota::leaky_bucket(100, r, LeakMode::Policing).unwrap(),
        Quota::leaky_bucket(100, r, LeakMode::Shaping).unwrap(),
        Quota::fixed_window(100, w).unwrap(),
        Quota::sliding_log(100, w).unwrap(),
        Quota::sliding_counter(100, w).unwrap(),
        Quota::gcra(r, 100).unwrap(),
    ]
}

/// Sends `THREADS × PER_THREAD` unit requests on one key at one instant,
/// from `THREADS` threads released together; returns how many were allowed.
fn hammer(store: &Arc<MemoryStore>, checks: Vec<LimitCheck>) -> u64 {
    let start = Arc::new(Barrier::new(THREADS as usize));
    let allowed = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (store, start, allowed, checks) = (
                store.clone(),
                start.clone(),
                allowed.clone(),
                checks.clone(),
            );
            thread::spawn(move || {
                start.wait();
                for _ in 0..PER_THREAD {
                    if store.check_sync(&checks, now()).iter().all(|d| d.allowed) {
                        allowed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    allowed.load(Ordering::Relaxed)
}

#[test]
fn threads_on_one_key_admit_what_one_thread_would() {
    for q in quotas() {
        let sequential = MemoryStore::default();
        let c = check("hot", "one-key", q, 1);
        let want = (0..THREADS * PER_THREAD)
            .filter(|_| sequential.check_one(&c, now()).allowed)
            .count() as u64;
        // 100, or 101 for the shaping queue (one leaves, 100 wait).
        assert_eq!(want, q.limit(), "{q}");

        let store = Arc::new(MemoryStore::default());
        assert_eq!(hammer(&store, vec![c.clone()]), want, "{q}");
        // And the key is exhausted for everyone.
        assert!(!store.check_one(&c, now()).allowed, "{q}");
    }
}

#[test]
fn threads_on_two_limits_admit_only_what_both_allow() {
    // A generous bucket and a tight window on the same request, from 8
    // threads: exactly the window's 10 go through, and the bucket is charged
    // for those 10 only.
    let bucket = Quota::token_bucket(1_000, Rate::per_second(1).unwrap()).unwrap();
    let window = Quota::fixed_window(10, Duration::from_secs(60)).unwrap();
    let store = Arc::new(MemoryStore::default());
    let checks = vec![
        check("bucket", "c", bucket, 1),
        check("window", "c", window, 1),
    ];
    assert_eq!(hammer(&store, checks), 10);
    let d = store.check_one(&check("bucket", "c", bucket, 1), now());
    assert_eq!(d.remaining, 1_000 - 10 - 1);
}

#[test]
fn a_limit_that_denies_leaves_the_others_untouched() {
    let store = MemoryStore::default();
    let per_sec = Rate::per_second(1).unwrap();
    let first = check("first", "c", Quota::token_bucket(5, per_sec).unwrap(), 2);
    let second = check("second", "c", Quota::gcra(per_sec, 1).unwrap(), 1);
    let both = [first.clone(), second.clone()];
    let d = store.check_sync(&both, now());
    assert!(d[0].allowed && d[1].allowed);
    assert_eq!(d[0].remaining, 3);
    for _ in 0..5 {
        let d = store.check_sync(&both, now());
        assert!(d[0].allowed, "the first alone would allow");
        assert!(!d[1].allowed);
        assert_eq!(
            d[1].retry_after,
            Some(RetryAfter::After(Duration::from_secs(1)))
        );
    }
    // Five denials later the first still has its 3 tokens.
    let d = store.check_sync(std::slice::from_ref(&first), now());
    assert!(d[0].allowed);
    assert_eq!(d[0].remaining, 1);
}

#[test]
fn a_full_store_keeps_every_busy_key_and_decides_new_ones_on_the_overflow_bucket() {
    // One key of room, held by a busy key: a two-limit request with that
    // key and a new one keeps the busy key's state, and the new key is
    // decided on its limit's overflow bucket. (Evicting the request's own
    // key once panicked: "evaluated above".)
    let store = MemoryStore::new(MemoryStoreConfig {
        max_keys: 1,
        shards: 1,
        ..MemoryStoreConfig::default()
    });
    let q = Quota::token_bucket(5, Rate::per_second(1).unwrap()).unwrap();
    let old = check("old", "c", q, 1);
    let new = check("new", "c", q, 1);
    assert!(store.check_one(&old, now()).allowed);
    let d = store.check_sync(&[new.clone(), old.clone()], now());
    assert!(d.iter().all(|d| d.allowed), "{d:?}");
    assert_eq!(d[1].remaining, 3, "the busy key kept its state");
    assert_eq!(store.overflowed(), 1);
    // Another new identity of the same limit shares that bucket.
    let other = check("new", "d", q, 1);
    assert_eq!(store.check_one(&other, now()).remaining, 3);
    assert_eq!(store.capacity(), 1);
    assert_eq!(store.len(), 2, "the busy key and one overflow bucket");
}

#[test]
fn the_same_key_twice_in_one_request_counts_twice() {
    let store = MemoryStore::default();
    let q = Quota::fixed_window(3, Duration::from_secs(10)).unwrap();
    let c = check("dup", "c", q, 2);
    let d = store.check_sync(&[c.clone(), c.clone()], now());
    assert!(d[0].allowed && !d[1].allowed, "{d:?}");
    let d = store.check_sync(&[check("dup", "c", q, 1), check("dup", "c", q, 2)], now());
    assert!(d.iter().all(|d| d.allowed), "{d:?}");
    assert_eq!(d[1].remaining, 0);
    // Over the limit would have been a counter past L (and an underflow).
    let d = store.check_one(&check("dup", "c", q, 1), now());
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
}

#[test]
fn the_key_cap_holds_and_idle_keys_are_swept() {
    let store = MemoryStore::new(MemoryStoreConfig {
        max_keys: 1_000,
        ..MemoryStoreConfig::default()
    });
    assert!(store.capacity() >= 1_000 && store.capacity() < 1_100);
    // Idle one second after its request.
    let q = Quota::token_bucket(1, Rate::per_second(1).unwrap()).unwrap();
    // Keys busy for a second each: past the cap, new ones share the
    // overflow bucket (one per shard), so only the first of those passes.
    let mut allowed = 0;
    for i in 0..100_000u64 {
        let who = i.to_string();
        allowed += u64::from(store.check_one(&check("cap", &who, q, 1), now()).allowed);
        if i % 997 == 0 {
            assert!(store.len() <= store.capacity() + 64, "{} keys", store.len());
        }
    }
    assert!(store.len() <= store.capacity() + 64);
    assert!(allowed <= store.capacity() as u64 + 64, "{allowed} allowed");
    assert_eq!(store.overflowed(), 100_000 - store.capacity() as u64);
    // A second later they are all idle: new keys take their room again
    // (200 keys: about 3 a shard, far below a shard's 16).
    let later = now().plus(Duration::from_secs(1));
    for i in 0..200u64 {
        let who = format!("later-{i}");
        let c = check("cap", &who, q, 1);
        assert!(store.check_sync(std::slice::from_ref(&c), later)[0].allowed);
    }
    assert!(store.evicted() > 0);
    assert!(store.len() <= store.capacity() + 64);

    // A key that stays busy for an hour survives a sweep that drops the
    // idle ones.
    let slow = Quota::token_bucket(2, Rate::new(1, Duration::from_secs(3_600)).unwrap()).unwrap();
    let busy = check("busy", "x", slow, 1);
    // The first keys are idle by `later`: swept, every shard has room
    // again, so the busy key gets an entry of its own (taken at `now()`,
    // it would go to the overflow bucket of a shard still full of keys
    // busy until `later`, as the hash seed decides).
    store.sweep(later);
    assert!(store.check_one(&busy, later).allowed);
    store.sweep(later.plus(Duration::from_micros(999_999)));
    assert!(store.len() > 1, "swept keys that were not idle yet");
    store.sweep(later.plus(Duration::from_secs(1)));
    assert_eq!(store.len(), 1);
    assert_eq!(
        store.check_one(&busy, later).remaining,
        0,
        "the busy key lost its state"
    );
}
