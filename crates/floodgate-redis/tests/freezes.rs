//! Short freezes: Redis stopped (SIGSTOP) for 200 ms every 1.5 s while 8
//! tasks decide in a loop, on the default settings (50 ms timeout, a
//! breaker opening after 5 failures with a 1 s cool-down whose first probe
//! comes after an eighth of it). The share of decisions the failure
//! policy makes must stay close to the share of time Redis was frozen
//! (13%): a breaker that waited its whole cool-down after each freeze made
//! it about 75%. Real time, real process: the freezes are the scenario.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use floodgate_core::{FailureMode, Quota, Store, Timestamp};
use floodgate_redis::{FailurePolicy, RedisConfig, RedisStore, ResilientStore, TimeSource};

const FREEZE: Duration = Duration::from_millis(200);
const PERIOD: Duration = Duration::from_millis(1_500);
const FREEZES: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_freezes_cost_about_what_they_last() {
    let server = RedisServer::start();
    let config = RedisConfig {
        time: TimeSource::Caller,
        failure: floodgate_redis::FailureSettings {
            on_failure: FailureMode::FailOpen,
            ..Default::default()
        },
        ..RedisConfig::standalone(server.url())
    };
    let store = Arc::new(ResilientStore::new(
        RedisStore::connect(&config).await.unwrap(),
        FailurePolicy::from(&config),
    ));
    let quota = Quota::fixed_window(1 << 40, Duration::from_secs(3_600)).unwrap();
    let now = Timestamp::from_micros(1_700_006_400_000_000);
    let done = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (store, done) = (store.clone(), done.clone());
        let c = check("freeze/hourly/0", &format!("client-{t}"), quota, 1);
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                let d = store.check(std::slice::from_ref(&c), now).await.unwrap();
                assert!(d[0].allowed);
                n += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            n
        }));
    }
    let start = Instant::now();
    for i in 0..FREEZES {
        tokio::time::sleep_until((start + PERIOD * i + (PERIOD - FREEZE)).into()).await;
        server.pause();
        tokio::time::sleep(FREEZE).await;
        server.resume();
    }
    tokio::time::sleep_until((start + PERIOD * FREEZES).into()).await;
    done.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let s = store.stats();
    let degraded = s.degraded() as f64 / total as f64;
    let frozen = FREEZE.as_secs_f64() / PERIOD.as_secs_f64();
    println!(
        "freezes: {FREEZES} × {} ms every {} ms ({:.1}% of the time): {} of {total} decisions by the failure policy ({:.1}%), breaker opened {} times",
        FREEZE.as_millis(),
        PERIOD.as_millis(),
        frozen * 100.0,
        s.degraded(),
        degraded * 100.0,
        s.breaker_opened
    );
    assert!(s.degraded() > 0, "the freezes were felt: {s:?}");
    assert!(
        degraded < 2.5 * frozen,
        "{:.1}% of decisions degraded for {:.1}% of the time frozen",
        degraded * 100.0,
        frozen * 100.0
    );
}
