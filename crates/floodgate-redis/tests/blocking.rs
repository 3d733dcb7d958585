//! Blocking calls on a real Redis: the same count, keys and slots as the
//! async store's calls, the code loaded again after a `SCRIPT FLUSH` /
//! `FUNCTION FLUSH`, connections bounded and given back, and a lost
//! server reported as a transient error. Time is the caller's.

mod common;

use std::time::Duration;

use common::*;
use floodgate_core::{LeaseId, LeaseOp, LeaseStatus, Quota, Rate, Store, Timestamp};
use floodgate_redis::{BlockingPool, RedisConfig, RedisStore, Scripting};

const T0: u64 = 1_700_006_400_000_000;

fn at(ms: u64) -> Timestamp {
    Timestamp::from_micros(T0 + ms * 1_000)
}

fn config(server: &RedisServer, scripting: Scripting, prefix: &str) -> RedisConfig {
    RedisConfig {
        scripting,
        key_prefix: prefix.into(),
        ..caller_config(&server.url())
    }
}

#[tokio::test]
async fn blocking_and_async_calls_share_one_count_with_either_code() {
    let server = RedisServer::start();
    let bucket = Quota::token_bucket(5, Rate::per_second(1).unwrap()).unwrap();
    for (scripting, prefix) in [(Scripting::Functions, "bf:"), (Scripting::Eval, "be:")] {
        let config = config(&server, scripting, prefix);
        let store = RedisStore::connect(&config).await.unwrap();
        let pool = BlockingPool::new(&config, 2).unwrap().expect("standalone");
        let c = [check("api/b", "client", bucket, 2)];
        let mut conn = pool.get().unwrap();
        let d = store.check_blocking(&mut conn, &c, at(0)).unwrap();
        assert!(d[0].allowed && d[0].remaining == 3, "{d:?}");
        let d = store.check(&c, at(0)).await.unwrap();
        assert_eq!(d[0].remaining, 1);
        // Denied as a whole: the cheaper check in the same call consumes
        // nothing either.
        let both = [
            check("api/a", "client", bucket, 1),
            check("api/b", "client", bucket, 2),
        ];
        let d = store.check_blocking(&mut conn, &both, at(0)).unwrap();
        assert!(d[0].allowed && !d[1].allowed, "{d:?}");
        let d = store.check(&both[..1], at(0)).await.unwrap();
        assert_eq!(d[0].remaining, 4, "the denied call consumed nothing");
        // The same keys as the async calls write.
        assert_eq!(
            server
                .cli(&["EXISTS", &store.key("client", "api/b")])
                .trim(),
            "1"
        );
    }
}

#[tokio::test]
async fn slots_taken_on_one_way_are_released_on_the_other() {
    let server = RedisServer::start();
    let config = config(&server, Scripting::Auto, "bl:");
    let store = RedisStore::connect(&config).await.unwrap();
    let pool = BlockingPool::new(&config, 1).unwrap().unwrap();
    let q = Quota::concurrency(1, Duration::from_secs(10)).unwrap();
    let lease = LeaseId::random();
    let slot = [check("api/slots", "client", q, 1).with_lease(Some(lease))];
    let mut conn = pool.get().unwrap();
    assert!(store.check_blocking(&mut conn, &slot, at(0)).unwrap()[0].allowed);
    let other = [check("api/slots", "client", q, 1).with_lease(Some(LeaseId::random()))];
    assert!(!store.check(&other, at(1)).await.unwrap()[0].allowed);
    let st = store
        .leases_blocking(&mut conn, LeaseOp::Release, &slot, at(2))
        .unwrap();
    assert_eq!(st, vec![LeaseStatus::Held]);
    let st = store
        .leases_blocking(&mut conn, LeaseOp::Release, &slot, at(3))
        .unwrap();
    assert_eq!(st, vec![LeaseStatus::Missing], "released once");
    assert!(store.check(&other, at(4)).await.unwrap()[0].allowed);
    // A rate limit holds no slot: nothing is sent for it.
    let rate = [check(
        "api/r",
        "client",
        Quota::fixed_window(1, Duration::from_secs(1)).unwrap(),
        1,
    )
    .with_lease(Some(lease))];
    let st = store
        .leases_blocking(&mut conn, LeaseOp::Renew, &rate, at(5))
        .unwrap();
    assert_eq!(st, vec![LeaseStatus::Missing]);
}

#[tokio::test]
async fn code_flushed_from_redis_is_loaded_again() {
    let server = RedisServer::start();
    for (scripting, flush) in [
        (Scripting::Functions, "FUNCTION"),
        (Scripting::Eval, "SCRIPT"),
    ] {
        let config = config(&server, scripting, "bc:");
        let store = RedisStore::connect(&config).await.unwrap();
        let pool = BlockingPool::new(&config, 1).unwrap().unwrap();
        server.cli(&[flush, "FLUSH"]);
        let c = [check(
            "api/f",
            "c",
            Quota::fixed_window(9, Duration::from_secs(60)).unwrap(),
            1,
        )];
        let d = store
            .check_blocking(&mut pool.get().unwrap(), &c, at(0))
            .unwrap();
        assert!(d[0].allowed, "{flush} FLUSH: the code was loaded again");
        assert_eq!(pool.open(), 1, "the connection went back to the pool");
    }
}

#[tokio::test]
async fn connections_are_bounded_given_back_and_dropped_when_broken() {
    let mut server = RedisServer::start();
    let config = RedisConfig {
        timeout: Duration::from_millis(300),
        ..config(&server, Scripting::Auto, "bb:")
    };
    let store = RedisStore::connect(&config).await.unwrap();
    let pool = BlockingPool::new(&config, 2).unwrap().unwrap();
    let c = [check(
        "api/n",
        "c",
        Quota::fixed_window(99, Duration::from_secs(60)).unwrap(),
        1,
    )];
    {
        let mut a = pool.get().unwrap();
        let mut b = pool.get().unwrap();
        assert!(pool.get().is_none(), "two at most");
        store.check_blocking(&mut a, &c, at(0)).unwrap();
        store.check_blocking(&mut b, &c, at(0)).unwrap();
    }
    assert_eq!(pool.open(), 2, "both kept, idle");
    // No answer within the timeout: a late reply may follow on that
    // stream, so the connection is dropped, not given back.
    server.pause();
    let e = store
        .check_blocking(&mut pool.get().unwrap(), &c, at(1))
        .unwrap_err();
    server.resume();
    assert!(e.transient, "{e}");
    assert_eq!(pool.open(), 1, "the connection that timed out was dropped");
    assert!(
        store
            .check_blocking(&mut pool.get().unwrap(), &c, at(2))
            .unwrap()[0]
            .allowed
    );
    // A lost server: transient; once it is back (empty: the code is
    // loaded again), a new connection decides.
    server.kill();
    let e = store
        .check_blocking(&mut pool.get().unwrap(), &c, at(3))
        .unwrap_err();
    assert!(e.transient, "{e}");
    assert_eq!(pool.open(), 0);
    server.restart();
    let d = store
        .check_blocking(&mut pool.get().unwrap(), &c, at(4))
        .unwrap();
    assert!(d[0].allowed && d[0].remaining == 98, "a fresh count: {d:?}");
    assert_eq!(pool.open(), 1);
    let cluster = RedisConfig::cluster(["redis://127.0.0.1:1"]);
    assert!(BlockingPool::new(&cluster, 1).unwrap().is_none());
}
