//! One circuit breaker per failure domain of the inner store (see
//! [`Store::failure_domain`]): on Redis Cluster, one per shard, so one
//! node's outage sends only the keys it holds to the failure policy.
//! A standalone store is one domain, and then this is one breaker.
//!
//! A request is gated by the breakers of every domain its checks live in
//! (a bit set, bit `i` for domain `i`): it calls the store when all are
//! closed, or as the probe of those that are open. Its success closes
//! them all; its failure counts against each. The log says once per
//! domain when it starts failing and once when it is back, naming the
//! node when the store names its domains. When the store says its
//! domains moved to other nodes ([`Store::domains_epoch`]: a replica
//! promoted), every open breaker's next probe is due at once.
//!
//! [`Store::failure_domain`]: floodgate_core::Store::failure_domain
//! [`Store::domains_epoch`]: floodgate_core::Store::domains_epoch

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use floodgate_core::store::{FailureSettings, MAX_FAILURE_DOMAINS};
use floodgate_core::{LimitCheck, MonotonicClock, Store, StoreError};

use crate::breaker::{Breaker, BreakerState};

/// The bit of `check`'s domain on `store`.
pub(super) fn bit_of<S: Store>(store: &S, check: &LimitCheck) -> u64 {
    1u64 << (store.failure_domain(check) % MAX_FAILURE_DOMAINS)
}

/// The domains of `checks` on `store` (domain 0 when there are none).
pub(super) fn mask_of<'c, S: Store>(
    store: &S,
    checks: impl Iterator<Item = &'c LimitCheck>,
) -> u64 {
    let m = checks.fold(0, |m, c| m | bit_of(store, c));
    if m == 0 {
        1
    } else {
        m
    }
}

/// The domains in `mask`, lowest first.
fn each(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let d = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            d
        })
    })
}

/// The breakers, and which domains are known to be failing.
pub(super) struct Domains {
    breakers: Box<[Breaker]>,
    /// Domains known to be failing (for logging once each way).
    down: AtomicU64,
    /// What each failing domain was called when it went down.
    down_names: Mutex<Vec<Option<String>>>,
    /// The store's domains epoch as last seen.
    epoch: AtomicU64,
}

impl Domains {
    /// Closed breakers on `clock`, one per possible domain.
    pub(super) fn new(clock: Arc<dyn MonotonicClock>) -> Domains {
        Domains {
            breakers: (0..MAX_FAILURE_DOMAINS)
                .map(|_| Breaker::new(Arc::clone(&clock)))
                .collect(),
            down: AtomicU64::new(0),
            down_names: Mutex::new(vec![None; MAX_FAILURE_DOMAINS]),
            epoch: AtomicU64::new(0),
        }
    }

    /// Open if any domain's breaker is open.
    pub(super) fn state(&self) -> BreakerState {
        if self.breakers.iter().all(Breaker::is_closed) {
            BreakerState::Closed
        } else {
            BreakerState::Open
        }
    }

    /// The domains whose breaker is open.
    pub(super) fn open(&self) -> Vec<usize> {
        (0..self.breakers.len())
            .filter(|d| !self.breakers[*d].is_closed())
            .collect()
    }

    /// Whether every breaker of `mask` is closed.
    pub(super) fn closed(&self, mask: u64) -> bool {
        each(mask).all(|d| self.breakers[d].is_closed())
    }

    /// Whether a call on `mask` may go to the store now: `Some(false)`
    /// with its breakers closed, `Some(true)` as the probe of those open
    /// (`settings` and the store's `epoch` are read only then), `None`
    /// while any open one has no probe due.
    pub(super) fn may_call(
        &self,
        mask: u64,
        settings: impl Fn() -> FailureSettings,
        epoch: impl Fn() -> u64,
    ) -> Option<bool> {
        let mut probe = false;
        for d in each(mask) {
            let b = &self.breakers[d];
            if b.is_closed() {
                continue;
            }
            let cooldown = settings().breaker.cooldown;
            // Due by its wait, or at once when the store's nodes moved.
            let due = b.try_probe(cooldown) || (self.moved(epoch()) && b.try_probe(cooldown));
            if !due {
                return None;
            }
            probe = true;
        }
        Some(probe)
    }

    /// Whether the store's domains moved since last seen (`epoch` is its
    /// count now); if so, every open breaker's next probe is due now.
    fn moved(&self, epoch: u64) -> bool {
        let seen = self.epoch.load(Ordering::Acquire);
        if epoch == seen
            || self
                .epoch
                .compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return false;
        }
        for b in self.breakers.iter().filter(|b| !b.is_closed()) {
            b.probe_now();
        }
        true
    }

    /// A failed call on `mask` (`probe`: it was the open breakers'
    /// probe); `name` names a domain for the log. Returns how many
    /// breakers it opened.
    pub(super) fn failure(
        &self,
        mask: u64,
        e: &StoreError,
        settings: &FailureSettings,
        probe: bool,
        name: impl Fn(usize) -> Option<String>,
    ) -> u64 {
        let newly_down = mask & !self.down.fetch_or(mask, Ordering::AcqRel);
        for d in each(newly_down) {
            match name(d) {
                Some(node) => {
                    tracing::warn!(node = %node, error = %e, transient = e.transient, "redis node {node} failing: deciding its keys by the failure policy until it is back");
                    self.names()[d] = Some(node);
                }
                None => {
                    tracing::warn!(error = %e, transient = e.transient, "store unavailable: deciding by the failure policy until it is back");
                }
            }
        }
        let mut opened = 0;
        for d in each(mask) {
            if self.breakers[d].failure(&settings.breaker, probe) {
                opened += 1;
                tracing::debug!(domain = d, "circuit breaker open");
            }
        }
        opened
    }

    /// A successful call on `mask`; `name` names a domain for the log.
    pub(super) fn success(&self, mask: u64, name: impl Fn(usize) -> Option<String>) {
        for d in each(mask) {
            if self.breakers[d].success() {
                tracing::debug!(domain = d, "circuit breaker closed");
            }
        }
        if self.down.load(Ordering::Acquire) & mask == 0 {
            return;
        }
        let back = mask & self.down.fetch_and(!mask, Ordering::AcqRel);
        for d in each(back) {
            let was = self.names()[d].take();
            // Named as when it failed: after a failover its slots answer
            // from its replica (`primary`, once the slot map has it).
            match (was.or_else(|| name(d)), name(d)) {
                (Some(node), primary) => {
                    let primary = primary.unwrap_or_else(|| node.clone());
                    tracing::info!(node = %node, primary = %primary, "redis node {node} back (its slots answer again): deciding its keys on Redis again");
                }
                (None, _) => tracing::info!("store is back: deciding on it again"),
            }
        }
    }

    fn names(&self) -> std::sync::MutexGuard<'_, Vec<Option<String>>> {
        // Plain values, never left half-written: ignore poison.
        self.down_names.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{ManualClock, Timestamp};

    #[test]
    fn each_lists_the_set_bits() {
        assert_eq!(each(0b1010_0001).collect::<Vec<_>>(), [0, 5, 7]);
        assert_eq!(each(1 << 63).collect::<Vec<_>>(), [63]);
        assert_eq!(each(0).count(), 0);
    }

    #[test]
    fn one_domain_failing_leaves_the_others_closed() {
        let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
        let domains = Domains::new(Arc::new(clock.clone()));
        let settings = FailureSettings::default();
        let e = StoreError::transient("gone");
        let opened: u64 = (0..settings.breaker.failures)
            .map(|_| domains.failure(0b10, &e, &settings, false, |_| None))
            .sum();
        assert_eq!(opened, 1);
        assert_eq!(domains.open(), [1]);
        assert_eq!(domains.state(), BreakerState::Open);
        let epoch = || 0;
        assert_eq!(domains.may_call(0b01, || settings, epoch), Some(false));
        assert_eq!(domains.may_call(0b10, || settings, epoch), None);
        assert_eq!(domains.may_call(0b11, || settings, epoch), None, "spans it");
        clock.advance(settings.breaker.cooldown);
        let probe = domains.may_call(0b10, || settings, epoch);
        assert_eq!(probe, Some(true), "the probe");
        domains.success(0b10, |_| None);
        assert_eq!(domains.state(), BreakerState::Closed);
    }

    #[test]
    fn nodes_that_moved_are_probed_at_once() {
        let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
        let domains = Domains::new(Arc::new(clock.clone()));
        let settings = FailureSettings::default();
        let e = StoreError::transient("gone");
        for _ in 0..settings.breaker.failures {
            domains.failure(0b100, &e, &settings, false, |_| None);
        }
        assert_eq!(domains.may_call(0b100, || settings, || 0), None);
        // A replica promoted: the store's epoch moves, a probe goes now,
        // one only.
        assert_eq!(domains.may_call(0b100, || settings, || 1), Some(true));
        assert_eq!(domains.may_call(0b100, || settings, || 1), None);
        assert_eq!(domains.may_call(0b001, || settings, || 1), Some(false));
    }
}
