//! The failure policy and the breaker around an inner store that is
//! switched up and down by hand.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::store::BoxFuture;
use floodgate_core::{
    Decision, FailureMode, LimitCheck, ManualClock, Quota, RetryAfter, Store, StoreError, Timestamp,
};

use super::{BreakerState, FailurePolicy, ResilientStore};
use crate::config::{BreakerConfig, FailureSettings};

/// An inner store that is up (allows everything) or down (fails), and
/// counts its calls.
#[derive(Default)]
struct Switch {
    down: AtomicBool,
    calls: AtomicU64,
}

impl Store for Switch {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        _now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let r = if self.down.load(Ordering::Relaxed) {
            Err(StoreError::transient("down"))
        } else {
            Ok(checks
                .iter()
                .map(|c| Decision {
                    allowed: true,
                    limit: c.quota.limit(),
                    remaining: 0,
                    reset_after: Duration::ZERO,
                    retry_after: None,
                    delay: Duration::ZERO,
                })
                .collect())
        };
        Box::pin(std::future::ready(r))
    }
}

const NOW: Timestamp = Timestamp::from_micros(1_700_006_400_000_000);

fn check(limit_id: &str, limit: u64, mode: Option<FailureMode>) -> LimitCheck {
    LimitCheck {
        on_failure: mode,
        lease: None,
        sync: None,
        scope: floodgate_core::store::Scope::Region,
        ..LimitCheck::new(
            limit_id.into(),
            "client".into(),
            Quota::fixed_window(limit, Duration::from_secs(3_600)).unwrap(),
            1,
        )
    }
}

fn store(policy: FailurePolicy) -> (ResilientStore<Switch>, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
    let inner = Switch::default();
    inner.down.store(true, Ordering::Relaxed);
    let s = ResilientStore::with_clock(inner, policy, Arc::new(clock.clone()));
    (s, clock)
}

fn allowed(d: &[Decision]) -> Vec<bool> {
    d.iter().map(|d| d.allowed).collect()
}

async fn run(s: &ResilientStore<Switch>, checks: &[LimitCheck]) -> Vec<Decision> {
    s.check(checks, NOW).await.unwrap()
}

#[tokio::test]
async fn each_check_takes_its_own_mode_or_the_default() {
    let (s, _clock) = store(FailurePolicy::from(FailureSettings {
        on_failure: FailureMode::FailOpen,
        local_divisor: 2,
        ..FailureSettings::default()
    }));
    let open = check("a", 1, None);
    let local = check("b", 4, Some(FailureMode::Local));
    let closed = check("c", 100, Some(FailureMode::FailClosed));

    // Local: 4 divided by 2 replicas; the default (open) allows all.
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(allowed(&run(&s, &[open.clone(), local.clone()]).await));
    }
    assert_eq!(seen, [[true, true], [true, true], [true, false]]);

    // A fail_closed check denies, its request's local checks
    // consume nothing, and it retries after the cool-down.
    let other_local = check("d", 2, Some(FailureMode::Local));
    let d = run(&s, &[open.clone(), other_local.clone(), closed]).await;
    assert!(!d[2].allowed);
    assert_eq!(
        d[2].retry_after,
        Some(RetryAfter::Unavailable(BreakerConfig::DEFAULT_COOLDOWN))
    );
    assert_eq!(
        (d[1].allowed, d[1].remaining),
        (true, 2),
        "reported as open"
    );
    let d = run(&s, std::slice::from_ref(&other_local)).await;
    assert_eq!(
        (d[0].allowed, d[0].remaining),
        (true, 0),
        "2 / 2 = 1, untouched"
    );

    let st = s.stats();
    assert_eq!(
        (st.degraded_open, st.degraded_local, st.degraded_closed),
        (3 + 2, 3 + 1, 1),
        "{st:?}"
    );
}

#[tokio::test]
async fn reconfigure_swaps_mode_divisor_and_breaker() {
    let (s, clock) = store(FailurePolicy::from(FailureSettings {
        on_failure: FailureMode::FailOpen,
        breaker: BreakerConfig {
            failures: 2,
            cooldown: Duration::from_secs(1),
        },
        ..FailureSettings::default()
    }));
    let plain = check("a", 10, None);
    assert!(run(&s, std::slice::from_ref(&plain)).await[0].allowed);

    s.reconfigure(FailureSettings {
        on_failure: FailureMode::FailClosed,
        local_divisor: 1,
        breaker: BreakerConfig {
            failures: 2,
            cooldown: Duration::from_secs(7),
        },
    });
    let d = run(&s, std::slice::from_ref(&plain)).await;
    assert!(!d[0].allowed, "the new default");
    assert_eq!(
        d[0].retry_after,
        Some(RetryAfter::Unavailable(Duration::from_secs(7)))
    );
    assert_eq!(s.breaker_state(), BreakerState::Open, "two failures");
    assert_eq!(s.inner().calls.load(Ordering::Relaxed), 2);

    // The first probe is an eighth of the new 7 s after the failure that
    // opened the breaker.
    clock.advance(Duration::from_millis(874));
    run(&s, std::slice::from_ref(&plain)).await;
    assert_eq!(
        s.inner().calls.load(Ordering::Relaxed),
        2,
        "short-circuited"
    );
    clock.advance(Duration::from_millis(1));
    run(&s, std::slice::from_ref(&plain)).await;
    assert_eq!(s.inner().calls.load(Ordering::Relaxed), 3, "the probe");

    // Local with a divisor of 5: a limit of 10 allows 2.
    s.reconfigure(FailureSettings {
        on_failure: FailureMode::Local,
        local_divisor: 5,
        breaker: BreakerConfig::default(),
    });
    let mut n = 0;
    for _ in 0..4 {
        n += usize::from(run(&s, std::slice::from_ref(&plain)).await[0].allowed);
    }
    assert_eq!(n, 2);
    assert_eq!(s.stats().degraded_local, 4);

    // A divisor of 0 means 1.
    s.reconfigure(FailureSettings {
        on_failure: FailureMode::Local,
        local_divisor: 0,
        breaker: BreakerConfig::default(),
    });
    let d = run(&s, &[check("fresh", 3, None)]).await;
    assert_eq!((d[0].allowed, d[0].limit), (true, 3));
}

#[tokio::test]
async fn an_open_breaker_keeps_calls_away_until_a_probe_succeeds() {
    let (s, clock) = store(FailurePolicy::from(FailureSettings {
        on_failure: FailureMode::FailOpen,
        breaker: BreakerConfig {
            failures: 3,
            cooldown: Duration::from_secs(1),
        },
        ..FailureSettings::default()
    }));
    let c = [check("a", 1, None)];
    let calls = || s.inner().calls.load(Ordering::Relaxed);
    for _ in 0..3 {
        run(&s, &c).await;
    }
    assert_eq!(s.breaker_state(), BreakerState::Open);
    for _ in 0..10 {
        assert!(run(&s, &c).await[0].allowed);
    }
    assert_eq!(calls(), 3);
    let st = s.stats();
    assert_eq!(
        (st.store_errors, st.short_circuited, st.breaker_opened),
        (3, 10, 1)
    );

    s.inner().down.store(false, Ordering::Relaxed);
    run(&s, &c).await;
    assert_eq!(calls(), 3, "still in the cool-down");
    clock.advance(Duration::from_secs(1));
    run(&s, &c).await;
    assert_eq!(calls(), 4, "the probe");
    assert_eq!(s.breaker_state(), BreakerState::Closed);
    run(&s, &c).await;
    assert_eq!(calls(), 5, "closed: every call goes through");
    assert_eq!(s.stats().degraded(), 3 + 11);
}

#[tokio::test]
async fn the_local_fallback_keeps_a_limited_client_limited_through_a_flood() {
    // The local store holds 10,000 keys; 100,000 invented identities (two
    // limits each) arrive while Redis is down.
    let (s, _clock) = store(FailurePolicy {
        settings: FailureSettings {
            on_failure: FailureMode::Local,
            ..FailureSettings::default()
        },
        local: floodgate_core::MemoryStoreConfig {
            max_keys: 10_000,
            ..floodgate_core::MemoryStoreConfig::default()
        },
    });
    let pair = |who: &str| {
        let q = Quota::fixed_window(3, Duration::from_secs(3_600)).unwrap();
        let day = Quota::fixed_window(100, Duration::from_secs(86_400)).unwrap();
        vec![
            LimitCheck::new("flood/a".into(), who.into(), q, 1),
            LimitCheck::new("flood/day".into(), who.into(), day, 1),
        ]
    };
    let victim = pair("victim");
    for _ in 0..3 {
        assert_eq!(allowed(&run(&s, &victim).await), [true, true]);
    }
    let before = run(&s, &victim).await;
    assert_eq!(allowed(&before), [false, true]);
    for i in 0..100_000 {
        run(&s, &pair(&format!("invented-{i}"))).await;
    }
    assert_eq!(run(&s, &victim).await, before, "the flood reset the victim");
}
