//! Keys expire when their state is idle again: with Redis time, a key's
//! TTL after a request matches the decision's `reset_after` (rounded up to
//! the millisecond, plus at most 2 ms), for every algorithm.

mod common;

use std::time::{Duration, Instant};

use common::*;
use floodgate_core::{LeakMode, Quota, Rate, Store, Timestamp};
use floodgate_redis::{RedisConfig, RedisStore};

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
        let start = Instant::now();
        let d = store
            .check(std::slice::from_ref(&c), Timestamp::EPOCH)
            .await
            .unwrap()[0];
        assert!(d.allowed);
        let pttl: u64 = server
            .cli(&["PTTL", &store.key("t", &c.limit_id)])
            .trim()
            .parse()
            .unwrap();
        let waited = start.elapsed().as_millis() as u64 + 1;
        let reset = d.reset_after.as_micros().div_ceil(1_000) as u64;
        assert!(
            pttl + waited >= reset && pttl <= reset + 2,
            "{q}: PTTL {pttl} ms for reset_after {:?}",
            d.reset_after
        );
    }
}
