//! A store placed on the threads that call it: requests from those
//! threads and from any other decide exactly (a hot key's limit of 80,
//! gathered calls included); once those threads are gone, the store
//! answers again from the caller's own runtime.

mod common;

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use floodgate_core::{Quota, Store, Timestamp};
use floodgate_redis::{Placement, RedisConfig, RedisStore};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

thread_local! {
    static ON: Cell<Option<usize>> = const { Cell::new(None) };
}

fn on() -> Option<usize> {
    ON.with(Cell::get)
}

/// Two threads, each running a single-threaded runtime and knowing its
/// index, as the server's serving threads do; they stop when the senders
/// are dropped.
fn threads() -> (Vec<Handle>, Vec<oneshot::Sender<()>>) {
    let mut handles = Vec::new();
    let mut stops = Vec::new();
    for i in 0..2 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        handles.push(rt.handle().clone());
        let (stop, stopped) = oneshot::channel::<()>();
        stops.push(stop);
        std::thread::spawn(move || {
            ON.with(|c| c.set(Some(i)));
            let _ = rt.block_on(stopped);
        });
    }
    (handles, stops)
}

fn now() -> Timestamp {
    Timestamp::from_micros(1_700_006_400_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placed_store_decides_exactly_from_its_threads_and_others_and_outlives_them() {
    let server = RedisServer::start();
    let (handles, stops) = threads();
    let placement = Placement::new(handles.clone(), on).unwrap();
    let config = RedisConfig {
        connections: 4,
        // Every place taken at once: requests wait and are gathered.
        gather_max: 64,
        gather_in_flight: 1,
        ..caller_config(&server.url())
    };
    let store = Arc::new(
        RedisStore::connect_placed(&config, Some(&placement))
            .await
            .unwrap(),
    );
    let quota = Quota::fixed_window(80, Duration::from_secs(3_600)).unwrap();
    let hot = Arc::new(vec![check("placed/hot", "hot", quota, 1)]);
    // 8 tasks on each placed thread and 8 on this runtime, 32 requests each.
    let mut tasks = Vec::new();
    for on in [Some(&handles[0]), Some(&handles[1]), None] {
        for _ in 0..8 {
            let (store, hot) = (Arc::clone(&store), Arc::clone(&hot));
            let work = async move {
                let mut allowed = 0u64;
                for _ in 0..32 {
                    allowed += u64::from(store.check(&hot, now()).await.unwrap()[0].allowed);
                }
                allowed
            };
            tasks.push(match on {
                Some(h) => h.spawn(work),
                None => tokio::spawn(work),
            });
        }
    }
    let mut allowed = 0;
    for t in tasks {
        allowed += t.await.unwrap();
    }
    assert_eq!(allowed, 80);
    let (calls, requests) = store.gather_stats();
    assert_eq!(requests, 3 * 8 * 32);
    assert!(calls < requests, "{calls} calls for {requests} requests");

    // The threads stop, and their connections with them: the store
    // reconnects from here.
    drop(stops);
    let other = Arc::new(vec![check("placed/after", "k", quota, 1)]);
    let deadline = Deadline::in_secs(10);
    loop {
        let r = tokio::time::timeout(Duration::from_secs(5), store.check(&other, now()))
            .await
            .expect("a call on a store whose threads stopped does not hang");
        if let Ok(d) = r {
            assert!(d[0].allowed);
            break;
        }
        deadline.poll("the store answering again").await;
    }
}
