//! What the proxy's threads share: its limits, the delay, and the
//! registry of live connections that [`cut`](super::DelayProxy::cut)
//! shuts down.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The largest chunk read at once (bytes).
pub const CHUNK: usize = 16 * 1024;
/// How many chunks a direction may hold in flight before its reader waits.
pub const QUEUE_CHUNKS: usize = 256;
/// The most connections forwarded at once (four threads each).
pub const MAX_CONNECTIONS: usize = 256;
/// The longest delay; longer ones are clamped to it.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// How often the accept thread polls its listener, and the longest a
/// writer sleeps before checking that its connection is still open.
pub(super) const POLL: Duration = Duration::from_millis(5);
/// How long connecting to the target may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The stack of every proxy thread (buffers live on the heap).
const STACK: usize = 128 * 1024;

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) target: SocketAddr,
    delay_ns: AtomicU64,
    pub(super) stop: AtomicBool,
    registry: Mutex<Registry>,
}

#[derive(Debug, Default)]
pub(super) struct Registry {
    pub(super) cut: bool,
    next_id: u64,
    pub(super) live: HashMap<u64, Entry>,
}

/// A live connection, as a cut needs it: its sockets (the server's once
/// connected), and the flag its writers watch.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) client: TcpStream,
    pub(super) server: Option<TcpStream>,
    pub(super) closed: Arc<AtomicBool>,
}

impl Entry {
    pub(super) fn shut(&self) {
        self.closed.store(true, Ordering::SeqCst);
        close(&self.client);
        if let Some(server) = &self.server {
            close(server);
        }
    }
}

impl Registry {
    /// Registers a connection, unless cut or full: its id.
    pub(super) fn admit(&mut self, entry: Entry) -> Option<u64> {
        if self.cut || self.live.len() >= MAX_CONNECTIONS {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.live.insert(id, entry);
        Some(id)
    }
}

impl Shared {
    pub(super) fn new(target: SocketAddr, delay: Duration) -> Self {
        let shared = Self {
            target,
            delay_ns: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            registry: Mutex::new(Registry::default()),
        };
        shared.set_delay(delay);
        shared
    }

    pub(super) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn delay(&self) -> Duration {
        Duration::from_nanos(self.delay_ns.load(Ordering::SeqCst))
    }

    pub(super) fn set_delay(&self, d: Duration) {
        let ns = d.min(MAX_DELAY).as_nanos() as u64;
        self.delay_ns.store(ns, Ordering::SeqCst);
    }

    /// Shuts every live connection down, setting `cut` under the same lock
    /// (so no connection slips in between).
    pub(super) fn close_all(&self, cut: Option<bool>) {
        let mut reg = self.registry();
        if let Some(cut) = cut {
            reg.cut = cut;
        }
        for (_, entry) in reg.live.drain() {
            entry.shut();
        }
    }

    pub(super) fn forget(&self, id: u64) -> Option<Entry> {
        self.registry().live.remove(&id)
    }
}

/// Starts a named proxy thread with a small stack.
pub(super) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name(name.to_string())
        .stack_size(STACK)
        .spawn(f)
}

/// Shuts a socket down both ways (errors ignored: it may be gone).
pub(super) fn close(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Both);
}
