//! Load shedding for the gateway: a bound on requests in flight toward the
//! upstream (`overload.max_in_flight`), lowered while the upstream's
//! latency rises (`overload.adaptive`, see [`aimd`]). A request past the
//! bound is answered at once with 503 and `Retry-After: 1`, before the
//! rate limiter (so it consumes no quota) and without queueing, so the
//! requests admitted keep their normal latency.
//!
//! A slot is held from admission until the response body has been sent or
//! dropped (the client went away, or the request failed).

pub mod aimd;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use bytes::Bytes;
use floodgate_config::overload::{defaults, OverloadSection};
use floodgate_core::time::MonotonicClock;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use parking_lot::Mutex;

use aimd::Aimd;

/// `overload:` with its defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Requests in flight toward the upstream at most.
    pub max_in_flight: usize,
    /// Follow the upstream's latency.
    pub adaptive: bool,
    /// The adaptive bound's floor.
    pub min_limit: usize,
    /// Latency over `tolerance` × the unloaded latency is congestion.
    pub tolerance: f64,
}

impl Settings {
    /// The settings of a checked section; `None` when disabled.
    pub fn from_section(s: &OverloadSection) -> Option<Settings> {
        if s.enabled == Some(false) {
            return None;
        }
        let max = s.max_in_flight.unwrap_or(defaults::MAX_IN_FLIGHT) as usize;
        Some(Settings {
            max_in_flight: max,
            adaptive: s.adaptive.unwrap_or(true),
            min_limit: (s.min_limit.unwrap_or(defaults::MIN_LIMIT) as usize).min(max),
            tolerance: s.tolerance.unwrap_or(defaults::TOLERANCE),
        })
    }
}

/// How often at most the shedding is logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The shared admission state.
pub struct Overload {
    settings: Settings,
    limit: AtomicUsize,
    in_flight: AtomicUsize,
    shed: AtomicU64,
    aimd: Mutex<Aimd>,
    clock: Arc<dyn MonotonicClock>,
    /// When shedding was last logged, and the shed count then.
    logged: Mutex<Option<(Duration, u64)>>,
}

/// A slot toward the upstream, given back when dropped.
pub struct Permit(Arc<Overload>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Overload {
    /// Admission with `settings`; `clock` paces the log.
    pub fn new(settings: Settings, clock: Arc<dyn MonotonicClock>) -> Arc<Overload> {
        let aimd = Aimd::new(
            settings.min_limit,
            settings.max_in_flight,
            settings.tolerance,
        );
        let start = if settings.adaptive {
            aimd.limit()
        } else {
            settings.max_in_flight
        };
        Arc::new(Overload {
            settings,
            limit: AtomicUsize::new(start),
            in_flight: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
            aimd: Mutex::new(aimd),
            clock,
            logged: Mutex::new(None),
        })
    }

    /// A slot, if one is free under the bound in force.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let limit = self.limit.load(Ordering::Acquire);
        let admitted = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok();
        if admitted {
            Some(Permit(self.clone()))
        } else {
            let shed = self.shed.fetch_add(1, Ordering::Relaxed) + 1;
            self.log_shedding(shed, limit);
            None
        }
    }

    /// The upstream answered after `latency`, or `failed` (timeout, no
    /// connection): the adaptive bound follows.
    pub fn sample(&self, latency: Duration, failed: bool) {
        if !self.settings.adaptive {
            return;
        }
        let in_flight = self.in_flight.load(Ordering::Acquire);
        let mut aimd = self.aimd.lock();
        let limit = aimd.on_sample(latency, failed, in_flight);
        // Stored under the lock: an older bound never overwrites a newer.
        self.limit.store(limit, Ordering::Release);
    }

    fn log_shedding(&self, shed: u64, limit: usize) {
        let now = self.clock.elapsed();
        let mut logged = self.logged.lock();
        let since = match *logged {
            Some((at, _)) if now.saturating_sub(at) < LOG_EVERY => return,
            Some((_, before)) => shed.saturating_sub(before),
            None => shed,
        };
        *logged = Some((now, shed));
        drop(logged);
        tracing::warn!(
            limit,
            in_flight = self.in_flight.load(Ordering::Relaxed),
            shed = since,
            "gateway overloaded: answering 503 to requests past the in-flight limit"
        );
    }

    /// The bound in force.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Requests shed so far.
    pub fn shed_total(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Appends the overload metrics to an exposition.
    pub fn render(&self, out: &mut String) {
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {v}");
        };
        gauge(
            out,
            "floodgate_overload_limit",
            "Requests in flight toward the upstream allowed now (adaptive).",
            self.limit() as u64,
        );
        gauge(
            out,
            "floodgate_overload_in_flight",
            "Requests in flight toward the upstream.",
            self.in_flight() as u64,
        );
        let _ = writeln!(
            out,
            "# HELP floodgate_overload_shed_total Requests answered 503 because the gateway was at its in-flight limit."
        );
        let _ = writeln!(out, "# TYPE floodgate_overload_shed_total counter");
        let _ = writeln!(out, "floodgate_overload_shed_total {}", self.shed_total());
    }
}

/// The body of a 503 past the bound.
const OVERLOADED: &str =
    r#"{"error":"overloaded","message":"The service is at capacity. Retry after 1 second."}"#;

/// The middleware: admits the request or answers 503 at once.
pub async fn admit(
    State(overload): State<Arc<Overload>>,
    req: Request,
    next: Next,
) -> Response<Body> {
    let Some(permit) = overload.try_acquire() else {
        // The same bytes every time: shedding costs as little as it can.
        let mut resp = Response::new(Body::from(Bytes::from_static(OVERLOADED.as_bytes())));
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    };
    let resp = next.run(req).await;
    // The slot is held until the body is sent or dropped.
    resp.map(|body| {
        Body::new(body.map_frame(move |frame| {
            let _held = &permit;
            frame
        }))
    })
}

impl crate::observe::metrics::Exposition for Overload {
    fn render(&self, out: &mut String) {
        Overload::render(self, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::ManualClock;

    fn overload(max: usize, adaptive: bool) -> Arc<Overload> {
        let settings = Settings {
            max_in_flight: max,
            adaptive,
            // An adaptive bound starts at 4 x min_limit: at `max` here.
            min_limit: max.div_ceil(4),
            tolerance: 2.0,
        };
        Overload::new(
            settings,
            Arc::new(ManualClock::new(floodgate_core::Timestamp(0))),
        )
    }

    #[test]
    fn slots_are_bounded_and_given_back() {
        let o = overload(2, false);
        let a = o.try_acquire().unwrap();
        let b = o.try_acquire().unwrap();
        assert!(o.try_acquire().is_none());
        assert_eq!((o.in_flight(), o.shed_total()), (2, 1));
        drop(a);
        let _c = o.try_acquire().unwrap();
        drop(b);
        assert_eq!(o.in_flight(), 1);
    }

    #[test]
    fn the_adaptive_bound_is_applied_to_admission() {
        let o = overload(10, true);
        for _ in 0..300 {
            o.sample(Duration::from_millis(10), false);
        }
        // In use (at least half of it in flight), slow answers lower it.
        let held: Vec<Permit> = (0..8).map(|_| o.try_acquire().unwrap()).collect();
        let mut n = 0;
        while o.limit() == 10 {
            o.sample(Duration::from_millis(80), false);
            n += 1;
            assert!(n < 100, "never lowered");
        }
        // Confirmed over a round trip, far past the threshold: halved.
        assert_eq!(o.limit(), 5);
        assert!(o.try_acquire().is_none());
        drop(held);
        let held: Vec<Permit> = (0..5).map(|_| o.try_acquire().unwrap()).collect();
        assert!(o.try_acquire().is_none());
        drop(held);
        // Not adaptive: samples change nothing.
        let fixed = overload(10, false);
        fixed.sample(Duration::from_millis(10), false);
        fixed.sample(Duration::from_secs(5), true);
        assert_eq!(fixed.limit(), 10);
    }

    #[test]
    fn defaults_and_disabling() {
        let s = Settings::from_section(&OverloadSection::default()).unwrap();
        assert_eq!(
            s,
            Settings {
                max_in_flight: 1024,
                adaptive: true,
                min_limit: 16,
                tolerance: 1.2
            }
        );
        let off = OverloadSection {
            enabled: Some(false),
            ..Default::default()
        };
        assert_eq!(Settings::from_section(&off), None);
    }
}
