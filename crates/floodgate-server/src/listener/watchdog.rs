//! Per-connection timeouts. A connection is always waiting for one of
//! three things: a request head (from its start, or from the first byte of
//! a later request), its in-flight request to be answered, or a next
//! request (idle keep-alive). The first and the last have deadlines; the
//! connection's task sleeps until the current one and closes the
//! connection if it is still current then.
//!
//! hyper's own `header_read_timeout` is not used: it also runs while a
//! keep-alive connection waits for its next request, so no idle timeout
//! longer than it could exist, and it ends the connection without saying
//! which wait was too long.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// What a connection waits for, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The rest of a request head.
    Head(Instant),
    /// The answer to this many requests.
    Busy(usize),
    /// A next request.
    Idle(Instant),
}

/// Which wait was too long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timeout {
    /// No whole request head within `header_read_timeout`.
    HeaderRead,
    /// No request within `idle_timeout` on a keep-alive connection.
    Idle,
}

impl Timeout {
    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Timeout::HeaderRead => "header_read",
            Timeout::Idle => "idle",
        }
    }
}

/// One connection's phase, shared by its socket, its service and its task.
pub(crate) struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
    header_read: Duration,
    idle: Duration,
}

impl Activity {
    /// A connection accepted now: it waits for a request head.
    pub(crate) fn new(header_read: Duration, idle: Duration) -> Arc<Activity> {
        Arc::new(Activity {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
            header_read,
            idle,
        })
    }

    /// When the current wait runs out and what it is; none while a
    /// request is in flight.
    pub(crate) fn deadline(&self) -> Option<(Instant, Timeout)> {
        match *self.phase.lock() {
            Phase::Head(since) => Some((since + self.header_read, Timeout::HeaderRead)),
            Phase::Idle(since) => Some((since + self.idle, Timeout::Idle)),
            Phase::Busy(_) => None,
        }
    }

    /// Completes when the phase has changed (a stored wake-up counts).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    fn set(&self, phase: Phase) {
        *self.phase.lock() = phase;
        self.changed.notify_one();
    }

    /// Bytes arrived: on an idle connection, a request head begins.
    fn read(&self) {
        let idle = matches!(*self.phase.lock(), Phase::Idle(_));
        if idle {
            self.set(Phase::Head(Instant::now()));
        }
    }

    /// A whole request head arrived; the request is in flight until the
    /// returned guard (kept by its response body) is dropped.
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        let busy = match *self.phase.lock() {
            Phase::Busy(n) => n + 1,
            _ => 1,
        };
        self.set(Phase::Busy(busy));
        InFlight(self.clone())
    }
}

/// A request in flight.
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let next = match *self.0.phase.lock() {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
        self.0.set(next);
    }
}

/// A socket that tells its [`Activity`] when bytes arrive.
pub(crate) struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub(crate) fn new(io: T, activity: Arc<Activity>) -> Self {
        Watched { io, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn phases_follow_requests_and_bytes() {
        let a = Activity::new(Duration::from_secs(1), Duration::from_secs(5));
        let (at, why) = a.deadline().unwrap();
        assert_eq!(why, Timeout::HeaderRead);
        assert!(at <= Instant::now() + Duration::from_secs(1));
        // Bytes of the head do not move its deadline.
        a.read();
        assert_eq!(a.deadline(), Some((at, Timeout::HeaderRead)));
        let r = a.request();
        assert_eq!(a.deadline(), None);
        drop(r);
        assert_eq!(a.deadline().unwrap().1, Timeout::Idle);
        a.read();
        assert_eq!(a.deadline().unwrap().1, Timeout::HeaderRead);
    }
}
