//! Cross-slot requests on a cluster: a per-client limit and a global one
//! live in different hash slots, so they are decided in two script calls.
//! A denial by either leaves the other untouched.

mod common;

use std::time::Duration;

use common::*;
use floodgate_core::{Quota, Rate, Store, Timestamp};
use floodgate_redis::keys::slot;
use floodgate_redis::TimeSource;

#[tokio::test]
async fn denial_by_the_second_limit_leaves_the_first_untouched() {
    let cluster = RedisCluster::start();
    let store = cluster_store(&cluster, TimeSource::Caller).await;
    let now = Timestamp::from_micros(1_700_006_400_000_000);
    let bucket = Quota::token_bucket(5, Rate::per_second(1).unwrap()).unwrap();
    let global = Quota::fixed_window(1, Duration::from_secs(60)).unwrap();
    let client = check("api/client/0", "alice", bucket, 1);
    let all = check("global/all/0", "everyone", global, 1);
    assert_ne!(
        slot(&store.key("alice", "api/client/0")),
        slot(&store.key("everyone", "global/all/0")),
        "the test needs two slots"
    );

    let d = store
        .check(&[client.clone(), all.clone()], now)
        .await
        .unwrap();
    assert!(d[0].allowed && d[1].allowed);
    assert_eq!(d[0].remaining, 4);

    // The client's bucket allows (and consumes, in its own call), the
    // global window denies: the client's consume is refunded.
    let d = store
        .check(&[client.clone(), all.clone()], now)
        .await
        .unwrap();
    assert!(d[0].allowed && !d[1].allowed, "{d:?}");
    let d = store
        .check(std::slice::from_ref(&client), now)
        .await
        .unwrap();
    assert_eq!(d[0].remaining, 3, "the denied request consumed: {d:?}");

    // The global limit first: it denies, the client's limit is only peeked.
    let d = store
        .check(&[all.clone(), client.clone()], now)
        .await
        .unwrap();
    assert!(!d[0].allowed && d[1].allowed, "{d:?}");
    assert_eq!(d[1].remaining, 2, "peeked, as if consumed: {d:?}");
    let d = store
        .check(std::slice::from_ref(&client), now)
        .await
        .unwrap();
    assert_eq!(d[0].remaining, 2, "the denied request consumed: {d:?}");
    assert_eq!(store.refund_failures(), 0);
}

#[tokio::test]
async fn refunds_restore_every_algorithm() {
    let cluster = RedisCluster::start();
    let store = cluster_store(&cluster, TimeSource::Caller).await;
    let now = Timestamp::from_micros(1_700_006_400_123_456);
    let per = |n| Rate::new(n, Duration::from_secs(1)).unwrap();
    let quotas = [
        Quota::token_bucket(3, per(1)).unwrap(),
        Quota::leaky_bucket(3, per(1), floodgate_core::LeakMode::Policing).unwrap(),
        Quota::leaky_bucket(3, per(1), floodgate_core::LeakMode::Shaping).unwrap(),
        Quota::fixed_window(3, Duration::from_secs(10)).unwrap(),
        Quota::sliding_log(3, Duration::from_secs(10)).unwrap(),
        Quota::sliding_counter(3, Duration::from_secs(10)).unwrap(),
        Quota::gcra(per(1), 3).unwrap(),
    ];
    let closed = Quota::fixed_window(1, Duration::from_secs(60)).unwrap();
    let gate = check("gate/g/0", "gatekeeper", closed, 1);
    assert_ne!(
        slot(&store.key("bob", "alg/0/0")),
        slot(&store.key("gatekeeper", "gate/g/0"))
    );
    // Use the gate once, so it denies from now on.
    assert!(store.check(std::slice::from_ref(&gate), now).await.unwrap()[0].allowed);
    for (i, q) in quotas.iter().enumerate() {
        let c = check(&format!("alg/{i}/0"), "bob", *q, 1);
        let before = store.check(std::slice::from_ref(&c), now).await.unwrap()[0];
        assert!(before.allowed);
        let d = store.check(&[c.clone(), gate.clone()], now).await.unwrap();
        assert!(d[0].allowed && !d[1].allowed, "{q}: {d:?}");
        let after = store.check(std::slice::from_ref(&c), now).await.unwrap()[0];
        assert_eq!(
            after.remaining + 1,
            before.remaining,
            "{q}: the refunded request still counts: {before:?} then {after:?}"
        );
    }
}
