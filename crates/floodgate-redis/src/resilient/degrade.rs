//! Deciding without the inner store: each check by its failure mode.

use std::sync::atomic::Ordering;
use std::time::Duration;

use floodgate_core::{Decision, FailureMode, LimitCheck, RetryAfter, Store, Timestamp};

use super::{domains, ResilientStore};
use floodgate_core::store::FailureSettings;

impl<S: Store> ResilientStore<S> {
    /// Decides `checks` without the inner store, by the failure policy.
    pub(super) fn degrade(
        &self,
        checks: &[LimitCheck],
        now: Timestamp,
        settings: FailureSettings,
    ) -> Vec<Decision> {
        let modes: Vec<FailureMode> = checks
            .iter()
            .map(|c| c.on_failure.unwrap_or(settings.on_failure))
            .collect();
        let closed = modes.contains(&FailureMode::FailClosed);
        let local_checks: Vec<LimitCheck> = if closed {
            Vec::new()
        } else {
            checks
                .iter()
                .zip(&modes)
                .filter(|(_, &m)| m == FailureMode::Local)
                .map(|(c, _)| LimitCheck {
                    quota: c
                        .quota
                        .divided(settings.local_divisor)
                        .share(self.local_share_ppm),
                    ..c.clone()
                })
                .collect()
        };
        let local_decisions = self.local.check_sync(&local_checks, now);
        if local_decisions.iter().all(|d| d.allowed) {
            // Admitted here: owed to the inner store once it is back.
            for (c, _) in checks
                .iter()
                .zip(&modes)
                .filter(|(_, &m)| m == FailureMode::Local && !closed)
            {
                self.owed.note(c, domains::bit_of(&self.inner, c));
            }
        }
        let mut local = local_decisions.into_iter();
        let c = &self.counters;
        checks
            .iter()
            .zip(&modes)
            .map(|(check, mode)| match mode {
                FailureMode::FailClosed => {
                    c.degraded_closed.fetch_add(1, Ordering::Relaxed);
                    Decision {
                        allowed: false,
                        limit: check.quota.limit(),
                        remaining: 0,
                        reset_after: Duration::ZERO,
                        retry_after: Some(RetryAfter::Unavailable(settings.breaker.cooldown)),
                        delay: Duration::ZERO,
                    }
                }
                FailureMode::Local if !closed => {
                    c.degraded_local.fetch_add(1, Ordering::Relaxed);
                    local.next().expect("one local decision per local check")
                }
                _ => {
                    c.degraded_open.fetch_add(1, Ordering::Relaxed);
                    let limit = check.quota.limit();
                    Decision {
                        allowed: true,
                        limit,
                        remaining: limit,
                        reset_after: Duration::ZERO,
                        retry_after: None,
                        delay: Duration::ZERO,
                    }
                }
            })
            .collect()
    }
}
