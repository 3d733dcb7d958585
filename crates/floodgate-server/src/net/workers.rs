//! The threads that serve the listeners' connections: each runs a
//! single-threaded tokio runtime, its own event loop, and is handed whole
//! connections, round-robin, by the accept loops.
//!
//! Why not the process's multi-threaded runtime: there a connection's
//! task moves between threads, and a thread that runs out of work parks
//! on a futex and is woken again for the next readiness event; those
//! hand-offs cost as much CPU as hyper's own work on a small request (a
//! bare hyper server on loopback measured 11.5 µs of CPU per request on
//! the multi-threaded runtime against 7.9 µs on one single-threaded
//! runtime, in one run; `docs/benchmarks.md`). A connection served
//! start to end on one thread wakes nobody else. Tasks a request spawns
//! (a WebSocket relay, a lease's renewal) run on its thread too.
//!
//! The accept loops, the admin API's background work and the store's
//! stay on the process's runtime.
//!
//! Each thread knows its index ([`current`]), so that what a request uses
//! on its way can be kept per thread too: the gateway's pool of upstream
//! connections is one per serving thread, since a pooled connection's
//! task runs on the thread that opened it.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The serving threads; dropping the last reference stops them (the
/// connections still on them are dropped, so stop the listeners first).
pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    stops: Vec<oneshot::Sender<()>>,
}

impl Workers {
    /// Starts `n` serving threads (at least one).
    pub fn start(n: usize) -> io::Result<Arc<Workers>> {
        let n = n.max(1);
        let mut handles = Vec::with_capacity(n);
        let mut stops = Vec::with_capacity(n);
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(rt.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            std::thread::Builder::new()
                .name(format!("floodgate-serve-{i}"))
                .spawn(move || {
                    SERVING.with(|s| s.set(Some(i)));
                    // Tasks run while the thread is inside `block_on`; the
                    // runtime (and what is left on it) is dropped here, on
                    // its own thread.
                    let _ = rt.block_on(stopped);
                })?;
        }
        Ok(Arc::new(Workers {
            handles,
            next: AtomicUsize::new(0),
            stops,
        }))
    }

    /// The number of threads.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Never: there is always at least one thread.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The threads as a Redis store's [`Placement`]: its connections
    /// run on them, and a request uses its own thread's.
    pub fn placement(&self) -> Option<floodgate_redis::Placement> {
        floodgate_redis::Placement::new(self.handles.clone(), current)
    }

    /// The runtime of the thread to serve the next connection.
    pub(crate) fn pick(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

thread_local! {
    static SERVING: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The index of the serving thread this runs on (none elsewhere).
pub fn current() -> Option<usize> {
    SERVING.with(Cell::get)
}

/// The number of serving threads when none is configured: one per CPU.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_serving_thread_knows_its_index_and_no_other_thread_has_one() {
        let workers = Workers::start(2).unwrap();
        let mut seen = Vec::new();
        for _ in 0..4 {
            let on = workers.pick().spawn(async { current() });
            seen.push(on.await.unwrap());
        }
        // Round-robin: 0, 1, 0, 1.
        assert_eq!(seen, [Some(0), Some(1), Some(0), Some(1)]);
        assert_eq!(current(), None);
        let elsewhere = tokio::task::spawn_blocking(current).await.unwrap();
        assert_eq!(elsewhere, None);
    }
}
