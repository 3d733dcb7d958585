//! Keys expire when their state is idle again: with Redis time, a key's
//! TTL after a request matches the decision's `reset_after` (rounded up to
//! the millisecond, plus at most 2 ms), for every algorithm. The expiry is
//! read as an absolute time (`PEXPIRETIME`) and compared with Redis' own
//! `TIME` before and after the request, so no clock of the test's is
//! involved.

mod common;

use std::time::Duration;

use common::*;
use floodgate_core::{LeakMode, Quota, Rate, Store, Timestamp};
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
