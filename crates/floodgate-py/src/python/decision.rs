//! `Decision`: a decided request, to Python. Its fields are those of
//! `POST /v1/check`; `headers` and `body` are what the gateway answers.
//! An allowed request holds the slots of its concurrency limits until
//! `release()`, `release_nowait()`, the end of a `with` / `async with`
//! block, or the decision's end (see [`Slots`]).

use std::sync::Mutex;

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::outcome::{Outcome, Retry};
use crate::slots::Slots;

/// A decided request: whether it may go on, the limit that speaks for it,
/// and the response the gateway would give.
#[pyclass(module = "floodgate", frozen)]
pub struct Decision {
    outcome: Outcome,
    slots: Mutex<Option<Slots>>,
}

impl Decision {
    /// Wraps an outcome.
    pub fn new(mut outcome: Outcome) -> Decision {
        let slots = Mutex::new(outcome.take_slots());
        Decision { outcome, slots }
    }

    fn take_slots(&self) -> Option<Slots> {
        // Nothing under this lock is left half-written: ignore poison.
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// An awaitable already done, with `value` (`async with`'s methods).
#[pyclass(module = "floodgate")]
pub struct Done {
    value: Option<Py<PyAny>>,
}

#[pymethods]
impl Done {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<()> {
        let value = self.value.take().unwrap_or_else(|| py.None());
        Err(PyStopIteration::new_err((value,)))
    }
}

#[pymethods]
impl Decision {
    /// The concurrency slots the request holds now: one per concurrency
    /// limit that applied (0 when refused, when none applied, or once
    /// released).
    #[getter]
    fn held(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, Slots::count)
    }

    /// Gives the slots back and waits for the store (the GIL released):
    /// how many were still held. When the store cannot be reached, the
    /// slots come back when their lease ends, and this answers 0.
    fn release(&self, py: Python<'_>) -> usize {
        match self.take_slots() {
            Some(s) => py.detach(|| s.release()).unwrap_or(0),
            None => 0,
        }
    }

    /// Gives the slots back without waiting: at once on the memory store,
    /// sent from the limiter's thread on Redis.
    fn release_nowait(&self) {
        drop(self.take_slots());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Releases the slots (waiting: see `release`); exceptions go on.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.release(py);
        false
    }

    fn __aenter__(slf: Py<Self>, py: Python<'_>) -> Done {
        Done {
            value: Some(slf.into_any().clone_ref(py)),
        }
    }

    /// Releases the slots without waiting (see `release_nowait`), so the
    /// event loop never blocks.
    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> Done {
        self.release_nowait();
        Done { value: None }
    }

    /// Whether the request may go on.
    #[getter]
    fn allowed(&self) -> bool {
        self.outcome.allowed()
    }

    /// The status the gateway answers with: 200 when allowed, 429 when a
    /// limit denies, 401 for a missing or unknown API key or an invalid
    /// token, 503 when the store cannot decide (a store failure no
    /// failure policy decides); a `fail_closed` limit the store could not
    /// decide answers `fail_closed_status` (503 or 429).
    #[getter]
    fn status(&self) -> u16 {
        self.outcome.status()
    }

    /// The speaking limit's size (capacity, burst or requests per window).
    #[getter]
    fn limit(&self) -> Option<u64> {
        self.outcome.view()?.limit
    }

    /// What it could still allow now.
    #[getter]
    fn remaining(&self) -> Option<u64> {
        self.outcome.view()?.remaining
    }

    /// When it is back to idle, Unix seconds (rounded up).
    #[getter]
    fn reset(&self) -> Option<u64> {
        self.outcome.view()?.reset
    }

    /// Seconds until it is back to idle.
    #[getter]
    fn reset_after(&self) -> Option<f64> {
        self.outcome.view()?.reset_after
    }

    /// For a denial: whole seconds until the same request could be allowed
    /// (`Retry-After`); `None` when allowed or when it never can be.
    #[getter]
    fn retry_after(&self) -> Option<u64> {
        match self.outcome.retry()? {
            Retry::After(n) => Some(n),
            Retry::Never => None,
        }
    }

    /// Whether the request costs more than the limit: no wait lifts it.
    #[getter]
    fn never(&self) -> bool {
        self.outcome.retry() == Some(Retry::Never)
    }

    /// Seconds to hold the request before serving it (shaping limits).
    #[getter]
    fn delay(&self) -> f64 {
        self.outcome.delay()
    }

    /// The speaking limit's rule (`global` for global limits).
    #[getter]
    fn rule(&self) -> Option<String> {
        self.outcome.view()?.rule.map(str::to_string)
    }

    /// The speaking limit's name.
    #[getter]
    fn limit_name(&self) -> Option<String> {
        self.outcome.view()?.limit_name.map(str::to_string)
    }

    /// Its algorithm.
    #[getter]
    fn algorithm(&self) -> Option<&'static str> {
        self.outcome.view()?.algorithm
    }

    /// The client's tier.
    #[getter]
    fn tier(&self) -> Option<String> {
        self.outcome.view()?.tier.map(str::to_string)
    }

    /// The headers of the response: the rate-limit headers of an allowed
    /// request, or all headers of the refusal.
    #[getter]
    fn headers(&self) -> Vec<(String, String)> {
        self.outcome.headers()
    }

    /// The JSON body of a refusal (the gateway's), `None` when allowed.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        let r = self.outcome.refusal()?;
        Some(PyBytes::new(py, &r.body))
    }

    /// The decision as `POST /v1/check` answers it (JSON text).
    fn to_json(&self) -> String {
        match self.outcome.view() {
            Some(v) => serde_json::to_string(&v).unwrap_or_default(),
            None => self
                .outcome
                .refusal()
                .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                .unwrap_or_default(),
        }
    }

    fn __bool__(&self) -> bool {
        self.outcome.allowed()
    }

    fn __repr__(&self) -> String {
        let py = |v: Option<u64>| v.map_or("None".to_string(), |n| n.to_string());
        format!(
            "Decision(allowed={}, status={}, limit={}, remaining={}, retry_after={}, held={})",
            if self.allowed() { "True" } else { "False" },
            self.status(),
            py(self.limit()),
            py(self.remaining()),
            py(self.retry_after()),
            self.held()
        )
    }
}
