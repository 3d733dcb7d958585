//! A retry policy for outbound tower clients that call rate-limited
//! services: a 429 (or a 503 that says when to come back) is retried after
//! the wait the server asks for (`Retry-After`, else the `RateLimit`
//! field, else `RateLimit-Reset`), or, when it asks for none, after an
//! exponential backoff with jitter; at most `max_retries` times, and never
//! when the server asks for a wait longer than `max_wait`.
//!
//! ```no_run
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use floodgate_tower::retry::RetryPolicy;
//! use tower::ServiceBuilder;
//! # fn client<S>(inner: S) where S: tower::Service<http::Request<Full<Bytes>>> + Clone {
//! let client = ServiceBuilder::new()
//!     .layer(RetryPolicy::new().max_retries(3).layer())
//!     .service(inner);
//! # }
//! ```
//!
//! Requests are retried whole, so their body must be `Clone` (for
//! example `Full<Bytes>` or `String`). A 429 means the request was not
//! served, so retrying it is safe whatever its method; errors (no
//! response at all) are not retried, since the request may have been.

mod hint;

use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Request, Response, StatusCode};
use tower::retry::{Policy, RetryLayer};

pub use hint::wait_hint;

/// A wait in progress.
pub type WaitFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where the policy's time comes from: how it waits, and the wall time an
/// HTTP-date `Retry-After` is read against. Tests give a manual one.
pub trait Sleeper: Clone + Send + Sync + 'static {
    /// Waits `d`.
    fn sleep(&self, d: Duration) -> WaitFuture;
    /// The wall time now.
    fn now(&self) -> SystemTime;
}

/// Tokio's timer and the system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, d: Duration) -> WaitFuture {
        Box::pin(tokio::time::sleep(d))
    }
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The retry policy. Each request starts with a fresh count of attempts
/// (tower clones the policy per request).
#[derive(Clone, Debug)]
pub struct RetryPolicy<S = TokioSleeper> {
    max_retries: u32,
    base_backoff: Duration,
    max_backoff: Duration,
    max_wait: Duration,
    retries: u32,
    sleeper: S,
}

/// Retries after the first try (default).
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// First backoff when the server names no wait (default).
pub const DEFAULT_BASE_BACKOFF: Duration = Duration::from_millis(100);
/// Longest backoff when the server names no wait (default).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Longest wait the policy accepts from a server (default); past it the
/// 429 is returned to the caller at once.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new()
    }
}

impl RetryPolicy {
    /// The defaults: 3 retries, backoff from 100 ms up to 10 s, waits of at
    /// most 60 s, tokio's timer.
    pub fn new() -> Self {
        RetryPolicy {
            max_retries: DEFAULT_MAX_RETRIES,
            base_backoff: DEFAULT_BASE_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_wait: DEFAULT_MAX_WAIT,
            retries: 0,
            sleeper: TokioSleeper,
        }
    }
}

impl<S: Sleeper> RetryPolicy<S> {
    /// At most `n` retries after the first try (0: never retry).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Backoff when the server names no wait: about `base`, doubling with
    /// each retry up to `max`, each drawn between half and all of it.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base_backoff = base;
        self.max_backoff = max.max(base);
        self
    }

    /// The longest wait accepted from a server; a 429 asking for more is
    /// returned to the caller at once.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }

    /// The same policy on another timer and clock.
    pub fn with_sleeper<T: Sleeper>(self, sleeper: T) -> RetryPolicy<T> {
        RetryPolicy {
            max_retries: self.max_retries,
            base_backoff: self.base_backoff,
            max_backoff: self.max_backoff,
            max_wait: self.max_wait,
            retries: self.retries,
            sleeper,
        }
    }

    /// A tower layer retrying with this policy.
    pub fn layer(self) -> RetryLayer<Self> {
        RetryLayer::new(self)
    }

    /// How long to wait before retrying a response with `status` and
    /// `headers`, or `None` to return it as it is. Counts the retry.
    pub fn next_wait(&mut self, status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
        if self.retries >= self.max_retries {
            return None;
        }
        let hint = wait_hint(headers, self.sleeper.now());
        let retryable = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::SERVICE_UNAVAILABLE && hint.is_some());
        if !retryable {
            return None;
        }
        // The server's wait is compared with `max_wait` as it was asked,
        // before the spread is added to it.
        let wait = match hint {
            Some(h) if h > self.max_wait => return None,
            Some(h) => h.saturating_add(spread(h)),
            None => self.backoff_after(self.retries).min(self.max_wait),
        };
        self.retries += 1;
        Some(wait)
    }

    /// The backoff before retry `n` (from 0): `base * 2^n` capped at
    /// `max`, drawn in its upper half.
    fn backoff_after(&self, n: u32) -> Duration {
        let full = self
            .base_backoff
            .saturating_mul(2u32.saturating_pow(n))
            .min(self.max_backoff);
        let half = full / 2;
        half + Duration::from_nanos(random_below(half.as_nanos() as u64 + 1))
    }
}

/// Up to a tenth more than the server's wait (at most a second), so that
/// clients told the same instant do not all come back at once.
fn spread(hint: Duration) -> Duration {
    let room = (hint / 10).min(Duration::from_secs(1));
    Duration::from_nanos(random_below(room.as_nanos() as u64 + 1))
}

/// A random number in `0..n` (`n` > 0), different for every call.
fn random_below(n: u64) -> u64 {
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let draw = DRAWS.fetch_add(1, Ordering::Relaxed);
    std::hash::RandomState::new().hash_one(draw) % n
}

impl<S, B, R, E> Policy<Request<B>, Response<R>, E> for RetryPolicy<S>
where
    S: Sleeper,
    B: Clone,
{
    type Future = WaitFuture;

    fn retry(
        &mut self,
        _req: &mut Request<B>,
        result: &mut Result<Response<R>, E>,
    ) -> Option<Self::Future> {
        let resp = result.as_ref().ok()?;
        let wait = self.next_wait(resp.status(), resp.headers())?;
        Some(self.sleeper.sleep(wait))
    }

    fn clone_request(&mut self, req: &Request<B>) -> Option<Request<B>> {
        let mut copy = Request::new(req.body().clone());
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }
}

#[cfg(test)]
mod tests;
