//! `Completions`: how Redis answers reach `async` callers without the
//! runtime's thread taking the GIL. A finished check is queued with its
//! asyncio future; the first one queued since the last drain writes one
//! byte to a socket pair whose other end the event loop watches
//! (`loop.add_reader`), and the loop then drains every queued answer at
//! once, with the GIL it already holds. Under load many answers share one
//! wakeup.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pyo3::prelude::*;

use super::decision::Decision;
use super::errors::ask_error;
use crate::outcome::Answer;

/// Answers waiting for the event loop.
pub struct Completions {
    queue: Mutex<Vec<(Py<PyAny>, Answer)>>,
    armed: AtomicBool,
    wake: UnixStream,
    watched: UnixStream,
}

impl Completions {
    /// An empty queue and its socket pair (both ends non-blocking).
    pub fn new() -> std::io::Result<Completions> {
        let (wake, watched) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        watched.set_nonblocking(true)?;
        Ok(Completions {
            queue: Mutex::new(Vec::new()),
            armed: AtomicBool::new(false),
            wake,
            watched,
        })
    }

    /// The descriptor the event loop watches.
    pub fn fd(&self) -> i32 {
        self.watched.as_raw_fd()
    }

    /// Queues `answer` for `future`, waking the loop unless a wakeup is
    /// already on its way.
    pub fn push(&self, future: Py<PyAny>, answer: Answer) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((future, answer));
        if !self.armed.swap(true, Ordering::AcqRel) {
            // A full socket buffer means a wakeup is pending anyway.
            let _ = (&self.wake).write(&[1]);
        }
    }

    /// Every queued answer: `(future, decision or exception, failed)`.
    pub fn drain(&self, py: Python<'_>) -> Vec<(Py<PyAny>, Py<PyAny>, bool)> {
        let mut buf = [0u8; 64];
        while matches!((&self.watched).read(&mut buf), Ok(n) if n > 0) {}
        // Disarmed before taking: an answer queued from here on wakes the
        // loop again (at worst once for nothing).
        self.armed.store(false, Ordering::Release);
        let items = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
        items
            .into_iter()
            .map(|(future, answer)| match answer {
                Ok(o) => match Py::new(py, Decision::new(o)) {
                    Ok(d) => (future, d.into_any(), false),
                    Err(e) => (future, e.into_value(py).into_any(), true),
                },
                Err(e) => (future, ask_error(e).into_value(py).into_any(), true),
            })
            .collect()
    }
}
