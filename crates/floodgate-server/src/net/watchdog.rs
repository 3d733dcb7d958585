//! Per-connection timeouts. A connection is always waiting for one of
//! three things: a request head (from its start, or from the first byte of
//! a later request), its in-flight request to be answered, or a next
//! request (idle keep-alive). The first and the last have deadlines; the
//! connection's task checks the current one and closes the connection if
//! it has passed.
//!
//! The checks are lazy, so that a request costs no timer and no wake-up:
//! a phase that begins at `t` ends no earlier than `t + step` (`step`, the
//! shorter of the two timeouts), so a task that checked at `c` and sleeps
//! until the earlier of the current deadline and `c + step` is never late,
//! whatever phases began in between. Phase changes only write the phase.
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
    header_read: Duration,
    idle: Duration,
}

/// What a check of the connection found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// The current wait ran out.
    Expired(Timeout),
    /// Nothing ran out: check again at this instant at the latest.
    Until(Instant),
}

impl Activity {
    /// A connection accepted now: it waits for a request head.
    pub(crate) fn new(header_read: Duration, idle: Duration) -> Arc<Activity> {
        Arc::new(Activity {
            phase: Mutex::new(Phase::Head(Instant::now())),
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

    /// Checks the connection at `now`: the wait that ran out, or when to
    /// check next (see the module docs for why that is never late).
    pub(crate) fn check(&self, now: Instant) -> Check {
        // A zero timeout would make the connection spin.
        let step = self
            .header_read
            .min(self.idle)
            .max(Duration::from_millis(1));
        match self.deadline() {
            Some((at, why)) if at <= now => Check::Expired(why),
            Some((at, _)) => Check::Until(at.min(now + step)),
            None => Check::Until(now + step),
        }
    }

    /// Bytes arrived: on an idle connection, a request head begins.
    fn read(&self) {
        let mut phase = self.phase.lock();
        if matches!(*phase, Phase::Idle(_)) {
            *phase = Phase::Head(Instant::now());
        }
    }

    /// A whole request head arrived; the request is in flight until the
    /// returned guard (kept by its response body) is dropped.
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        let mut phase = self.phase.lock();
        *phase = match *phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        };
        InFlight(self.clone())
    }
}

/// A request in flight.
pub(crate) struct InFlight(Arc<Activity>);

/// A response body that keeps its request in flight until it is sent
/// (or dropped). It passes the body's size on, so a body of known length
/// goes out with `Content-Length`, not chunked.
pub(crate) struct Tracked<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B> Tracked<B> {
    pub(crate) fn new(body: B, in_flight: InFlight) -> Self {
        Tracked {
            body,
            _in_flight: in_flight,
        }
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut phase = self.0.phase.lock();
        *phase = match *phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
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

    #[test]
    fn checks_are_never_later_than_a_deadline() {
        let (head, idle) = (Duration::from_secs(10), Duration::from_secs(60));
        let a = Activity::new(head, idle);
        let t0 = Instant::now();
        // A new connection: its head deadline.
        let (at, _) = a.deadline().unwrap();
        assert!(at <= t0 + head);
        assert_eq!(a.check(t0), Check::Until(at));
        // Busy: no deadline, but a check within the shorter timeout, since
        // a phase beginning at once would end then.
        let r = a.request();
        assert_eq!(a.check(t0), Check::Until(t0 + head));
        drop(r);
        // Idle for 60 s: checked again after 10 s, when a head begun at
        // once would run out.
        let t1 = Instant::now();
        assert_eq!(a.check(t1), Check::Until(t1 + head));
        assert_eq!(a.check(t1 + head + idle), Check::Expired(Timeout::Idle));
        // Bytes arrive: the head deadline comes from then.
        a.read();
        let (at, why) = a.deadline().unwrap();
        assert_eq!(why, Timeout::HeaderRead);
        assert_eq!(a.check(at), Check::Expired(Timeout::HeaderRead));
        assert_eq!(a.check(at - Duration::from_secs(1)), Check::Until(at));
    }
}
