//! Fixed window: windows aligned to Unix-epoch multiples of `W`; a request
//! of cost `n` is allowed iff `count(window) + n ≤ L`.

use super::math::{allowed, denied};
use crate::Decision;

/// Fixed window state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Start of the window `count` belongs to (µs).
    pub start: u64,
    /// Cost admitted in that window.
    pub count: u64,
}

/// The window in force at `t`. A clock that stepped back stays in the
/// window it already counted in.
fn current(s: &Window, t: u64, w: u64) -> Window {
    let start = t - t % w;
    if start > s.start {
        Window { start, count: 0 }
    } else {
        *s
    }
}

fn reset(win: &Window, t: u64, w: u64) -> u64 {
    if win.count == 0 {
        0
    } else {
        (win.start + w).saturating_sub(t)
    }
}

pub(crate) fn evaluate(s: &mut Window, t: u64, cost: u64, limit: u64, w: u64) -> Decision {
    let win = current(s, t, w);
    // Saturating: a state carried over from a larger limit may hold more.
    let left = limit.saturating_sub(win.count);
    if cost > limit {
        return denied(limit, left, reset(&win, t, w), None);
    }
    if win.count + cost <= limit {
        let after = Window {
            count: win.count + cost,
            ..win
        };
        allowed(limit, limit - after.count, reset(&after, t, w))
    } else {
        // The next window starts empty, and n ≤ L fits in it.
        let retry = win.start + w - t;
        denied(limit, left, reset(&win, t, w), Some(retry))
    }
}

pub(crate) fn consume(s: &mut Window, t: u64, cost: u64, w: u64) {
    let win = current(s, t, w);
    *s = Window {
        count: win.count + cost,
        ..win
    };
}
