//! `NativeLimiter`: an [`Engine`] to Python. Checks are polled once with
//! the GIL held (the memory store answers there); a Redis check then
//! waits with the GIL released (`check`, `check_http`) or is finished on
//! the engine's runtime and queued for the event loop (`start`,
//! `start_http`, for `async` callers: see [`Completions`]).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::clock::ManualClock;
use super::completions::Completions;
use super::decision::Decision;
use super::errors::{ask_error, setup_error};
use floodgate_core::Clock;

use crate::engine::{Answer, Engine, Started};
use crate::query::{HttpQuery, Query};
use crate::settings::Settings;

/// A limiter on its own runtime. Build it with `from_file` or `from_text`.
#[pyclass(module = "floodgate", frozen)]
pub struct NativeLimiter {
    engine: Engine,
    completions: Arc<Completions>,
    /// What it was built from, for `derive`.
    settings: Settings,
    clock: Option<Arc<dyn Clock>>,
}

fn ip(text: Option<&str>) -> PyResult<Option<IpAddr>> {
    text.map(|t| {
        t.trim()
            .parse()
            .map_err(|_| PyValueError::new_err(format!("`{t}` is not an IP address")))
    })
    .transpose()
}

fn answer(a: Answer) -> PyResult<Decision> {
    a.map(Decision::new).map_err(ask_error)
}

impl NativeLimiter {
    fn build(
        py: Python<'_>,
        settings: Result<Settings, crate::SetupError>,
        store: Option<(String, String)>,
        trusted_proxies: Option<Vec<String>>,
        clock: Option<Arc<dyn Clock>>,
    ) -> PyResult<NativeLimiter> {
        let run = || {
            let mut s = settings?;
            if let Some((name, text)) = store {
                s = s.with_store(&name, &text)?;
            }
            if let Some(list) = trusted_proxies {
                s = s.with_proxies(&list)?;
            }
            Ok((start(s.clone(), clock.clone())?, s))
        };
        let (engine, settings) = py.detach(run).map_err(|e| setup_error(py, e))?;
        Ok(NativeLimiter {
            engine,
            completions: Arc::new(Completions::new()?),
            settings,
            clock,
        })
    }

    fn finish(&self, py: Python<'_>, started: Started) -> PyResult<Decision> {
        match started {
            Started::Ready(a) => answer(*a),
            Started::Pending(p) => answer(py.detach(|| self.engine.wait(p))),
        }
    }

    /// A decision now, or `None` with the answer queued for `future`
    /// (see [`Completions`]).
    fn later(&self, started: Started, future: Py<PyAny>) -> PyResult<Option<Decision>> {
        match started {
            Started::Ready(a) => answer(*a).map(Some),
            Started::Pending(p) => {
                let completions = self.completions.clone();
                self.engine.spawn(p, move |a| completions.push(future, a));
                Ok(None)
            }
        }
    }
}

fn start(s: Settings, clock: Option<Arc<dyn Clock>>) -> Result<Engine, crate::SetupError> {
    match clock {
        Some(c) => Engine::with_clock(s, c),
        None => Engine::start(s),
    }
}

#[pymethods]
impl NativeLimiter {
    /// A limiter of its own with the policy of `text` (YAML or JSON),
    /// on this one's store (same Redis, same key prefix), proxies and
    /// clock.
    fn derive(&self, py: Python<'_>, name: &str, text: &str) -> PyResult<NativeLimiter> {
        let settings = self.settings.clone().with_policy(name, text);
        NativeLimiter::build(py, settings, None, None, self.clock.clone())
    }

    /// Reads a config file (the gateway's works as it is). `store` is
    /// `(name, text)` of a document holding a `store:` section that
    /// replaces the file's; `trusted_proxies` replaces the file's list;
    /// `clock`, a `ManualClock`, replaces the system clock.
    #[staticmethod]
    #[pyo3(signature = (path, store=None, trusted_proxies=None, clock=None))]
    fn from_file(
        py: Python<'_>,
        path: PathBuf,
        store: Option<(String, String)>,
        trusted_proxies: Option<Vec<String>>,
        clock: Option<PyRef<'_, ManualClock>>,
    ) -> PyResult<NativeLimiter> {
        let settings = Settings::from_file(&path);
        let clock = clock.map(|c| c.shared());
        NativeLimiter::build(py, settings, store, trusted_proxies, clock)
    }

    /// Reads a document (YAML or JSON) named `name` in errors.
    #[staticmethod]
    #[pyo3(signature = (name, text, store=None, trusted_proxies=None, clock=None))]
    fn from_text(
        py: Python<'_>,
        name: &str,
        text: &str,
        store: Option<(String, String)>,
        trusted_proxies: Option<Vec<String>>,
        clock: Option<PyRef<'_, ManualClock>>,
    ) -> PyResult<NativeLimiter> {
        let settings = Settings::from_text(name, text);
        let clock = clock.map(|c| c.shared());
        NativeLimiter::build(py, settings, store, trusted_proxies, clock)
    }

    /// The descriptor that becomes readable when answers are queued: the
    /// event loop watches it and calls `drain`.
    #[getter]
    fn completion_fd(&self) -> i32 {
        self.completions.fd()
    }

    /// The queued answers: `(future, decision or exception, failed)`.
    fn drain(&self, py: Python<'_>) -> Vec<(Py<PyAny>, Py<PyAny>, bool)> {
        self.completions.drain(py)
    }

    /// Whether the store is Redis and connected.
    #[getter]
    fn connected(&self) -> bool {
        self.engine.connected()
    }

    /// Whether every check is answered without waiting (memory store).
    #[getter]
    fn local(&self) -> bool {
        self.engine.is_local()
    }

    /// Decides a request stated by its attributes, the client IP resolved.
    #[pyo3(signature = (path="/", ip=None, api_key=None, user=None, method=None, headers=None, cost=1))]
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        py: Python<'_>,
        path: &str,
        ip: Option<&str>,
        api_key: Option<String>,
        user: Option<String>,
        method: Option<String>,
        headers: Option<Vec<(String, String)>>,
        cost: u64,
    ) -> PyResult<Decision> {
        let q = query(path, ip, api_key, user, method, headers, cost)?;
        self.finish(py, self.engine.start_check(q))
    }

    /// `check`, answering now or queueing the answer for `future` (an
    /// asyncio future, settled by `drain`).
    #[pyo3(signature = (future, path="/", ip=None, api_key=None, user=None, method=None, headers=None, cost=1))]
    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        future: Py<PyAny>,
        path: &str,
        ip: Option<&str>,
        api_key: Option<String>,
        user: Option<String>,
        method: Option<String>,
        headers: Option<Vec<(String, String)>>,
        cost: u64,
    ) -> PyResult<Option<Decision>> {
        let q = query(path, ip, api_key, user, method, headers, cost)?;
        self.later(self.engine.start_check(q), future)
    }

    /// Decides an HTTP request as the gateway does: `peer` is the socket
    /// peer; the client IP is taken from forwarding headers only when the
    /// peer is a trusted proxy.
    #[pyo3(signature = (peer, method, path, headers, cost=1))]
    fn check_http(
        &self,
        py: Python<'_>,
        peer: Option<&str>,
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        cost: u64,
    ) -> PyResult<Decision> {
        let q = http_query(peer, method, path, headers, cost)?;
        self.finish(py, self.engine.start_http(q))
    }

    /// `check_http`, answering now or queueing the answer for `future`.
    #[pyo3(signature = (future, peer, method, path, headers, cost=1))]
    fn start_http(
        &self,
        future: Py<PyAny>,
        peer: Option<&str>,
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        cost: u64,
    ) -> PyResult<Option<Decision>> {
        let q = http_query(peer, method, path, headers, cost)?;
        self.later(self.engine.start_http(q), future)
    }
}

fn query(
    path: &str,
    ip_text: Option<&str>,
    api_key: Option<String>,
    user: Option<String>,
    method: Option<String>,
    headers: Option<Vec<(String, String)>>,
    cost: u64,
) -> PyResult<Query> {
    Ok(Query {
        ip: ip(ip_text)?,
        method,
        path: path.to_string(),
        api_key,
        user,
        headers: headers.unwrap_or_default(),
        cost: Some(cost),
    })
}

fn http_query(
    peer: Option<&str>,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    cost: u64,
) -> PyResult<HttpQuery> {
    Ok(HttpQuery {
        peer: ip(peer)?,
        method,
        path,
        headers,
        cost: Some(cost),
    })
}
