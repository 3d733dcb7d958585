//! One breaker per failure domain: an inner store of two domains (by the
//! identity's first letter, as a cluster's shards by slot), one switched
//! down by hand.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::store::{BoxFuture, SliceWant, Taken};
use floodgate_core::{
    Decision, FailureMode, LimitCheck, ManualClock, Quota, Store, StoreError, Timestamp,
};

use super::{BreakerState, FailurePolicy, ResilientStore};
use crate::config::{BreakerConfig, FailureSettings};

/// Two domains: identities starting with `b` are in domain 1, the rest
/// in 0. Domain 1 can be switched down; calls and takes are counted.
#[derive(Default)]
struct Shards {
    b_down: AtomicBool,
    calls: [AtomicU64; 2],
    taken: AtomicU64,
}

fn domain(c: &LimitCheck) -> usize {
    usize::from(c.identity.starts_with('b'))
}

fn up(c: &LimitCheck) -> Decision {
    Decision {
        allowed: true,
        limit: c.quota.limit(),
        remaining: 0,
        reset_after: Duration::ZERO,
        retry_after: None,
        delay: Duration::ZERO,
    }
}

impl Shards {
    /// Whether a call on `checks` fails (it touches the down domain).
    fn fails<'c>(&self, mut checks: impl Iterator<Item = &'c LimitCheck>) -> bool {
        self.b_down.load(Ordering::Relaxed) && checks.any(|c| domain(c) == 1)
    }
}

impl Store for Shards {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        _now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        for c in checks {
            self.calls[domain(c)].fetch_add(1, Ordering::Relaxed);
        }
        let r = if self.fails(checks.iter()) {
            Err(StoreError::transient("shard b down"))
        } else {
            Ok(checks.iter().map(up).collect())
        };
        Box::pin(std::future::ready(r))
    }

    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        let r = if self.fails(wants.iter().map(|w| &w.check)) {
            Err(StoreError::transient("shard b down"))
        } else {
            Ok(wants
                .iter()
                .map(|w| {
                    self.taken.fetch_add(w.want, Ordering::Relaxed);
                    Taken {
                        n: w.want,
                        at: now,
                        decision: up(&w.check),
                        age_us: 0,
                    }
                })
                .collect())
        };
        Box::pin(std::future::ready(r))
    }

    fn failure_domain(&self, check: &LimitCheck) -> usize {
        domain(check)
    }

    fn domain_name(&self, domain: usize) -> Option<String> {
        Some(format!("shard-{domain}"))
    }
}

const NOW: Timestamp = Timestamp::from_micros(1_700_006_400_000_000);

const COOLDOWN: Duration = Duration::from_secs(1);

fn check(identity: &str) -> LimitCheck {
    LimitCheck {
        on_failure: Some(FailureMode::Local),
        ..LimitCheck::new(
            "api/hourly/0".into(),
            identity.into(),
            Quota::fixed_window(100, Duration::from_secs(3_600)).unwrap(),
            1,
        )
    }
}

fn store() -> (ResilientStore<Shards>, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
    let policy = FailurePolicy::from(FailureSettings {
        breaker: BreakerConfig {
            failures: 2,
            cooldown: COOLDOWN,
        },
        ..FailureSettings::default()
    });
    let s = ResilientStore::with_clock(Shards::default(), policy, Arc::new(clock.clone()));
    (s, clock)
}

#[tokio::test]
async fn a_down_domain_leaves_the_others_on_the_store() {
    let (s, clock) = store();
    s.inner().b_down.store(true, Ordering::Relaxed);
    for _ in 0..10 {
        s.check(&[check("alice")], NOW).await.unwrap();
        s.check(&[check("bob")], NOW).await.unwrap();
    }
    let st = s.stats();
    assert_eq!(st.breaker_opened, 1, "{st:?}");
    assert_eq!(st.store_errors, 2, "two failures opened b's breaker");
    assert_eq!(st.degraded_local, 10, "every bob check: {st:?}");
    assert_eq!(
        s.inner().calls[0].load(Ordering::Relaxed),
        10,
        "alice on it"
    );
    // The first bob check failed; the second failed charging what the
    // first admitted locally; then b's breaker kept them away.
    assert_eq!(
        s.inner().calls[1].load(Ordering::Relaxed),
        1,
        "then skipped"
    );
    assert_eq!(s.breaker_state(), BreakerState::Open);
    assert_eq!(s.open_domains(), ["shard-1"]);
    // A request on both domains waits for b's probe.
    s.check(&[check("alice"), check("bob")], NOW).await.unwrap();
    assert_eq!(s.inner().calls[0].load(Ordering::Relaxed), 10, "skipped");

    // Debts stay with their domain: alice's next call charges what the
    // pair admitted for her locally, not bob's, and does not fail.
    assert_eq!(s.stats().owing_keys, 2);
    s.check(&[check("alice")], NOW).await.unwrap();
    assert_eq!(s.inner().taken.load(Ordering::Relaxed), 1);
    assert_eq!(s.stats().owing_keys, 1);
    assert_eq!(s.stats().store_errors, 2);

    // b back: its probe charges bob's debt, then decides.
    s.inner().b_down.store(false, Ordering::Relaxed);
    clock.advance(COOLDOWN);
    s.check(&[check("bob")], NOW).await.unwrap();
    assert_eq!(s.breaker_state(), BreakerState::Closed);
    assert_eq!(
        s.inner().taken.load(Ordering::Relaxed),
        1 + 11,
        "10 + the pair's"
    );
    assert_eq!(s.stats().owing_keys, 0);
    assert!(s.open_domains().is_empty());
}

#[tokio::test]
async fn takes_and_give_backs_follow_their_domains_breaker() {
    let (s, _clock) = store();
    s.inner().b_down.store(true, Ordering::Relaxed);
    for _ in 0..2 {
        s.check(&[check("bob")], NOW).await.unwrap();
    }
    let want = |id: &str| SliceWant {
        check: check(id),
        want: 5,
        share_ppm: 1_000_000,
    };
    assert!(s.take(&[want("bob")], NOW).await.is_err(), "b is open");
    let got = s.take(&[want("alice")], NOW).await.unwrap();
    assert_eq!(got[0].n, 5, "a is closed");
    let back = |id: &str| floodgate_core::store::GiveBack {
        check: check(id),
        taken_at: NOW,
    };
    assert!(s.give_back(&[back("bob")], NOW).await.is_err());
    // Shards has no give-back of its own: the default's permanent error
    // says the call reached it.
    let e = s.give_back(&[back("alice")], NOW).await.unwrap_err();
    assert!(!e.transient, "{e:?}");
}
