//! A TCP proxy that adds wall-clock latency, and can partition the
//! network, for the three-region local topology.
//!
//! The multi-region end-to-end tests run three "regions" on one machine:
//! each region's Floodgate replicas talk to one global Redis. On loopback
//! every hop takes microseconds, so nothing would exercise what a real
//! cross-region link does to the replicas (slow calls to the global
//! store, a region cut off from it). The tests therefore put a
//! [`DelayProxy`] between each region's replicas and the global Redis:
//! the replicas connect to the proxy, the proxy to Redis, and every chunk
//! of bytes is held for the region's delay in each direction (a round trip
//! costs twice the delay). [`DelayProxy::cut`] partitions the region from
//! the global Redis until [`DelayProxy::heal`]. The binary
//! `floodgate-delay-proxy` runs the same proxy as a process.
//!
//! # Timing and order
//!
//! A chunk read at time `t` is written at `t + delay` (the delay in force
//! when it was read; see [`DelayProxy::set_delay`]), and never before an
//! earlier chunk of the same direction: order is kept per direction. A
//! half-close (EOF) is forwarded, delayed like data. Delays are clamped to
//! [`MAX_DELAY`].
//!
//! # Threads and memory
//!
//! One accept thread per proxy, and four threads per forwarded connection:
//! a reader and a writer for each direction, joined by a bounded queue of
//! at most [`QUEUE_CHUNKS`] chunks of up to [`CHUNK`] bytes (when it is
//! full the reader stops reading, so the sender feels back-pressure). At
//! most [`MAX_CONNECTIONS`] connections are forwarded at once; more are
//! accepted and closed. Threads get small stacks. Network errors never
//! panic: a failed connection is shut down on both sides.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use self::shared::{close, spawn, Entry, Shared, POLL};
pub use self::shared::{CHUNK, MAX_CONNECTIONS, MAX_DELAY, QUEUE_CHUNKS};

mod forward;
mod shared;

/// A latency-adding TCP proxy: see the [module](self) docs.
///
/// Dropping it stops the listener and shuts every connection down.
#[derive(Debug)]
pub struct DelayProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl DelayProxy {
    /// Listens on `listen` (port 0 picks a free one) and forwards each
    /// accepted connection to `target`, `delay` late in each direction.
    pub fn start(listen: SocketAddr, target: SocketAddr, delay: Duration) -> io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(target, delay));
        let for_thread = Arc::clone(&shared);
        let accept = spawn("delay-proxy-accept", move || {
            accept_loop(&listener, &for_thread)
        })?;
        Ok(Self {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The delay in force.
    pub fn delay(&self) -> Duration {
        self.shared.delay()
    }

    /// Sets the delay of every chunk read from now on (chunks already read
    /// keep theirs, but none overtakes an earlier one).
    pub fn set_delay(&self, d: Duration) {
        self.shared.set_delay(d);
    }

    /// Partitions the network: shuts down every live connection (both
    /// sockets, both directions) at once; from then on, until
    /// [`heal`](Self::heal), new connections are accepted and closed at
    /// once, without connecting to the target.
    pub fn cut(&self) {
        self.shared.close_all(Some(true));
    }

    /// Ends a [`cut`](Self::cut): new connections are forwarded again.
    pub fn heal(&self) {
        self.shared.registry().cut = false;
    }

    /// Whether it is [`cut`](Self::cut).
    pub fn is_cut(&self) -> bool {
        self.shared.registry().cut
    }

    /// How many connections are forwarded now (including those still
    /// connecting to the target).
    pub fn connections(&self) -> usize {
        self.shared.registry().live.len()
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        self.shared.close_all(None);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => admit(client, shared),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // WouldBlock, or a transient failure (say, out of descriptors).
            Err(_) => thread::sleep(POLL),
        }
    }
}

/// Registers an accepted connection and hands it to a thread that
/// connects to the target, or closes it (cut, full, or no thread).
fn admit(client: TcpStream, shared: &Arc<Shared>) {
    let registered = (|| {
        client.set_nonblocking(false).ok()?;
        let _ = client.set_nodelay(true);
        let closed = Arc::new(AtomicBool::new(false));
        let entry = Entry {
            client: client.try_clone().ok()?,
            server: None,
            closed: Arc::clone(&closed),
        };
        Some((shared.registry().admit(entry)?, closed))
    })();
    let Some((id, closed)) = registered else {
        return close(&client);
    };
    let for_thread = Arc::clone(shared);
    let started = spawn("delay-proxy-connect", move || {
        forward::connect(client, id, closed, &for_thread)
    });
    if started.is_err() {
        if let Some(entry) = shared.forget(id) {
            entry.shut();
        }
    }
}

/// Parses a delay as the binary takes it: `40ms`, `1s`, `250us`, `0`.
pub fn parse_delay(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "us" => Some(Duration::from_micros(n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
