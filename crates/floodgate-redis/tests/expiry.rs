//! Keys expire when their state is idle again: with Redis time, a key's
//! TTL after a request matches the decision's `reset_after` (rounded up to
//! the millisecond, plus at most 2 ms), for every algorithm. The expiry is
//! read as an absolute time (`PEXPIRETIME`) and compared with Redis' own
//! `TIME` before and after the request, so no clock of the test's is
//! involved.

mod common;

use std::time::Duration;

use common::*;
use floodgate_core::{Decision, LeakMode, LimitCheck, Quota, Rate, Store, Timestamp};
use floodgate_redis::{RedisConfig, RedisStore};

/// Redis' `TIME` in ms: (rounded down, rounded up).
fn redis_ms(server: &RedisServer) -> (u64, u64) {
    let out = server.cli(&["TIME"]);
    let mut parts = out.split_whitespace().map(|p| p.parse::<u64>().unwrap());
    let (secs, micros) = (parts.next().unwrap(), parts.next().unwrap());
    let us = secs * 1_000_000 + micros;
    (us / 1_000, us.div_ceil(1_000))
}

#[tokio::test]
async fn ttl_follows_reset_after() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&RedisConfig::standalone(server.url()))
        .await
        .unwrap();
    let per = |n| Rate::new(n, Duration::from_secs(1)).unwrap();
    let quotas = [
        Quota::token_bucket(10, per(3)).unwrap(),
        Quota::leaky_bucket(10, per(3), LeakMode::Policing).unwrap(),
        Quota::leaky_bucket(10, per(3), LeakMode::Shaping).unwrap(),
        Quota::fixed_window(10, Duration::from_secs(30)).unwrap(),
        Quota::sliding_log(10, Duration::from_secs(30)).unwrap(),
        Quota::sliding_counter(10, Duration::from_secs(30)).unwrap(),
        Quota::gcra(per(3), 10).unwrap(),
    ];
    for (i, q) in quotas.into_iter().enumerate() {
        let c = check(&format!("ttl/{i}/0"), "t", q, 2);
        let (before, _) = redis_ms(&server);
        let d = store
            .check(std::slice::from_ref(&c), Timestamp::EPOCH)
            .await
            .unwrap()[0];
        let (_, after) = redis_ms(&server);
        assert!(d.allowed);
        let expires: u64 = server
            .cli(&["PEXPIRETIME", &store.key("t", &c.limit_id)])
            .trim()
            .parse()
            .unwrap();
        let reset = d.reset_after.as_micros().div_ceil(1_000) as u64;
        assert!(
            before + reset <= expires + 1 && expires <= after + reset + 2,
            "{q}: expires at {expires} ms for reset_after {:?}, decided between {before} and {after}",
            d.reset_after
        );
    }
}

/// The decision of `c` alone at `t`.
async fn one(store: &RedisStore, c: &LimitCheck, t: Timestamp) -> Decision {
    store.check(std::slice::from_ref(c), t).await.unwrap()[0]
}

/// A fixed window's key keeps the TTL its window's first request wrote
/// (`KEEPTTL`): a later request in the same window leaves the key's expiry
/// where it is (here one set by hand, so that a TTL written again would
/// show); a request that finds a state of an earlier window writes the new
/// window's TTL. With the caller's time every write sets the least TTL
/// again, since the caller's clock is not Redis'.
#[tokio::test]
async fn a_fixed_window_keeps_its_ttl_within_a_window() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&RedisConfig::standalone(server.url()))
        .await
        .unwrap();
    let expiry = |key: &str| -> u64 { server.cli(&["PEXPIRETIME", key]).trim().parse().unwrap() };
    // A window of a day: the test's few ms cross its end once in ~10^7 runs.
    let q = Quota::fixed_window(10, Duration::from_secs(86_400)).unwrap();
    let c = check("keep/0", "t", q, 1);
    let key = store.key("t", &c.limit_id);
    assert!(one(&store, &c, Timestamp::EPOCH).await.allowed);
    server.cli(&["PEXPIRE", &key, "600000"]);
    let by_hand = expiry(&key);
    let second = one(&store, &c, Timestamp::EPOCH).await;
    assert_eq!(second.remaining, 8, "the second request counted");
    assert_eq!(expiry(&key), by_hand, "the TTL stays within a window");

    // A state of an earlier window (start 0, count 5, packed): the new
    // window's TTL is written, and the old count no longer counts.
    server.cli(&["SET", &key, "\x01\x05", "PX", "600000"]);
    let (before, _) = redis_ms(&server);
    let fresh = one(&store, &c, Timestamp::EPOCH).await;
    let (_, after) = redis_ms(&server);
    assert_eq!(fresh.remaining, 9, "a new window");
    let reset = fresh.reset_after.as_micros().div_ceil(1_000) as u64;
    let written = expiry(&key);
    assert!(
        before + reset <= written + 1 && written <= after + reset + 2,
        "the new window's TTL: expires at {written}, reset {reset} ms, between {before} and {after}"
    );

    // Caller time: each write sets at least the least TTL.
    let mut config = RedisConfig::standalone(server.url());
    config.time = floodgate_redis::TimeSource::Caller;
    let caller = RedisStore::connect(&config).await.unwrap();
    let c = check("keep/1", "t", q, 1);
    let key = caller.key("t", &c.limit_id);
    let t = Timestamp::from_micros(1_800_000_000_000_000);
    assert!(one(&caller, &c, t).await.allowed);
    server.cli(&["PEXPIRE", &key, "5000"]);
    assert_eq!(one(&caller, &c, t).await.remaining, 8);
    let ttl: u64 = server.cli(&["PTTL", &key]).trim().parse().unwrap();
    assert!(
        ttl > 3_000_000,
        "caller time writes the least TTL again: {ttl} ms"
    );
}
