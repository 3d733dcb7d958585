//! Where a store's connections run: on the threads that call it.
//!
//! A multiplexed connection is a task (its driver) on the runtime that
//! opened it. A request from another thread wakes that runtime's thread
//! to send, and is woken back with the reply: two cross-thread wake-ups
//! per decision. With a [`Placement`], connection `i` to a standalone
//! server is opened on runtime `i mod n` (its gathering lane runs there
//! too), and a request made on thread `t` uses the connections opened on
//! `t`, so a decision on Redis wakes no other thread. A thread with no
//! connection of its own (fewer connections than threads) uses
//! connection `t mod connections`. Without a placement, connections are
//! opened where the store connects and used in turn. A cluster
//! connection is one, wherever it was opened.

use tokio::runtime::Handle;

/// The runtimes a store's callers run on, and which of them the current
/// thread is.
#[derive(Clone)]
pub struct Placement {
    runtimes: Vec<Handle>,
    current: fn() -> Option<usize>,
}

impl Placement {
    /// `runtimes` (at least one), the one the calling thread runs being
    /// `current()` (none on any other thread).
    pub fn new(runtimes: Vec<Handle>, current: fn() -> Option<usize>) -> Option<Placement> {
        (!runtimes.is_empty()).then_some(Placement { runtimes, current })
    }

    /// The runtime connection `lane` runs on.
    pub(crate) fn runtime(&self, lane: usize) -> &Handle {
        &self.runtimes[lane % self.runtimes.len()]
    }

    /// The connection, out of `lanes`, for a request made on this thread
    /// (none off the placement's threads); `turn` picks among several.
    pub(crate) fn lane(&self, lanes: usize, turn: impl FnOnce() -> usize) -> Option<usize> {
        let t = (self.current)()?;
        let n = self.runtimes.len();
        if lanes == 0 {
            return None;
        }
        // This thread's: t, t + n, t + 2n, … below `lanes`.
        let own = lanes.saturating_sub(t).div_ceil(n);
        Some(match own {
            0 => t % lanes,
            1 => t,
            _ => t + n * (turn() % own),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    thread_local! {
        static ON: Cell<Option<usize>> = const { Cell::new(None) };
    }

    fn on() -> Option<usize> {
        ON.with(Cell::get)
    }

    fn placement(n: usize) -> Placement {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        Placement::new(vec![rt.handle().clone(); n], on).unwrap()
    }

    #[test]
    fn a_thread_uses_its_own_connections_and_runs_none_of_anothers() {
        let p = placement(2);
        ON.with(|c| c.set(None));
        assert_eq!(p.lane(4, || 0), None);
        // Four connections on two threads: 0 and 2 on thread 0, 1 and 3 on 1.
        ON.with(|c| c.set(Some(0)));
        assert_eq!(p.lane(4, || 0), Some(0));
        assert_eq!(p.lane(4, || 1), Some(2));
        assert_eq!(p.lane(4, || 2), Some(0));
        ON.with(|c| c.set(Some(1)));
        assert_eq!(p.lane(4, || 1), Some(3));
        // Three connections: thread 1 has one (no turn taken).
        assert_eq!(p.lane(3, || panic!("no turn needed")), Some(1));
        // One connection: thread 1 has none of its own.
        assert_eq!(p.lane(1, || 0), Some(0));
        assert_eq!(p.lane(0, || 0), None);
        for lane in 0..4 {
            assert!(std::ptr::eq(p.runtime(lane), &p.runtimes[lane % 2]));
        }
        assert!(Placement::new(Vec::new(), on).is_none());
    }
}
