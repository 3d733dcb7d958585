//! What is seen of each decision: [`Observer`] receives a [`Seen`] for
//! every request decided (metrics, logs).

use std::net::IpAddr;
use std::time::Duration;

use floodgate_core::policy::{fingerprint, CheckError};
use floodgate_core::{Request, Verdict};

/// What an observer sees of each decided request.
pub struct Seen<'a> {
    /// The client IP (after trusted proxies).
    pub ip: Option<IpAddr>,
    /// Method.
    pub method: &'a str,
    /// Path, without the query.
    pub path: &'a str,
    /// The API key: private, so that observers can only get its
    /// fingerprint (computed on demand, as most requests are not logged).
    api_key: Option<&'a str>,
    /// The verdict, or why there is none.
    pub verdict: Result<&'a Verdict, &'a CheckError>,
    /// Time taken to decide.
    pub elapsed: Duration,
}

impl<'a> Seen<'a> {
    /// What is seen of `req`, decided as `verdict` in `elapsed`.
    pub(crate) fn new(
        req: &Request<'a>,
        verdict: Result<&'a Verdict, &'a CheckError>,
        elapsed: Duration,
    ) -> Seen<'a> {
        Seen {
            ip: req.ip,
            method: req.method,
            path: req.path,
            api_key: req.api_key,
            verdict,
            elapsed,
        }
    }

    /// The API key's fingerprint (safe to log), if the request had a key.
    pub fn key_fingerprint(&self) -> Option<String> {
        self.api_key.map(fingerprint)
    }
}

/// Receives every decision (metrics, logs). Called on the request path:
/// keep it cheap.
pub trait Observer: Send + Sync + 'static {
    /// One request decided.
    fn observe(&self, seen: &Seen<'_>);
}
