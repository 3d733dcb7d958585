//! The analytics fed by real decisions (a limiter on the memory store)
//! on a manual clock.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::{Limiter, ManualClock, MemoryStore, MemoryStoreConfig, Request, Timestamp};
use floodgate_tower::{LimiterHandle, TrustedProxies};

use super::*;

const POLICY: &str = r#"
tiers: [free, pro]
default_tier: free
rules:
  - name: per-ip
    match: { path: /api }
    key: ip
    limits:
      - { algorithm: fixed_window, limit: 10, window: 1m }
  - name: preview
    match: { path: /api }
    key: ip
    shadow: true
    limits:
      - { algorithm: fixed_window, limit: 4, window: 1m }
"#;

const ONE_AN_HOUR: &str = r#"
rules:
  - name: per-ip
    key: ip
    limits:
      - { algorithm: fixed_window, limit: 1, window: 1h }
"#;

const TWO_RULES: &str = r#"
rules:
  - name: minute
    key: ip
    limits:
      - { algorithm: fixed_window, limit: 10, window: 1m }
  - name: second
    key: ip
    limits:
      - { algorithm: fixed_window, limit: 4, window: 1s }
"#;

struct Rig {
    clock: ManualClock,
    analytics: Arc<Analytics>,
    handle: LimiterHandle,
}

fn rig(policy: &str) -> Rig {
    let clock = ManualClock::new(Timestamp::from_micros(1_700_000_000_000_000));
    let analytics = Arc::new(Analytics::new(0.8, Arc::new(clock.clone())));
    let policy = floodgate_config::parse_policy("t", policy).unwrap();
    let store = Arc::new(MemoryStore::new(MemoryStoreConfig {
        max_keys: 1_000_000,
        ..MemoryStoreConfig::default()
    }));
    let handle = LimiterHandle::with_clock(
        Arc::new(Limiter::new(Arc::new(policy), store)),
        TrustedProxies::default(),
        Arc::new(clock.clone()),
        Some(analytics.clone()),
    );
    Rig {
        clock,
        analytics,
        handle,
    }
}

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

async fn hit(rig: &Rig, ip: IpAddr, user: Option<&str>) -> bool {
    let req = Request {
        ip: Some(ip),
        method: "GET",
        path: "/api",
        api_key: None,
        user: user.map(Into::into),
        tier: None,
    };
    let d = rig.handle.decide_request(&req, 1).await;
    d.result.unwrap().allowed
}

#[tokio::test]
async fn counts_each_rule_each_second_and_in_total() {
    let rig = rig(POLICY);
    // 12 requests in second 0: 10 allowed, 2 limited; the shadow rule
    // would have denied from the 5th on (8 of them).
    for _ in 0..12 {
        hit(&rig, ip(1), None).await;
    }
    rig.clock.advance(Duration::from_secs(1));
    hit(&rig, ip(2), None).await;
    let s = rig.analytics.snapshot(3, 10);
    let rule = |name: &str| s.rules.iter().find(|r| r.rule == name).unwrap();
    let per_ip = rule("per-ip");
    assert_eq!(per_ip.allowed, vec![0, 10, 1]);
    assert_eq!(per_ip.limited, vec![0, 2, 0]);
    // 8/10 and 9/10 and 10/10 used: three near the limit (80%).
    assert_eq!(per_ip.near_limit, vec![0, 3, 0]);
    let preview = rule("preview");
    assert_eq!(preview.shadow_limited, vec![0, 8, 0]);
    assert_eq!(preview.allowed, vec![0, 4, 1]);
    assert_eq!(per_ip.totals.allowed, 11);
    assert_eq!(s.totals.limited, 2);
    assert_eq!(s.totals.shadow_limited, 8);
    assert_eq!(s.top_limited.len(), 1);
    assert_eq!(
        (
            s.top_limited[0].kind.as_str(),
            s.top_limited[0].identity.as_str()
        ),
        ("ip", "10.0.0.1")
    );
    assert_eq!(s.top_limited[0].count, 2);
    assert_eq!(s.top_near_limit[0].count, 3);
    assert_eq!(s.latency.count, 13);
    assert!(s.latency.p99_us >= s.latency.p50_us);
}

#[tokio::test]
async fn top_lists_forget_identities_after_two_windows() {
    let rig = rig(POLICY);
    for _ in 0..11 {
        hit(&rig, ip(1), Some("alice")).await;
    }
    let s = rig.analytics.snapshot(1, 10);
    assert_eq!(s.top_limited[0].kind, "user");
    assert_eq!(s.top_limited[0].identity, "alice");
    rig.clock.advance(Duration::from_secs(TOP_WINDOW_SECS + 1));
    assert_eq!(rig.analytics.snapshot(1, 10).top_limited.len(), 1);
    rig.clock.advance(Duration::from_secs(TOP_WINDOW_SECS));
    assert!(rig.analytics.snapshot(1, 10).top_limited.is_empty());
    // The totals stay.
    assert_eq!(rig.analytics.snapshot(1, 10).totals.limited, 1);
}

/// The top lists say which rule limited an identity, and how close to a
/// limit a near-limit identity came (its highest share of a limit used).
#[tokio::test]
async fn top_lists_name_the_rule_and_the_highest_share() {
    let rig = rig(TWO_RULES);
    // 10.0.0.1: 6 in one second; the 4th uses all of `second` (near,
    // 100%), the 5th and 6th are limited by it.
    for _ in 0..6 {
        hit(&rig, ip(1), None).await;
    }
    // 10.0.0.2: 3 a second for two seconds (75% of `second` at most),
    // then 3 more in a third: 7, 8 and 9 of `minute`'s 10, near (80%
    // and 90%) twice.
    for n in 0..9 {
        if n % 3 == 0 {
            rig.clock.advance(Duration::from_secs(1));
        }
        assert!(hit(&rig, ip(2), None).await);
    }
    let s = rig.analytics.snapshot(5, 10);
    let limited = &s.top_limited[0];
    assert_eq!(limited.identity, "10.0.0.1");
    assert_eq!(
        (limited.count, limited.rule.as_deref()),
        (2, Some("second"))
    );
    assert_eq!(limited.share, None);
    let near: Vec<_> = s
        .top_near_limit
        .iter()
        .map(|e| (e.identity.as_str(), e.count, e.rule.as_deref(), e.share))
        .collect();
    assert_eq!(
        near,
        vec![
            ("10.0.0.2", 2, Some("minute"), Some(0.9)),
            ("10.0.0.1", 1, Some("second"), Some(1.0)),
        ]
    );
}

/// The bound the docs state: memory stays flat while 200,000 distinct
/// identities are limited, and the hammering client stays on top.
#[tokio::test]
async fn memory_stays_flat_while_200000_distinct_identities_are_limited() {
    let rig = rig(ONE_AN_HOUR);
    let mut after_warmup = 0;
    for n in 0..200_000u32 {
        if n % 10_000 == 0 {
            rig.clock.advance(Duration::from_millis(1_500));
        }
        // Every identity is limited: one allowed, then one denied.
        assert!(hit(&rig, ip(100 + n), None).await);
        assert!(!hit(&rig, ip(100 + n), None).await);
        if n % 4 == 0 {
            hit(&rig, ip(0), None).await;
        }
        // By now the rule's series exists (made at the first merge).
        if n == 20_000 {
            after_warmup = rig.analytics.heap_bytes();
        }
    }
    let after = rig.analytics.heap_bytes();
    let bound = Analytics::heap_bound(1);
    // The docs say "about 0.9 MB" with one rule.
    assert!(bound < 950_000, "{bound}");
    assert!(after_warmup > 0);
    assert_eq!(after, after_warmup, "memory grew with distinct identities");
    assert!(
        after <= bound,
        "{after} bytes, past the stated bound {bound}"
    );
    let s = rig.analytics.snapshot(60, 5);
    assert_eq!(s.top_limited[0].identity, "10.0.0.0");
    assert_eq!(s.totals.limited, 200_000 + 50_000 - 1);
    assert_eq!(s.totals.allowed, 200_000 + 1);
}
