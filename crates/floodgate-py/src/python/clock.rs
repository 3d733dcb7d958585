//! `ManualClock`: time that moves only when told to, for tests and
//! replays. A limiter built with one decides at its time (with a Redis
//! store, set `time="caller"` so the scripts take it too).

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::{Clock, Timestamp};
use pyo3::prelude::*;

/// A clock set and moved by hand, in microseconds since the Unix epoch.
#[pyclass(module = "floodgate", frozen)]
pub struct ManualClock {
    inner: Arc<floodgate_core::ManualClock>,
}

impl ManualClock {
    /// The clock, to hand to an engine.
    pub fn shared(&self) -> Arc<dyn Clock> {
        self.inner.clone()
    }
}

#[pymethods]
impl ManualClock {
    #[new]
    #[pyo3(signature = (start_us=0))]
    fn new(start_us: u64) -> ManualClock {
        ManualClock {
            inner: Arc::new(floodgate_core::ManualClock::new(Timestamp::from_micros(
                start_us,
            ))),
        }
    }

    /// Sets the time (it may go back).
    fn set(&self, now_us: u64) {
        self.inner.set(Timestamp::from_micros(now_us));
    }

    /// Moves the time forward.
    fn advance(&self, us: u64) {
        self.inner.advance(Duration::from_micros(us));
    }

    /// The time now, µs since the Unix epoch.
    #[getter]
    fn now_us(&self) -> u64 {
        self.inner.now().as_micros()
    }
}
