//! Gathering: concurrent requests on one connection go to Redis as one
//! call, and decide exactly as one call each would. Each test forces it
//! (one call out per connection, so everything else waits and is
//! gathered, up to 64 a call), checks that calls did carry several
//! requests, and checks the counts: exact across four replicas, atomic
//! per request.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use floodgate_core::{LimitCheck, Quota, Rate, Store, Timestamp};
use floodgate_redis::{RedisConfig, RedisStore, Scripting, TimeSource};

const REPLICAS: usize = 4;
const TASKS_PER_REPLICA: usize = 16;

fn now() -> Timestamp {
    Timestamp::from_micros(1_700_006_400_000_000)
}

/// Four replicas on `base`, each gathering as hard as it can.
async fn replicas(base: RedisConfig) -> Vec<Arc<RedisStore>> {
    let mut out = Vec::new();
    for _ in 0..REPLICAS {
        let config = RedisConfig {
            gather_max: 64,
            gather_in_flight: 1,
            ..base.clone()
        };
        out.push(Arc::new(RedisStore::connect(&config).await.unwrap()));
    }
    out
}

/// Sends `per_task` requests of `checks` from 16 tasks per replica; the
/// allowed ones.
async fn hammer(stores: &[Arc<RedisStore>], checks: Vec<LimitCheck>, per_task: usize) -> u64 {
    let checks = Arc::new(checks);
    let mut tasks = Vec::new();
    for store in stores {
        for _ in 0..TASKS_PER_REPLICA {
            let store = Arc::clone(store);
            let checks = Arc::clone(&checks);
            tasks.push(tokio::spawn(async move {
                let mut allowed = 0;
                for _ in 0..per_task {
                    let d = store.check(&checks, now()).await.unwrap();
                    allowed += u64::from(d.iter().all(|d| d.allowed));
                }
                allowed
            }));
        }
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

/// Requests carried per call, over every replica: above 1 when calls
/// were gathered.
fn gathered(stores: &[Arc<RedisStore>]) -> (u64, u64) {
    stores.iter().fold((0, 0), |(c, r), s| {
        let (sc, sr) = s.gather_stats();
        (c + sc, r + sr)
    })
}

/// A tight limit and a loose one in every request: exactly `tight`
/// allowed, and the loose limit consumed by those only (never by a
/// request that the tight one denied).
async fn exact_and_atomic(stores: &[Arc<RedisStore>], label: &str) {
    let tight = Quota::fixed_window(80, Duration::from_secs(3_600)).unwrap();
    let loose =
        Quota::token_bucket(5_000, Rate::new(1, Duration::from_secs(3_600)).unwrap()).unwrap();
    let checks = vec![
        check(&format!("{label}/tight"), "hot", tight, 1),
        check(&format!("{label}/loose"), "hot", loose, 1),
    ];
    let before = gathered(stores);
    let allowed = hammer(stores, checks.clone(), 32).await;
    assert_eq!(allowed, 80, "{label}");
    let after = gathered(stores);
    let (calls, requests) = (after.0 - before.0, after.1 - before.1);
    assert_eq!(requests, (REPLICAS * TASKS_PER_REPLICA * 32) as u64);
    assert!(
        calls < requests,
        "{label}: {calls} calls for {requests} requests"
    );
    // The loose limit saw exactly the 80 allowed requests: 4,920 tokens
    // left, so a peek at one more leaves 4,919.
    let seen = stores[0].inspect(&checks[1..], now()).await.unwrap();
    assert_eq!(seen[0].remaining, 5_000 - 80 - 1, "{label}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gathered_calls_are_exact_and_atomic_on_one_redis() {
    let server = RedisServer::start();
    for (scripting, prefix) in [(Scripting::Functions, "ga:"), (Scripting::Eval, "gb:")] {
        let stores = replicas(RedisConfig {
            scripting,
            key_prefix: prefix.into(),
            ..caller_config(&server.url())
        })
        .await;
        exact_and_atomic(&stores, &format!("{scripting:?}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gathered_calls_are_exact_and_atomic_on_a_cluster() {
    let cluster = RedisCluster::start();
    let stores = replicas(RedisConfig {
        time: TimeSource::Caller,
        timeout: Duration::from_millis(2_000),
        ..RedisConfig::cluster(cluster.urls())
    })
    .await;
    exact_and_atomic(&stores, "cluster").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gathered_requests_of_many_clients_each_get_their_own_decision() {
    // 64 clients, each with its own limit of 3: every client gets exactly
    // 3 of its 5 requests, whichever call its requests were gathered in.
    let server = RedisServer::start();
    let stores = replicas(caller_config(&server.url())).await;
    let quota = Quota::gcra(Rate::new(1, Duration::from_secs(3_600)).unwrap(), 3).unwrap();
    let mut tasks = Vec::new();
    for client in 0..64 {
        let store = Arc::clone(&stores[client % REPLICAS]);
        tasks.push(tokio::spawn(async move {
            let c = check("many/gcra", &format!("client-{client}"), quota, 1);
            let mut allowed = 0;
            for _ in 0..5 {
                allowed += u64::from(
                    store.check(std::slice::from_ref(&c), now()).await.unwrap()[0].allowed,
                );
            }
            allowed
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 3);
    }
    let (calls, requests) = gathered(&stores);
    assert_eq!(requests, 64 * 5);
    assert!(calls < requests, "{calls} calls for {requests} requests");
}

#[tokio::test]
async fn gathering_off_sends_every_request_alone() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&RedisConfig {
        gather_max: 1,
        ..caller_config(&server.url())
    })
    .await
    .unwrap();
    let store = Arc::new(store);
    let quota = Quota::fixed_window(10, Duration::from_secs(60)).unwrap();
    let allowed = hammer(&[Arc::clone(&store)], vec![check("off", "c", quota, 1)], 2).await;
    assert_eq!(allowed, 10);
    assert_eq!(store.gather_stats(), (32, 32));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_window_checks_gathered_under_redis_time_are_exact_and_each_sees_its_count() {
    // Under Redis' time, a packed call of one-limit fixed-window checks
    // takes the script's shortest path (`decide_fw_checks`): still
    // exactly 80 allowed across four replicas, each allowed decision
    // seeing a count of its own (remaining 79 down to 0).
    let server = RedisServer::start();
    for (scripting, prefix) in [(Scripting::Functions, "fa:"), (Scripting::Eval, "fb:")] {
        let stores = replicas(RedisConfig {
            scripting,
            key_prefix: prefix.into(),
            timeout: Duration::from_millis(2_000),
            ..RedisConfig::standalone(server.url())
        })
        .await;
        // A window of 30 days, epoch-aligned: no window ends during the test.
        let quota = Quota::fixed_window(80, Duration::from_secs(30 * 86_400)).unwrap();
        let c = check("fw/redis-time", "hot", quota, 1);
        let before = gathered(&stores);
        let mut tasks = Vec::new();
        for store in &stores {
            for _ in 0..TASKS_PER_REPLICA {
                let store = Arc::clone(store);
                let c = c.clone();
                tasks.push(tokio::spawn(async move {
                    let mut seen = Vec::new();
                    for _ in 0..32 {
                        let d = store.check(std::slice::from_ref(&c), now()).await.unwrap();
                        if d[0].allowed {
                            seen.push(d[0].remaining);
                        }
                    }
                    seen
                }));
            }
        }
        let mut remaining = Vec::new();
        for t in tasks {
            remaining.extend(t.await.unwrap());
        }
        remaining.sort_unstable();
        assert_eq!(remaining, (0..80).collect::<Vec<u64>>(), "{scripting:?}");
        let after = gathered(&stores);
        let (calls, requests) = (after.0 - before.0, after.1 - before.1);
        assert_eq!(requests, (REPLICAS * TASKS_PER_REPLICA * 32) as u64);
        assert!(
            calls < requests,
            "{scripting:?}: {calls} calls for {requests} requests"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_call_goes_out_on_a_spare_place_while_the_connections_place_is_taken() {
    // One place per connection and two requests per call: with Redis
    // stopped, the first request holds the place; of the twenty after it,
    // sixteen go out at once as eight full calls on the eight spare
    // places, and the last four wait, however long Redis stays stopped.
    let server = RedisServer::start();
    let store = Arc::new(
        RedisStore::connect(&RedisConfig {
            gather_max: 2,
            gather_in_flight: 1,
            timeout: Duration::from_secs(30),
            ..caller_config(&server.url())
        })
        .await
        .unwrap(),
    );
    let quota = Quota::fixed_window(10, Duration::from_secs(60)).unwrap();
    let one = |who: usize| vec![check("full", &format!("c{who}"), quota, 1)];
    store.check(&one(100), now()).await.unwrap();
    let before = store.gather_stats();
    let sent = |store: &RedisStore| {
        let (c, r) = store.gather_stats();
        (c - before.0, r - before.1)
    };
    server.pause();
    let spawn = |who: usize| {
        let store = Arc::clone(&store);
        let checks = one(who);
        tokio::spawn(async move { store.check(&checks, now()).await.unwrap()[0].allowed })
    };
    let mut tasks = vec![spawn(0)];
    let deadline = Deadline::in_secs(10);
    while sent(&store) != (1, 1) {
        deadline.poll("the first request sent alone").await;
    }
    tasks.extend((1..21).map(spawn));
    while sent(&store) != (9, 17) {
        deadline
            .poll(format!("eight full calls sent, {:?} so far", sent(&store)))
            .await;
    }
    assert!(
        tasks.iter().all(|t| !t.is_finished()),
        "Redis is stopped: no call has returned"
    );
    server.resume();
    for t in tasks {
        assert!(t.await.unwrap());
    }
    // The last four went as two calls once places came back.
    assert_eq!(sent(&store), (11, 21));
}
