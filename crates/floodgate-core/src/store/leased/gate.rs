//! `Gate`: what requests on a key wait on while one of them takes the
//! key's next slice. Opened when the take ends (installed, failed, or
//! dropped with its request), it wakes them all; each then decides again,
//! from the new slice.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};

use parking_lot::Mutex;

/// A one-shot gate.
#[derive(Debug, Default)]
pub(super) struct Gate {
    open: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Gate {
    /// Opens the gate: every waiter, present and future, goes on.
    pub(super) fn open(&self) {
        self.open.store(true, Ordering::Release);
        for w in std::mem::take(&mut *self.wakers.lock()) {
            w.wake();
        }
    }

    /// Resolves once the gate is open.
    pub(super) fn wait(self: Arc<Self>) -> impl Future<Output = ()> {
        std::future::poll_fn(move |cx| {
            if self.open.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            let mut wakers = self.wakers.lock();
            // Opened while the lock was being taken.
            if self.open.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
    }
}

/// A key's mark that a request is taking its next slice: the gate its
/// other requests wait on, opened when the mark goes (the take ended, or
/// the slice was replaced or dropped).
#[derive(Clone, Debug, Default)]
pub(super) struct Fetch(Arc<Gate>);

impl Fetch {
    /// The gate, for a request to wait on.
    pub(super) fn gate(&self) -> Arc<Gate> {
        self.0.clone()
    }
}

impl Drop for Fetch {
    fn drop(&mut self) {
        self.0.open();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Wake};

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn waiters_go_on_when_the_mark_goes() {
        let count = Arc::new(Count(Default::default()));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mark = Fetch::default();
        let mut a = Box::pin(mark.gate().wait());
        let mut b = Box::pin(mark.gate().wait());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(
            a.as_mut().poll(&mut cx).is_pending(),
            "polled twice, kept once"
        );
        assert!(b.as_mut().poll(&mut cx).is_pending());
        let clone = mark.clone();
        drop(mark);
        // A clone dropped opens it too (a replaced slice).
        assert_eq!(
            count.0.load(Ordering::Relaxed),
            1,
            "the one waker, woken once"
        );
        assert!(a.as_mut().poll(&mut cx).is_ready());
        assert!(b.as_mut().poll(&mut cx).is_ready());
        let late = clone.gate();
        drop(clone);
        assert!(Box::pin(late.wait()).as_mut().poll(&mut cx).is_ready());
    }
}
