//! `Decision`: a decided request, to Python. Its fields are those of
//! `POST /v1/check`; `headers` and `body` are what the gateway answers.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::outcome::{Outcome, Retry};

/// A decided request: whether it may go on, the limit that speaks for it,
/// and the response the gateway would give.
#[pyclass(module = "floodgate", frozen)]
pub struct Decision {
    outcome: Outcome,
}

impl Decision {
    /// Wraps an outcome.
    pub fn new(outcome: Outcome) -> Decision {
        Decision { outcome }
    }
}

#[pymethods]
impl Decision {
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
            "Decision(allowed={}, status={}, limit={}, remaining={}, retry_after={})",
            if self.allowed() { "True" } else { "False" },
            self.status(),
            py(self.limit()),
            py(self.remaining()),
            py(self.retry_after())
        )
    }
}
