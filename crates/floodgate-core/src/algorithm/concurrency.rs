//! Concurrency: at most `limit` requests of one key in flight at once.
//!
//! Each request in flight holds one slot under its lease id (whatever its
//! cost) until it releases the slot or the lease ends (`lease` after it was
//! acquired or last renewed): a holder that vanishes without releasing
//! loses its slot when its lease ends. A slot is taken only by a request
//! that acquires (with a lease id); deciding without one (a check) tells
//! whether a slot is free and takes none.
//!
//! The decision: allowed iff `held + 1 ≤ limit`; `remaining` is the slots
//! left once this request holds one; `reset_after` is the time until every
//! lease has ended (the key idle); a denial's `retry_after` is the time
//! until the first lease ends, at most [`RETRY_HINT_US`]: a slot may come
//! back any moment, when its holder finishes.

use super::math::{allowed, denied};
use crate::Decision;

/// The longest `retry_after` a denial gives (1 s): a holder may release its
/// slot at any moment, so the first lease's end is only an upper bound.
pub const RETRY_HINT_US: u64 = 1_000_000;

/// The holders of one key's slots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slots {
    /// `(lease id, lease end in µs)` of each holder.
    pub holders: Vec<(u64, u64)>,
    /// Holders dropped because their lease ended, not yet counted by the
    /// store (see [`Slots::take_expired`]).
    pub expired: u64,
}

/// What became of a lease that its holder releases or renews.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseStatus {
    /// The holder held it: it is now released (or renewed).
    Held,
    /// Its lease had ended: the slot had gone back already.
    Expired,
    /// No slot is held under this id (never acquired, already released, or
    /// ended and removed).
    Missing,
}

impl Slots {
    /// Drops the holders whose lease ended by `t`.
    pub fn prune(&mut self, t: u64) {
        let before = self.holders.len();
        self.holders.retain(|&(_, end)| end > t);
        self.expired += (before - self.holders.len()) as u64;
    }

    /// The holders dropped on expiry since last asked.
    pub fn take_expired(&mut self) -> u64 {
        std::mem::take(&mut self.expired)
    }

    /// When the last lease ends (`t` when none is held).
    pub fn last_end(&self, t: u64) -> u64 {
        self.holders.iter().map(|h| h.1).max().unwrap_or(t).max(t)
    }

    /// Releases `lease` at `t`.
    pub fn release(&mut self, lease: u64, t: u64) -> LeaseStatus {
        match self.holders.iter().position(|h| h.0 == lease) {
            None => LeaseStatus::Missing,
            Some(i) => {
                let (_, end) = self.holders.swap_remove(i);
                if end > t {
                    LeaseStatus::Held
                } else {
                    self.expired += 1;
                    LeaseStatus::Expired
                }
            }
        }
    }

    /// Extends `lease` to `t + lease_us`, if it is still held at `t`.
    pub fn renew(&mut self, lease: u64, t: u64, lease_us: u64) -> LeaseStatus {
        match self.holders.iter_mut().find(|h| h.0 == lease) {
            None => LeaseStatus::Missing,
            Some(h) if h.1 <= t => LeaseStatus::Expired,
            Some(h) => {
                h.1 = h.1.max(t.saturating_add(lease_us));
                LeaseStatus::Held
            }
        }
    }
}

/// The decision on a key where `held` slots are held, the first lease
/// ending at `first_end` and the last at `last_end` (µs; both ignored when
/// `held` is 0). The memory store and the Redis store both decide here.
pub fn decision(
    held: u64,
    first_end: u64,
    last_end: u64,
    t: u64,
    limit: u64,
    lease_us: u64,
) -> Decision {
    if held < limit {
        let end = if held == 0 { t } else { last_end.max(t) };
        let end = end.max(t.saturating_add(lease_us));
        allowed(limit, limit - held - 1, end - t)
    } else {
        let retry = first_end.saturating_sub(t).clamp(1, RETRY_HINT_US);
        denied(limit, 0, last_end.saturating_sub(t), Some(retry))
    }
}

pub(crate) fn evaluate(s: &mut Slots, t: u64, limit: u64, lease_us: u64) -> Decision {
    s.prune(t);
    let first = s.holders.iter().map(|h| h.1).min().unwrap_or(t);
    decision(
        s.holders.len() as u64,
        first,
        s.last_end(t),
        t,
        limit,
        lease_us,
    )
}

/// Takes a slot for `lease` (after [`evaluate`] allowed it at `t`); a lease
/// id already holding a slot here keeps its one slot, renewed.
pub(crate) fn acquire(s: &mut Slots, t: u64, lease: u64, lease_us: u64) {
    let end = t.saturating_add(lease_us);
    match s.holders.iter_mut().find(|h| h.0 == lease) {
        Some(h) => h.1 = h.1.max(end),
        None => s.holders.push((lease, end)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_held_until_released_or_expired() {
        let mut s = Slots::default();
        let d = evaluate(&mut s, 0, 2, 10);
        assert!(d.allowed);
        assert_eq!((d.remaining, d.reset_after.as_micros()), (1, 10));
        acquire(&mut s, 0, 7, 10);
        acquire(&mut s, 4, 8, 10);
        let d = evaluate(&mut s, 5, 2, 10);
        assert!(!d.allowed);
        // The first lease ends at 10: five from now.
        assert_eq!(
            d.retry_after,
            Some(crate::RetryAfter::After(std::time::Duration::from_micros(
                5
            )))
        );
        assert_eq!(s.release(7, 5), LeaseStatus::Held);
        assert_eq!(s.release(7, 5), LeaseStatus::Missing);
        assert!(evaluate(&mut s, 5, 2, 10).allowed);
        // Lease 8 ends at 14.
        assert_eq!(s.renew(8, 14, 10), LeaseStatus::Expired);
        evaluate(&mut s, 14, 2, 10);
        assert!(s.holders.is_empty());
        assert_eq!(s.take_expired(), 1);
        assert_eq!(s.take_expired(), 0);
    }
}
