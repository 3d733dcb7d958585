//! `NativeLimiter`: an [`Engine`] to Python. On the memory store a check
//! is answered with the GIL held. On Redis, `check` and `check_http`
//! decide with the GIL released, on this thread (its own blocking
//! connection, see [`Engine::check`]); `start` and `start_http` (for
//! `async` callers) send the call with the GIL held, and the answer is
//! finished on the engine's runtime and queued for the event loop (see
//! [`Completions`]).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use floodgate_core::policy::Attributes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;

use super::clock::ManualClock;
use super::completions::Completions;
use super::decision::Decision;
use super::errors::{ask_error, setup_error};
use floodgate_core::Clock;

use crate::engine::{Engine, Started};
use crate::outcome::Answer;
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

    /// Decides `stated` now: with the GIL on the memory store (answered
    /// at once), without it on Redis.
    fn decide(&self, py: Python<'_>, stated: &Stated) -> PyResult<Decision> {
        let a = stated.attributes()?;
        if self.engine.is_local() {
            return answer(self.engine.decide(&a, stated.cost));
        }
        answer(py.detach(|| self.engine.decide(&a, stated.cost)))
    }

    /// [`NativeLimiter::decide`] for an HTTP request.
    fn decide_http(&self, py: Python<'_>, q: HttpQuery) -> PyResult<Decision> {
        if self.engine.is_local() {
            return answer(self.engine.check_http(&q));
        }
        answer(py.detach(|| self.engine.check_http(&q)))
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
    #[pyo3(
        signature = (path=None, ip=None, api_key=None, user=None, method=None, headers=None, cost=1),
        text_signature = "($self, path='/', ip=None, api_key=None, user=None, method=None, headers=None, cost=1)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        py: Python<'_>,
        path: Option<PyBackedStr>,
        ip: Option<PyBackedStr>,
        api_key: Option<PyBackedStr>,
        user: Option<PyBackedStr>,
        method: Option<PyBackedStr>,
        headers: Option<Vec<(PyBackedStr, PyBackedStr)>>,
        cost: u64,
    ) -> PyResult<Decision> {
        let stated = Stated {
            path,
            ip,
            api_key,
            user,
            method,
            headers,
            cost,
        };
        self.decide(py, &stated)
    }

    /// `check`, answering now or queueing the answer for `future` (an
    /// asyncio future, settled by `drain`).
    #[pyo3(
        signature = (future, path=None, ip=None, api_key=None, user=None, method=None, headers=None, cost=1),
        text_signature = "($self, future, path='/', ip=None, api_key=None, user=None, method=None, headers=None, cost=1)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        py: Python<'_>,
        future: Py<PyAny>,
        path: Option<PyBackedStr>,
        ip: Option<PyBackedStr>,
        api_key: Option<PyBackedStr>,
        user: Option<PyBackedStr>,
        method: Option<PyBackedStr>,
        headers: Option<Vec<(PyBackedStr, PyBackedStr)>>,
        cost: u64,
    ) -> PyResult<Option<Decision>> {
        let stated = Stated {
            path,
            ip,
            api_key,
            user,
            method,
            headers,
            cost,
        };
        if self.engine.is_local() {
            return self.decide(py, &stated).map(Some);
        }
        self.later(self.engine.start_check(stated.query()?), future)
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
        self.decide_http(py, q)
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

/// A request as `check` states it, its strings Python's (UTF-8 bytes
/// kept alive, not copied); no path is `/`.
struct Stated {
    path: Option<PyBackedStr>,
    ip: Option<PyBackedStr>,
    api_key: Option<PyBackedStr>,
    user: Option<PyBackedStr>,
    method: Option<PyBackedStr>,
    headers: Option<Vec<(PyBackedStr, PyBackedStr)>>,
    cost: u64,
}

impl Stated {
    /// The attributes, borrowing the strings.
    fn attributes(&self) -> PyResult<Attributes<'_>> {
        Ok(Attributes {
            ip: ip(self.ip.as_deref())?,
            method: self.method.as_deref(),
            path: self.path.as_deref().unwrap_or("/"),
            api_key: self.api_key.as_deref(),
            user: self.user.as_deref(),
            headers: self
                .headers
                .iter()
                .flatten()
                .map(|(k, v)| (&**k, &**v))
                .collect(),
        })
    }

    /// The same request, owning its strings (to be finished elsewhere).
    fn query(&self) -> PyResult<Query> {
        let own = |s: &Option<PyBackedStr>| s.as_deref().map(str::to_string);
        Ok(Query {
            ip: ip(self.ip.as_deref())?,
            method: own(&self.method),
            path: self.path.as_deref().unwrap_or("/").to_string(),
            api_key: own(&self.api_key),
            user: own(&self.user),
            headers: self
                .headers
                .iter()
                .flatten()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cost: Some(self.cost),
        })
    }
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
