//! Concurrency slots on a real Redis: shared by two stores (two replicas),
//! released by id from either, ended by their lease, renewed, and taken
//! all or nothing with rate limits; by `FCALL` and by `EVALSHA` alike.
//! Time is the caller's (stepped by hand): nothing sleeps.

mod common;

use std::time::Duration;

use common::*;
use floodgate_core::{
    LeaseId, LeaseOp, LeaseStatus, LimitCheck, MemoryStore, Quota, Rate, RetryAfter, Store,
    Timestamp,
};
use floodgate_redis::{RedisStore, Scripting};

const T0: u64 = 1_700_006_400_000_000;

fn at(ms: u64) -> Timestamp {
    Timestamp::from_micros(T0 + ms * 1_000)
}

fn slot(quota: Quota, lease: LeaseId) -> LimitCheck {
    check("api/slots", "client", quota, 1).with_lease(Some(lease))
}

async fn stores(server: &RedisServer) -> Vec<(RedisStore, RedisStore)> {
    let mut out = Vec::new();
    for (scripting, command) in [
        (Scripting::Functions, "FCALL"),
        (Scripting::Eval, "EVALSHA"),
    ] {
        out.push((
            scripted_store(server, scripting, command).await,
            scripted_store(server, scripting, command).await,
        ));
    }
    out
}

#[tokio::test]
async fn two_replicas_share_the_slots_and_release_by_id() {
    let server = RedisServer::start();
    let q = Quota::concurrency(3, Duration::from_secs(10)).unwrap();
    for (a, b) in stores(&server).await {
        let leases: Vec<LeaseId> = (0..3).map(|_| LeaseId::random()).collect();
        for (i, l) in leases.iter().enumerate() {
            let store = if i % 2 == 0 { &a } else { &b };
            let d = store.check(&[slot(q, *l)], at(0)).await.unwrap();
            assert!(d[0].allowed, "slot {i}");
            assert_eq!(d[0].remaining, 2 - i as u64);
        }
        for store in [&a, &b] {
            let d = store
                .check(&[slot(q, LeaseId::random())], at(1))
                .await
                .unwrap();
            assert!(!d[0].allowed);
            assert_eq!(
                d[0].retry_after,
                Some(RetryAfter::After(Duration::from_secs(1)))
            );
        }
        // Taken on `a`, released on `b`.
        let st = b.release(&[slot(q, leases[0])], at(2)).await.unwrap();
        assert_eq!(st, vec![LeaseStatus::Held]);
        let st = a.release(&[slot(q, leases[0])], at(2)).await.unwrap();
        assert_eq!(st, vec![LeaseStatus::Missing]);
        let fourth = LeaseId::random();
        assert!(a.check(&[slot(q, fourth)], at(3)).await.unwrap()[0].allowed);
        for l in [leases[1], leases[2], fourth] {
            assert_eq!(
                a.release(&[slot(q, l)], at(4)).await.unwrap(),
                vec![LeaseStatus::Held]
            );
        }
    }
}

#[tokio::test]
async fn a_lease_never_released_ends_and_renewals_keep_it() {
    let server = RedisServer::start();
    let q = Quota::concurrency(2, Duration::from_secs(3)).unwrap();
    for (a, b) in stores(&server).await {
        let (dead, alive) = (LeaseId::random(), LeaseId::random());
        assert!(a.check(&[slot(q, dead)], at(0)).await.unwrap()[0].allowed);
        assert!(b.check(&[slot(q, alive)], at(0)).await.unwrap()[0].allowed);
        // `alive` renews every second; `dead`'s holder is gone.
        for s in 1..=5 {
            let st = b.renew(&[slot(q, alive)], at(s * 1_000)).await.unwrap();
            assert_eq!(st, vec![LeaseStatus::Held], "renewal at {s}s");
            let third = b
                .check(&[slot(q, LeaseId::random())], at(s * 1_000))
                .await
                .unwrap();
            // `dead` ends at 3 s: its slot is free from then on.
            assert_eq!(third[0].allowed, s >= 3, "at {s}s");
            if third[0].allowed {
                break;
            }
        }
        assert_eq!(b.leases_expired(), Some(1));
        assert_eq!(
            a.release(&[slot(q, dead)], at(3_000)).await.unwrap(),
            vec![LeaseStatus::Missing]
        );
        // Left alone after its last renewal at 3 s, `alive` ends at 6 s.
        let st = b.renew(&[slot(q, alive)], at(6_000)).await.unwrap();
        assert_eq!(st, vec![LeaseStatus::Expired]);
        let st = b.release(&[slot(q, alive)], at(6_000)).await.unwrap();
        assert_eq!(st, vec![LeaseStatus::Expired]);
    }
}

#[tokio::test]
async fn slots_and_rate_limits_are_all_or_nothing_as_in_memory() {
    let server = RedisServer::start();
    let bucket = Quota::token_bucket(3, Rate::per_second(1).unwrap()).unwrap();
    let q = Quota::concurrency(2, Duration::from_secs(60)).unwrap();
    for (redis, _) in stores(&server).await {
        let memory = MemoryStore::default();
        let rate = |cost| check("api/rate", "client", bucket, cost);
        let leases: Vec<LeaseId> = (0..5).map(|_| LeaseId::random()).collect();
        // Slot, slot, full, the bucket denies a cost of 2 (one token
        // left), then a release lets a unit request in.
        let steps: Vec<(u64, usize, bool)> = vec![
            (1, 0, false),
            (1, 1, false),
            (1, 2, false),
            (2, 3, true),
            (1, 4, false),
        ];
        for (step, &(cost, l, release_first)) in steps.iter().enumerate() {
            let checks = [rate(cost), slot(q, leases[l])];
            if release_first {
                let r = redis
                    .release(&[slot(q, leases[0])], at(step as u64))
                    .await
                    .unwrap();
                let m = memory.lease_sync(LeaseOp::Release, &[slot(q, leases[0])], at(step as u64));
                assert_eq!(r, m);
            }
            let r = redis.check(&checks, at(step as u64)).await.unwrap();
            let m = memory.check_sync(&checks, at(step as u64));
            assert_eq!(r, m, "step {step}");
        }
        // Step 3 took nothing: one token and one slot are left for step 4.
        let r = redis.inspect(&[rate(1)], at(5)).await.unwrap();
        assert_eq!(r[0].remaining, 0);
    }
}

/// On a cluster, a slot taken in one hash slot's call is released when the
/// request is denied by a limit in another: the denied request holds
/// nothing.
#[tokio::test]
async fn a_cross_slot_denial_releases_the_slot_taken() {
    let cluster = RedisCluster::start();
    let store = cluster_store(&cluster, floodgate_redis::TimeSource::Caller).await;
    let q = Quota::concurrency(2, Duration::from_secs(60)).unwrap();
    let window = Quota::fixed_window(1, Duration::from_secs(3_600)).unwrap();
    let slots = |lease| check("api/slots", "alice", q, 1).with_lease(Some(lease));
    let all = check("global/all", "everyone", window, 1);
    assert_ne!(
        floodgate_redis::keys::slot(&store.key("alice", "api/slots")),
        floodgate_redis::keys::slot(&store.key("everyone", "global/all")),
        "the test needs two hash slots"
    );
    let first = store
        .check(&[slots(LeaseId::random()), all.clone()], at(0))
        .await
        .unwrap();
    assert!(first.iter().all(|d| d.allowed));
    // The slot is taken in its own call, then the window denies: released.
    let second = store
        .check(&[slots(LeaseId::random()), all.clone()], at(1))
        .await
        .unwrap();
    assert!(second[0].allowed && !second[1].allowed, "{second:?}");
    // One slot is held (the first request's), so one more fits, not two.
    let third = store
        .check(&[slots(LeaseId::random())], at(2))
        .await
        .unwrap();
    assert!(third[0].allowed, "the denied request kept its slot");
    let fourth = store
        .check(&[slots(LeaseId::random())], at(3))
        .await
        .unwrap();
    assert!(!fourth[0].allowed);
}
