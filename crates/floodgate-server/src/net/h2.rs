//! A service that takes whole connections (the gRPC listener's HTTP/2):
//! the listener knows it only by this trait.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::watch;

use super::watchdog::{InFlight, Watched};

/// Marks a request in flight on its connection (the watchdog's idle
/// clock stops until the mark is dropped).
pub(crate) type Requests = Box<dyn Fn() -> InFlight + Send + Sync>;

/// A service that takes whole connections, over HTTP/2 (the gRPC
/// listener's): the listener hands it each connection's socket, watched
/// for activity, and keeps its bounds.
pub(crate) trait H2Service: Send + Sync + 'static {
    /// Serves `io` until the peer closes it or, after `stop`, its calls
    /// in flight are answered; `requests` marks each call in flight; a
    /// head over `max_head` bytes is refused.
    fn serve(
        self: Arc<Self>,
        io: Watched<TcpStream>,
        max_head: u32,
        requests: Requests,
        stop: watch::Receiver<bool>,
    ) -> futures_util::future::BoxFuture<'static, Result<(), h2::Error>>;
}
