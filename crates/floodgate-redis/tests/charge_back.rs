//! Outages charged back, on a real redis-server killed and restarted
//! empty: a client limited before the outage, served locally during it,
//! is still limited when Redis returns, on every replica; and what no
//! longer fits is counted as lost.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use floodgate_core::{FailureMode, ManualClock, Quota, Store, Timestamp};
use floodgate_redis::{BreakerState, FailurePolicy, RedisStore, ResilientStore};

type Replica = ResilientStore<RedisStore>;

const NOW: Timestamp = Timestamp::from_micros(1_700_006_400_000_000);

async fn replica(server: &RedisServer) -> (Replica, ManualClock) {
    let config = outage_config(server, FailureMode::Local);
    let redis = RedisStore::connect(&config).await.unwrap();
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
    let store =
        ResilientStore::with_clock(redis, FailurePolicy::from(&config), Arc::new(clock.clone()));
    (store, clock)
}

fn five_per_hour() -> Quota {
    Quota::fixed_window(5, Duration::from_secs(3_600)).unwrap()
}

/// How many of `n` requests of `who` `store` admits.
async fn admitted(store: &Replica, who: &str, n: usize) -> usize {
    let c = [check("outage/hourly/0", who, five_per_hour(), 1)];
    let mut ok = 0;
    for _ in 0..n {
        ok += usize::from(store.check(&c, NOW).await.unwrap()[0].allowed);
    }
    ok
}

/// Probes until the breaker closes (Redis back and answering).
async fn back(store: &Replica, clock: &ManualClock) {
    let deadline = Deadline::in_secs(15);
    while store.breaker_state() != BreakerState::Closed {
        deadline
            .poll(format!("never came back: {:?}", store.stats()))
            .await;
        clock.advance(COOLDOWN);
        // Failing open: a probe decided while Redis is still away leaves
        // no debt of its own to be charged (only the clients' count).
        let mut probe = check("outage/hourly/0", "probe", five_per_hour(), 1);
        probe.on_failure = Some(FailureMode::FailOpen);
        store.check(&[probe], NOW).await.unwrap();
    }
}

#[tokio::test]
async fn a_client_limited_before_an_outage_is_limited_after_it_on_every_replica() {
    let mut server = RedisServer::start();
    let (a, clock_a) = replica(&server).await;
    let (b, clock_b) = replica(&server).await;
    // Before: the client spends its 5 on Redis (3 through one replica, 2
    // through the other).
    assert_eq!(admitted(&a, "alice", 3).await, 3);
    assert_eq!(admitted(&b, "alice", 3).await, 2);
    server.kill();
    // During: each replica decides locally (a fresh local count, as the
    // failure policy says), admitting what its local store allows.
    let during = admitted(&a, "alice", 10).await + admitted(&b, "alice", 10).await;
    assert_eq!(during, 10, "each replica's local store admits 5");
    assert!(a.stats().owing_keys >= 1 && b.stats().owing_keys >= 1);
    // Redis comes back empty (no persistence).
    server.restart();
    back(&a, &clock_a).await;
    back(&b, &clock_b).await;
    // What the replicas admitted locally was charged: the client is
    // limited on both replicas, on a Redis that forgot everything.
    assert_eq!(admitted(&a, "alice", 3).await, 0, "{:?}", a.stats());
    assert_eq!(admitted(&b, "alice", 3).await, 0, "{:?}", b.stats());
    let (sa, sb) = (a.stats(), b.stats());
    // 10 were owed, 5 fit in a window of 5: the rest is lost.
    assert_eq!(sa.charged_units + sb.charged_units, 5, "{sa:?} {sb:?}");
    assert_eq!(
        sa.charge_lost_units + sb.charge_lost_units,
        5,
        "{sa:?} {sb:?}"
    );
    assert_eq!(sa.owing_keys + sb.owing_keys, 0);
    // Another client, who admitted nothing during the outage, is not
    // charged.
    assert_eq!(admitted(&a, "bob", 6).await, 5);
}

#[tokio::test]
async fn debts_kept_while_redis_is_still_away_are_charged_later() {
    let mut server = RedisServer::start();
    let (a, clock) = replica(&server).await;
    server.kill();
    assert_eq!(admitted(&a, "carol", 2).await, 2);
    // Probes while Redis is still down: the debt is kept.
    clock.advance(COOLDOWN);
    admitted(&a, "carol", 1).await;
    assert_eq!(a.stats().charged_units, 0);
    assert_eq!(a.stats().owing_keys, 1);
    server.restart();
    back(&a, &clock).await;
    // 3 admitted locally (2, then the probe's), all charged: 2 left.
    assert_eq!(a.stats().charged_units, 3, "{:?}", a.stats());
    assert_eq!(admitted(&a, "carol", 5).await, 2);
}
