//! Logs through `tracing`, as text or JSON, and the rejection log: one line
//! per denied request with rule, client IP, path and a fingerprint of the
//! key (never the key), itself rate-limited, with a count of the lines it
//! suppressed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use floodgate_core::algorithm::{self, State};
use floodgate_core::policy::{DecisionView, RetryView};
use floodgate_core::{Clock, Quota, Rate, Verdict};
use floodgate_tower::Seen;
use parking_lot::Mutex;

pub use floodgate_config::LogFormat;

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The rejection log and its own limiter (a token bucket from the core).
pub struct RejectionLog {
    clock: Arc<dyn Clock>,
    quota: Option<Quota>,
    state: Mutex<(State, u64)>,
    suppressed_total: AtomicU64,
}

impl RejectionLog {
    /// At most `per_second` lines a second (bursts of as many); 0 logs
    /// every rejection.
    pub fn new(per_second: u64, clock: Arc<dyn Clock>) -> Self {
        let quota = (per_second > 0).then(|| {
            Quota::token_bucket(per_second, Rate::per_second(per_second).expect("nonzero"))
                .expect("valid log quota")
        });
        let state = match &quota {
            Some(q) => State::fresh(q, clock.now()),
            None => State::fresh(
                &Quota::token_bucket(1, Rate::per_second(1).expect("nonzero")).expect("valid"),
                clock.now(),
            ),
        };
        RejectionLog {
            clock,
            quota,
            state: Mutex::new((state, 0)),
            suppressed_total: AtomicU64::new(0),
        }
    }

    /// Lines suppressed since start.
    pub fn suppressed_total(&self) -> u64 {
        self.suppressed_total.load(Ordering::Relaxed)
    }

    /// Whether a line may be written now, and how many were suppressed
    /// since the last one written.
    fn admit(&self) -> Option<u64> {
        let Some(q) = &self.quota else {
            return Some(0);
        };
        let mut g = self.state.lock();
        let d = algorithm::decide(&mut g.0, self.clock.now(), 1, q);
        if d.allowed {
            Some(std::mem::take(&mut g.1))
        } else {
            g.1 += 1;
            self.suppressed_total.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Logs a denied request (if the log's own limit allows).
    pub fn rejected(&self, seen: &Seen<'_>, v: &Verdict) {
        let Some(suppressed) = self.admit() else {
            return;
        };
        let view = DecisionView::trace(v, self.clock.now());
        let (Some(rule), Some(limit)) = (view.rule, view.limit_name) else {
            return;
        };
        let retry_after = match view.retry_after {
            Some(RetryView::Seconds(s)) => format!("{s:.3}s"),
            Some(RetryView::Whole(s)) => format!("{s}s"),
            _ => "never".into(),
        };
        tracing::warn!(
            target: "floodgate::rejections",
            rule,
            limit,
            client_ip = %seen.ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string()),
            method = seen.method,
            path = seen.path,
            key = seen.key_fingerprint().as_deref().unwrap_or("-"),
            retry_after = %retry_after,
            suppressed_before = suppressed,
            "request rate limited"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{ManualClock, Timestamp};
    use std::time::Duration;

    #[test]
    fn rejection_log_is_itself_limited() {
        let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
        let log = RejectionLog::new(2, Arc::new(clock.clone()));
        assert_eq!(log.admit(), Some(0));
        assert_eq!(log.admit(), Some(0));
        assert_eq!(log.admit(), None);
        assert_eq!(log.admit(), None);
        assert_eq!(log.suppressed_total(), 2);
        clock.advance(Duration::from_millis(500));
        // The next line written says how many were dropped before it.
        assert_eq!(log.admit(), Some(2));
        let unlimited = RejectionLog::new(0, Arc::new(clock));
        assert!((0..100).all(|_| unlimited.admit() == Some(0)));
    }
}
