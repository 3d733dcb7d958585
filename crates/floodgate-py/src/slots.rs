//! [`Slots`]: the concurrency slots an allowed request holds, as the
//! gateway holds them (`floodgate-tower`'s `SlotGuard`): taken with the
//! request's other limits, renewed on the engine's runtime every third of
//! the lease while held, and given back by [`Slots::release`] (waiting for
//! the store) or by dropping them (sent from the runtime, not waited for;
//! at once on the memory store). A lease neither released nor renewed
//! ends on its own after the limit's `lease`.

use std::sync::Arc;

use floodgate_core::{Clock, LeaseStatus, Limiter, StoreError};
use floodgate_tower::SlotGuard;
use tokio::runtime::Handle;

use crate::store::on_this_thread;

/// Slots held under one lease.
pub struct Slots {
    guard: Option<SlotGuard>,
    limiter: Arc<Limiter>,
    clock: Arc<dyn Clock>,
    runtime: Handle,
}

impl Slots {
    /// Holds `guard`'s slots, taken on `limiter`'s store; `runtime` renews
    /// and releases them.
    pub fn new(
        guard: SlotGuard,
        limiter: Arc<Limiter>,
        clock: Arc<dyn Clock>,
        runtime: Handle,
    ) -> Slots {
        Slots {
            guard: Some(guard),
            limiter,
            clock,
            runtime,
        }
    }

    /// How many slots are held (one per concurrency limit that applied).
    pub fn count(&self) -> usize {
        self.guard.as_ref().map_or(0, |g| g.held().checks.len())
    }

    /// The lease id, as the decision API writes it.
    pub fn lease(&self) -> Option<String> {
        self.guard.as_ref().map(|g| g.held().lease.to_string())
    }

    /// Gives the slots back now and waits for the store (on Redis, on a
    /// blocking connection of this thread's when there is one): how many
    /// were still held (a slot whose lease had ended was free already).
    /// Blocks: never call it on a runtime's thread.
    pub fn release(mut self) -> Result<usize, StoreError> {
        let Some(guard) = self.guard.take() else {
            return Ok(0);
        };
        let held = guard.detach();
        let now = self.clock.now();
        let statuses = on_this_thread(|| self.runtime.block_on(self.limiter.release(&held, now)))?;
        Ok(statuses.iter().filter(|s| **s == LeaseStatus::Held).count())
    }
}

impl Drop for Slots {
    /// Releases without waiting: the guard sends the release from the
    /// runtime (or answers at once on the memory store).
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            let _in = self.runtime.enter();
            drop(guard);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Engine, Query, Settings};

    const TWO: &str = "rules:\n  - name: jobs\n    key: ip\n    limits: [ { algorithm: concurrency, limit: 2 } ]\n";

    #[test]
    fn an_allowed_request_holds_its_slot_until_released_or_dropped() {
        let engine = Engine::start(Settings::from_text("p", TWO).unwrap()).unwrap();
        let q = Query {
            ip: Some("192.0.2.1".parse().unwrap()),
            path: "/".into(),
            ..Query::default()
        };
        let mut a = engine.check(&q).unwrap();
        let mut b = engine.check(&q).unwrap();
        assert!(a.allowed() && b.allowed());
        let denied = engine.check(&q).unwrap();
        assert_eq!(denied.status(), 429);
        let (sa, sb) = (a.take_slots().unwrap(), b.take_slots().unwrap());
        assert_eq!((sa.count(), sb.count()), (1, 1));
        assert_eq!(sa.release().unwrap(), 1);
        let mut c = engine.check(&q).unwrap();
        assert!(c.allowed());
        drop(sb);
        assert!(engine.check(&q).unwrap().allowed(), "dropped: given back");
        assert!(c.take_slots().is_some());
    }

    #[test]
    fn a_policy_of_rate_limits_takes_no_slot() {
        let text = "rules:\n  - name: r\n    key: ip\n    limits: [ { algorithm: fixed_window, limit: 9, window: 1h } ]\n";
        let engine = Engine::start(Settings::from_text("p", text).unwrap()).unwrap();
        let mut d = engine
            .check(&Query {
                path: "/".into(),
                ..Query::default()
            })
            .unwrap();
        assert!(d.allowed() && d.take_slots().is_none());
    }
}
