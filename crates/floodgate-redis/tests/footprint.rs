//! `MEMORY USAGE` of one key per algorithm, with Redis time and realistic
//! key names. Prints the table documented in docs/redis.md.
//!
//! A string key costs a 24-byte dict entry, its name (an allocation of
//! 32 bytes up to 30 characters, 48 up to 44, 64 up to 60) and its value
//! (packed states of up to 12 bytes fit a 32-byte allocation).

mod common;

use std::time::Duration;

use common::*;
use floodgate_core::{LeakMode, Quota, Rate, Store, Timestamp};
use floodgate_redis::{RedisConfig, RedisStore};

async fn usage(
    server: &RedisServer,
    store: &RedisStore,
    identity: &str,
    limit_id: &str,
    quota: Quota,
    requests: usize,
) -> (usize, u64) {
    let c = check(limit_id, identity, quota, 1);
    for _ in 0..requests {
        store
            .check(std::slice::from_ref(&c), Timestamp::EPOCH)
            .await
            .unwrap();
    }
    let key = store.key(identity, limit_id);
    let bytes: u64 = server
        .cli(&["MEMORY", "USAGE", &key])
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no MEMORY USAGE for {key}"));
    let ttl: i64 = server.cli(&["PTTL", &key]).trim().parse().unwrap();
    assert!(ttl > 0, "{key} must expire");
    (key.len(), bytes)
}

fn quotas() -> Vec<Quota> {
    let per = |n| Rate::new(n, Duration::from_secs(1)).unwrap();
    let w = Duration::from_secs(60);
    vec![
        Quota::token_bucket(100, per(10)).unwrap(),
        Quota::leaky_bucket(100, per(10), LeakMode::Policing).unwrap(),
        Quota::leaky_bucket(100, per(10), LeakMode::Shaping).unwrap(),
        Quota::fixed_window(100, w).unwrap(),
        Quota::sliding_counter(100, w).unwrap(),
        Quota::gcra(per(10), 100).unwrap(),
        Quota::sliding_log(100, w).unwrap(),
    ]
}

#[tokio::test]
async fn memory_usage_per_key_and_algorithm() {
    let server = RedisServer::start();
    let default = RedisStore::connect(&RedisConfig::standalone(server.url()))
        .await
        .unwrap();
    let short = RedisStore::connect(&RedisConfig {
        key_prefix: "f:".into(),
        ..RedisConfig::standalone(server.url())
    })
    .await
    .unwrap();
    println!("| algorithm | requests | bytes, 30-char key | bytes, 50-char key |");
    println!("|---|---|---|---|");
    for (i, q) in quotas().into_iter().enumerate() {
        let alg = q.algorithm_name();
        let log = alg == "sliding_window_log";
        for requests in if log { vec![1, 10, 100] } else { vec![1] } {
            // f:{203.0.113.7}:api/s/1a2b3c4d (30 characters), and the
            // default prefix with a longer identity and limit id; the
            // fingerprint differs per algorithm, as the policy's does.
            let fp = format!("{:08x}", 0x1a2b_3c00_u32 + (i * 1_000 + requests) as u32);
            let (short_len, short_bytes) = usage(
                &server,
                &short,
                "203.0.113.7",
                &format!("api/s/{fp}"),
                q,
                requests,
            )
            .await;
            let limit_id = format!("api/per_second/{fp}");
            let (long_len, long_bytes) =
                usage(&server, &default, "ip:203.0.113.7", &limit_id, q, requests).await;
            assert_eq!((short_len, long_len), (30, 50));
            println!("| {alg} | {requests} | {short_bytes} | {long_bytes} |");
            if !log {
                assert!(short_bytes <= 104, "{alg}: {short_bytes} bytes");
            }
            if alg == "token_bucket" {
                assert!(short_bytes <= 100, "token bucket: {short_bytes} bytes");
                assert!(long_bytes <= 120, "token bucket: {long_bytes} bytes");
            }
        }
    }
}
