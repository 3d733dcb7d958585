//! What is seen of each decision: [`Observer`] receives a [`Seen`] for
//! every request decided (metrics, logs).

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::policy::{fingerprint, CheckError, Held};
use floodgate_core::{Request, Timestamp, Verdict};

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
    /// The user id (a verified token's user claim, else the user header).
    pub user: Option<&'a str>,
    /// When it was decided.
    pub now: Timestamp,
    /// The verdict, or why there is none.
    pub verdict: Result<&'a Verdict, &'a CheckError>,
    /// Time taken to decide.
    pub elapsed: Duration,
}

impl<'a> Seen<'a> {
    /// What is seen of `req`, decided at `now` as `verdict` in `elapsed`.
    pub fn new(
        req: &'a Request<'_>,
        now: Timestamp,
        verdict: Result<&'a Verdict, &'a CheckError>,
        elapsed: Duration,
    ) -> Seen<'a> {
        Seen {
            ip: req.ip,
            method: req.method,
            path: req.path,
            api_key: req.api_key,
            user: req.user.as_deref(),
            now,
            verdict,
            elapsed,
        }
    }

    /// The API key's fingerprint (safe to log), if the request had a key.
    pub fn key_fingerprint(&self) -> Option<String> {
        self.api_key.map(fingerprint)
    }

    /// Feeds the API key to `hasher` (for counting by key without
    /// keeping it); false when the request had no key.
    pub fn hash_key<H: Hasher>(&self, hasher: &mut H) -> bool {
        match self.api_key {
            Some(k) => {
                k.hash(hasher);
                true
            }
            None => false,
        }
    }
}

/// Receives every decision (metrics, logs). Called on the request path:
/// keep it cheap.
pub trait Observer: Send + Sync + 'static {
    /// One request decided.
    fn observe(&self, seen: &Seen<'_>);

    /// Concurrency slots taken (`taken`) by a request that goes on, or
    /// given back (released, or handed to a decision API caller).
    fn slots(&self, held: &Held, taken: bool) {
        let _ = (held, taken);
    }

    /// A renewal found that a slot of a request still in flight had lost
    /// its lease (it counts for nothing from then on).
    fn lease_lost(&self, held: &Held) {
        let _ = held;
    }
}

/// Two observers, each told every decision in turn (metrics and
/// analytics, say).
pub struct Both(pub Arc<dyn Observer>, pub Arc<dyn Observer>);

impl Observer for Both {
    fn observe(&self, seen: &Seen<'_>) {
        self.0.observe(seen);
        self.1.observe(seen);
    }

    fn slots(&self, held: &Held, taken: bool) {
        self.0.slots(held, taken);
        self.1.slots(held, taken);
    }

    fn lease_lost(&self, held: &Held) {
        self.0.lease_lost(held);
        self.1.lease_lost(held);
    }
}
