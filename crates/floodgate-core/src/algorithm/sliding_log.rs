//! Sliding window log: counts the allowed requests whose timestamp lies in
//! `(t − W, t]`; a request of cost `n` is allowed iff `count + n ≤ L`.

use std::collections::VecDeque;

use super::math::{allowed, denied};
use crate::Decision;

/// Sliding log state: allowed requests, oldest first, and their total cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Log {
    /// `(timestamp µs, cost)` of each allowed request, in time order.
    pub entries: VecDeque<(u64, u64)>,
    /// Sum of the costs in `entries`.
    pub total: u64,
}

impl Log {
    /// Drops entries outside `(t − W, t]`: an entry at `x` counts while
    /// `t < x + W`.
    fn expire(&mut self, t: u64, w: u64) {
        while let Some(&(x, c)) = self.entries.front() {
            if x + w <= t {
                self.entries.pop_front();
                self.total -= c;
            } else {
                break;
            }
        }
    }

    fn reset(&self, t: u64, w: u64) -> u64 {
        self.entries
            .back()
            .map_or(0, |&(x, _)| (x + w).saturating_sub(t))
    }
}

pub(crate) fn evaluate(s: &mut Log, t: u64, cost: u64, limit: u64, w: u64) -> Decision {
    s.expire(t, w);
    let remaining = limit.saturating_sub(s.total);
    if cost > limit {
        return denied(limit, remaining, s.reset(t, w), None);
    }
    if s.total + cost <= limit {
        allowed(limit, remaining - cost, s.reset(t, w).max(w))
    } else {
        // Walk forward until enough has expired: the request fits once the
        // entry that tipped it leaves the window, at x + W.
        let mut left = s.total;
        let mut at = t;
        for &(x, c) in &s.entries {
            left -= c;
            at = x + w;
            if left + cost <= limit {
                break;
            }
        }
        denied(limit, remaining, s.reset(t, w), Some(at - t))
    }
}

pub(crate) fn consume(s: &mut Log, t: u64, cost: u64, w: u64) {
    s.expire(t, w);
    // Keep time order even when the clock steps back.
    let at = s.entries.back().map_or(t, |&(x, _)| x.max(t));
    s.entries.push_back((at, cost));
    s.total += cost;
}
