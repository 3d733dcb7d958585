//! A level measured at a time. The token bucket keeps its tokens this way,
//! and the policing leaky bucket its fill; both flow at `k` units per µs.

use super::math::ceil_div;

/// A level in units of `1/period_us` (a token, or a request), and when it
/// was measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    /// The level, in units of `1/period_us`.
    pub level: u64,
    /// When `level` was measured (µs).
    pub last: u64,
}

impl Level {
    /// Sets the level measured at `t`. A clock that stepped back keeps
    /// `last`: the same interval must not flow twice.
    pub(crate) fn set(&mut self, level: u64, t: u64) {
        self.level = level;
        self.last = self.last.max(t);
    }

    /// µs from `t` until `units` more have flowed at `k` a µs; 0 when there
    /// are none. A clock that stepped back: the flow resumes only at
    /// `last`, so the wait counts from there.
    pub(crate) fn wait(&self, t: u64, units: u64, k: u64) -> u64 {
        if units == 0 {
            0
        } else {
            self.last.saturating_sub(t) + ceil_div(units, k)
        }
    }
}
