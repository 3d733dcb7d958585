//! A region's pool on real Redis servers (one for the region, one for the
//! global store): a replica's take for the region leaves the surplus in
//! the region's pool, the region's other replica takes from it without a
//! call to the global store, the replicas together never pass a fixed
//! window's limit, and an idle region gives everything back.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use floodgate_core::store::{LeasedStore, LeasedStoreConfig, SliceTerms};
use floodgate_core::{LimitCheck, Quota, Store, Timestamp};
use floodgate_redis::{LazyRedisStore, RedisStore, RegionPool};

/// On a window's start, so that the test stays in one window.
const BASE: u64 = 1_700_006_400_000_000;
const LEASE: u64 = 1_000_000;

type Replica = (
    Arc<RegionPool<Arc<RedisStore>>>,
    LeasedStore<Arc<RegionPool<Arc<RedisStore>>>>,
);

async fn replica(region: &RedisServer, global: &Arc<RedisStore>) -> Replica {
    let lazy = LazyRedisStore::new(caller_config(&region.url()), Duration::from_secs(1));
    lazy.connect_now().await.unwrap();
    let pool = Arc::new(RegionPool::new(Some(lazy), global.clone(), 2, 1_000));
    let leased = LeasedStore::new(
        pool.clone(),
        LeasedStoreConfig {
            renew: false,
            ..LeasedStoreConfig::default()
        },
    );
    (pool, leased)
}

fn leased_check(identity: &str, limit: u64) -> LimitCheck {
    let mut c = check(
        "api/regional",
        identity,
        Quota::fixed_window(limit, Duration::from_secs(3600)).unwrap(),
        1,
    );
    c.sync = Some(SliceTerms {
        lease_us: LEASE,
        share_ppm: 100_000,
    });
    c
}

async fn allowed<S: Store>(s: &LeasedStore<S>, c: &LimitCheck, t: u64) -> bool {
    s.check(std::slice::from_ref(c), Timestamp::from_micros(t))
        .await
        .unwrap()[0]
        .allowed
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_takes_for_its_replicas_and_hands_the_surplus_down() {
    let (region, global) = (RedisServer::start(), RedisServer::start());
    let g = Arc::new(caller_store(&global).await);
    let (pa, a) = replica(&region, &g).await;
    let (pb, b) = replica(&region, &g).await;
    let c = leased_check("shared-client", 1_000);

    assert!(allowed(&a, &c, BASE).await);
    let sa = pa.stats();
    assert_eq!(sa.from_global, 1, "{sa:?}");
    assert_eq!(
        sa.deposited, 100,
        "twice a replica's share taken, half left in the pool: {sa:?}"
    );
    assert!(allowed(&b, &c, BASE + 1_000).await);
    let sb = pb.stats();
    assert_eq!((sb.from_pool, sb.from_global), (1, 0), "{sb:?}");

    // Together, never past the limit; run to the end, exactly the limit.
    let mut admitted = 2;
    for i in 0..1_600u64 {
        let t = BASE + 2_000 + i * 100;
        let s = if i % 2 == 0 { &a } else { &b };
        admitted += u64::from(allowed(s, &c, t).await);
    }
    assert_eq!(admitted, 1_000);
    let (sa, sb) = (pa.stats(), pb.stats());
    assert!(
        sa.from_pool + sb.from_pool > 1,
        "later slices came from the pool too: {sa:?} {sb:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_region_gives_everything_back() {
    let (region, global) = (RedisServer::start(), RedisServer::start());
    let g = Arc::new(caller_store(&global).await);
    let (pa, a) = replica(&region, &g).await;
    let c = leased_check("idle-client", 1_000);
    assert!(allowed(&a, &c, BASE).await);
    assert_eq!(pa.deposits(), 1);
    let later = Timestamp::from_micros(BASE + 3 * LEASE);
    // The replica's slice goes back (its pool has ended: to the global
    // store), then the pool it put.
    a.tick(later).await;
    pa.tick(later).await;
    assert_eq!(pa.deposits(), 0);
    assert_eq!(pa.stats().claimed, 100);
    let d = g.inspect(std::slice::from_ref(&c), later).await.unwrap();
    // What a request would leave: only the one request admitted is spent.
    assert_eq!(d[0].remaining, 998);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_gives_an_unused_slice_back_into_its_live_pool() {
    let (region, global) = (RedisServer::start(), RedisServer::start());
    let g = Arc::new(caller_store(&global).await);
    let (pa, a) = replica(&region, &g).await;
    let c = leased_check("return-client", 1_000);
    assert!(allowed(&a, &c, BASE).await);
    // A policy change (or a shutdown) gives the replica's slice back while
    // the pool lives: into the pool, not across to the global store.
    a.give_back_all(Timestamp::from_micros(BASE + 10_000)).await;
    assert_eq!(pa.stats().returned, 99);
    pa.give_back_all(Timestamp::from_micros(BASE + 20_000))
        .await;
    assert_eq!(pa.stats().claimed, 199);
    let later = Timestamp::from_micros(BASE + 30_000);
    let d = g.inspect(std::slice::from_ref(&c), later).await.unwrap();
    assert_eq!(d[0].remaining, 998, "one spent, one more would leave 998");
}

/// A slice handed down from a pool ends with the window of the pool's
/// take: taken from the pool just before a window ends, it admits
/// nothing in the next one, which gets exactly its limit.
#[tokio::test(flavor = "multi_thread")]
async fn a_pooled_slice_ends_with_its_window() {
    let (region, global) = (RedisServer::start(), RedisServer::start());
    let g = Arc::new(caller_store(&global).await);
    let (_, a) = replica(&region, &g).await;
    let (pb, b) = replica(&region, &g).await;
    let c = leased_check("window-client", 1_000);
    let end = BASE + 3_600_000_000;
    assert!(allowed(&a, &c, end - 500_000).await);
    assert!(allowed(&b, &c, end - 400_000).await);
    assert_eq!(pb.stats().from_pool, 1, "B's slice came from A's pool");
    let mut admitted = 0;
    for i in 0..1_600u64 {
        let s = if i % 2 == 0 { &a } else { &b };
        admitted += u64::from(allowed(s, &c, end + 10 + i * 100).await);
    }
    assert_eq!(admitted, 1_000, "the next window gets its limit, no more");
}
