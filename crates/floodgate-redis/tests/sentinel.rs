//! Sentinel, for real: a primary, a replica and three Sentinels. The
//! store asks Sentinel for the primary, decides there exactly, and when
//! the primary is killed under load follows the promoted replica; the
//! test reports the seconds without Redis and the quota admitted in
//! excess (counts the old primary had not yet copied), and checks
//! exactness again after. It never decides on a replica.

mod common;

use std::time::{Duration, Instant};

use common::*;
use floodgate_core::{Quota, Store, Timestamp};
use floodgate_redis::{RedisConfig, RedisStore, TimeSource};
use floodgate_testkit::sentinel::{SentinelSetup, MASTER};

const NOW: Timestamp = Timestamp::from_micros(1_700_006_400_000_000);

fn config(setup: &SentinelSetup) -> RedisConfig {
    RedisConfig {
        time: TimeSource::Caller,
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        ..RedisConfig::sentinel(MASTER, setup.sentinel_urls())
    }
}

fn limit(n: u64, who: &str) -> [floodgate_core::LimitCheck; 1] {
    [check(
        "sentinel/hourly/0",
        who,
        Quota::fixed_window(n, Duration::from_secs(3_600)).unwrap(),
        1,
    )]
}

/// Admits on `store` until denied (at most `most` tries): how many.
async fn admitted(store: &RedisStore, c: &[floodgate_core::LimitCheck], most: u64) -> u64 {
    let mut n = 0;
    for _ in 0..most {
        if store.check(c, NOW).await.unwrap()[0].allowed {
            n += 1;
        } else {
            break;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_a_failover_and_stays_exact() {
    let mut setup = SentinelSetup::start();
    let store = RedisStore::connect(&config(&setup))
        .await
        .expect("connect through Sentinel");
    let first = setup.primary().port();

    // Exact before: 50 of 50, then denied.
    assert_eq!(admitted(&store, &limit(50, "before"), 60).await, 50);
    // Decided on the primary, copied to the replica.
    let on_primary = setup.primary().cli(&["--scan", "--pattern", "fg:*"]);
    assert!(!on_primary.trim().is_empty());

    // Under load: a key with 1000 per hour, 300 spent before the kill.
    let c = limit(1_000, "through");
    for _ in 0..300 {
        assert!(store.check(&c, NOW).await.unwrap()[0].allowed);
    }
    let killed = Instant::now();
    setup.kill_primary();
    let mut failed = 0u64;
    let mut admitted_after = 0u64;
    let back = loop {
        match store.check(&c, NOW).await {
            Ok(d) => {
                admitted_after += u64::from(d[0].allowed);
                break killed.elapsed();
            }
            Err(e) => {
                assert!(e.transient, "{e}");
                failed += 1;
                assert!(
                    killed.elapsed() < Duration::from_secs(60),
                    "not back on Redis within 60 s"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let promoted = setup.primary_port().expect("Sentinel names a primary");
    assert_ne!(promoted, first, "the replica was promoted");
    assert_eq!(promoted, setup.replica().port());
    admitted_after += admitted(&store, &c, 1_000).await;
    let excess = (300 + admitted_after).saturating_sub(1_000);
    println!(
        "sentinel failover: decisions on Redis again {:.2} s after the primary was killed \
         ({failed} calls failed meanwhile); quota admitted in excess: {excess} of 1000",
        back.as_secs_f64()
    );
    // Replication on loopback copies each write within milliseconds.
    assert!(excess <= 5, "excess {excess}");

    // Exact after, on the new primary.
    assert_eq!(admitted(&store, &limit(40, "after"), 50).await, 40);
    let on_new = setup.replica().cli(&["--scan", "--pattern", "fg:*"]);
    assert!(!on_new.trim().is_empty());
}

#[tokio::test]
async fn an_unknown_master_name_is_a_clear_error() {
    let setup = SentinelSetup::start();
    let config = RedisConfig {
        sentinel: floodgate_redis::SentinelSettings {
            master_name: "nope".into(),
            ..config(&setup).sentinel
        },
        ..config(&setup)
    };
    let e = RedisStore::connect(&config)
        .await
        .err()
        .expect("no such master")
        .to_string();
    assert!(
        e.starts_with("redis sentinel: no Sentinel gave the primary of `nope`")
            && e.contains("no master named `nope`"),
        "{e}"
    );
}
