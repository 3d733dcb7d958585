//! `MEMORY USAGE` of one key per algorithm, with Redis time and realistic
//! key names. Prints the table documented in docs/redis.md.
//!
//! A string key costs a 24-byte dict entry, its name (an allocation of
//! 32 bytes up to 30 characters, 48 up to 44, 64 up to 60) and its value
//! (packed states of up to 12 bytes fit a 32-byte allocation).
//!
//! An API key's fingerprint, or an identity longer than 64 bytes, is named
//! by its keyed hash (`h:` and 22 characters), whatever its length.

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
    let long = RedisStore::connect(&RedisConfig {
        key_prefix: "floodgate:".into(),
        ..RedisConfig::standalone(server.url())
    })
    .await
    .unwrap();
    let huge_user = format!("u:{}", "x".repeat(60 * 1024));
    println!("| algorithm | requests | bytes, client IP (25-char key) | bytes, API key, hashed (36-char key) | bytes, 60 KB user id, hashed (36-char key) | bytes, `floodgate:` prefix and IP (32-char key) |");
    println!("|---|---|---|---|---|---|");
    for (i, q) in quotas().into_iter().enumerate() {
        let alg = q.algorithm_name();
        let log = alg == "sliding_window_log";
        for requests in if log { vec![1, 10, 100] } else { vec![1] } {
            // Realistic identities, as the policy engine writes them: a
            // client IP, and an API key's 16-hex-digit fingerprint; the
            // limit id's quota fingerprint differs per algorithm.
            let fp = format!("{:08x}", 0x1a2b_3c00_u32 + (i * 1_000 + requests) as u32);
            let limit_id = format!("api/per-second/{fp}");
            let (ip_len, ip_bytes) =
                usage(&server, &default, "i:203.0.113.7", &limit_id, q, requests).await;
            let (key_len, key_bytes) = usage(
                &server,
                &default,
                "k:5f1c0a9e33b2d471",
                &limit_id,
                q,
                requests,
            )
            .await;
            let (user_len, user_bytes) =
                usage(&server, &default, &huge_user, &limit_id, q, requests).await;
            let (long_len, long_bytes) =
                usage(&server, &long, "i:203.0.113.8", &limit_id, q, requests).await;
            assert_eq!((ip_len, key_len, user_len, long_len), (25, 36, 36, 32));
            println!(
                "| {alg} | {requests} | {ip_bytes} | {key_bytes} | {user_bytes} | {long_bytes} |"
            );
            // A hashed identity costs the same whatever its length.
            assert_eq!(key_bytes, user_bytes, "{alg}");
            if !log {
                assert!(
                    ip_bytes <= 104 && key_bytes <= 104,
                    "{alg}: {ip_bytes}/{key_bytes} bytes"
                );
            }
            if alg == "token_bucket" {
                assert!(ip_bytes <= 100, "token bucket by IP: {ip_bytes} bytes");
            }
        }
    }
}
