//! Concurrency slots held by a request in flight.
//!
//! A [`SlotGuard`] renews the lease of its slots every third of the lease
//! while it lives and releases them when dropped. The service puts it in
//! the response body ([`LeasedBody`]), so the slots come back when the body
//! has been sent (or failed), when the client goes away (the body is
//! dropped unsent), or when the inner service fails (no response: the
//! guard is dropped with the decision).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use floodgate_core::policy::Held;
use floodgate_core::{Clock, LeaseStatus, Limiter};
use http_body::{Body, Frame, SizeHint};

use crate::observer::Observer;

/// Slots held under one lease: renewed while the guard lives, released
/// when it is dropped (unless [detached](SlotGuard::detach)).
pub struct SlotGuard {
    held: Option<Held>,
    limiter: Arc<Limiter>,
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn Observer>>,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

impl SlotGuard {
    /// Holds `held` (taken on `limiter`'s store), renewing it on the
    /// current tokio runtime (none: the lease alone bounds the slots).
    pub(crate) fn new(
        held: Held,
        limiter: Arc<Limiter>,
        clock: Arc<dyn Clock>,
        observer: Option<Arc<dyn Observer>>,
    ) -> SlotGuard {
        if let Some(o) = &observer {
            o.slots(&held, true);
        }
        let renewal = tokio::runtime::Handle::try_current().ok().map(|rt| {
            rt.spawn(renew(
                held.clone(),
                limiter.clone(),
                clock.clone(),
                observer.clone(),
            ))
        });
        SlotGuard {
            held: Some(held),
            limiter,
            clock,
            observer,
            renewal,
        }
    }

    /// The slots held.
    pub fn held(&self) -> &Held {
        self.held.as_ref().expect("held until dropped or detached")
    }

    /// Stops renewing and hands the slots over: they are no longer
    /// released by this guard (a decision API caller releases them).
    pub fn detach(mut self) -> Held {
        self.stop();
        let held = self.held.take().expect("held until dropped or detached");
        if let Some(o) = &self.observer {
            o.slots(&held, false);
        }
        held
    }

    fn stop(&mut self) {
        if let Some(r) = self.renewal.take() {
            r.abort();
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.stop();
        let Some(held) = self.held.take() else {
            return;
        };
        if let Some(o) = &self.observer {
            o.slots(&held, false);
        }
        // Outside a runtime nothing can be sent: the lease ends them.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (limiter, clock) = (self.limiter.clone(), self.clock.clone());
        let mut release = Box::pin(async move {
            match limiter.release(&held, clock.now()).await {
                Ok(statuses) if statuses.iter().all(|s| *s == LeaseStatus::Held) => {}
                Ok(statuses) => tracing::debug!(
                    lease = %held.lease,
                    ?statuses,
                    "released slots whose lease had ended"
                ),
                Err(e) => tracing::warn!(
                    lease = %held.lease,
                    error = %e,
                    "cannot release concurrency slots: they come back when their lease ends"
                ),
            }
        });
        // A store that answers at once (memory) releases here and now, so
        // the slot is free before the next request; one that waits
        // (Redis) goes on in a task of its own.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        if release.as_mut().poll(&mut cx).is_pending() {
            rt.spawn(release);
        }
    }
}

/// Renews `held` every third of its lease, until aborted.
async fn renew(
    held: Held,
    limiter: Arc<Limiter>,
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn Observer>>,
) {
    let every = (held.lease_length() / 3).max(Duration::from_millis(10));
    let mut lost = false;
    loop {
        tokio::time::sleep(every).await;
        match limiter.renew(&held, clock.now()).await {
            Ok(statuses) => {
                let now_lost = statuses.iter().any(|s| *s != LeaseStatus::Held);
                if now_lost && !lost {
                    tracing::warn!(
                        lease = %held.lease,
                        ?statuses,
                        "a concurrency slot's lease ended while its request was in flight"
                    );
                    if let Some(o) = &observer {
                        o.lease_lost(&held);
                    }
                }
                lost = now_lost;
            }
            Err(e) => tracing::warn!(
                lease = %held.lease,
                error = %e,
                "cannot renew concurrency slots; trying again"
            ),
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that holds the request's concurrency slots until it
    /// has been sent, failed, or been dropped.
    pub struct LeasedBody<B> {
        #[pin]
        inner: B,
        guard: Option<SlotGuard>,
    }
}

impl<B> LeasedBody<B> {
    /// `inner`, holding `guard` (if any) until its end.
    pub fn new(inner: B, guard: Option<SlotGuard>) -> LeasedBody<B> {
        LeasedBody { inner, guard }
    }

    /// Whether it still holds slots.
    pub fn holds_slots(&self) -> bool {
        self.guard.is_some()
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for LeasedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeasedBody")
            .field("inner", &self.inner)
            .field("holds_slots", &self.guard.is_some())
            .finish()
    }
}

impl<B: From<Bytes>> From<Bytes> for LeasedBody<B> {
    fn from(b: Bytes) -> Self {
        LeasedBody::new(B::from(b), None)
    }
}

impl<B: Body> Body for LeasedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) {
            // Sent in full, or failed: the slots go back now.
            this.guard.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
