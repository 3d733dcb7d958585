//! What recording a decision into the dashboard's analytics costs: the
//! same decisions (one rule on the memory store, through the limiter
//! handle) without an observer and with the analytics as observer, in one
//! run. Allowed: the rule's count of the second. Limited: that, and the
//! identity's count in the top-K sketch (the identity already tracked).
//!
//! ```text
//! cargo bench -p floodgate-server --bench analytics -- --warm-up-time 1 --measurement-time 3
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use floodgate_admin::analytics::Analytics;
use floodgate_core::{Limiter, MemoryStore, MemoryStoreConfig, Request, SystemClock};
use floodgate_tower::{LimiterHandle, Observer, TrustedProxies};

fn handle(limit: u64, observer: Option<Arc<dyn Observer>>) -> LimiterHandle {
    let policy = floodgate_config::parse_policy(
        "bench",
        &format!("rules:\n  - name: per-ip\n    key: ip\n    limits:\n      - {{ algorithm: fixed_window, limit: {limit}, window: 1h }}\n"),
    )
    .unwrap();
    let store = Arc::new(MemoryStore::new(MemoryStoreConfig::default()));
    LimiterHandle::with_clock(
        Arc::new(Limiter::new(Arc::new(policy), store)),
        TrustedProxies::default(),
        Arc::new(SystemClock),
        observer,
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let req = Request {
        ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        method: "GET",
        path: "/api",
        api_key: None,
        user: None,
        tier: None,
    };
    let mut g = c.benchmark_group("decide");
    for (case, limit) in [("allowed", 1_000_000_000_000), ("limited", 1)] {
        for with in ["no_observer", "analytics"] {
            let observer: Option<Arc<dyn Observer>> = (with == "analytics")
                .then(|| Arc::new(Analytics::new(0.8, Arc::new(SystemClock))) as Arc<dyn Observer>);
            let h = handle(limit, observer);
            // The first decision makes the key (and, limited, uses the
            // one allowed request).
            rt.block_on(h.decide_request(&req, 1));
            g.bench_function(format!("{case}/{with}"), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters {
                            let d = h.decide_request(&req, 1).await;
                            assert_eq!(d.result.unwrap().allowed, case == "allowed");
                        }
                        start.elapsed()
                    })
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
