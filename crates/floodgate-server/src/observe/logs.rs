//! Logs through `tracing`, as text or JSON, and the rejection log: one line
//! per denied request with rule, client IP, path and a fingerprint of the
//! key (never the key), itself rate-limited, with a count of the lines it
//! suppressed. The `redis` crate's own floods are held back in
//! `log_limit.rs`.

use std::sync::Arc;

use floodgate_core::gate::LogGate;
use floodgate_core::policy::{DecisionView, RetryView};
use floodgate_core::{Clock, SystemMonotonic, Verdict};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use super::log_limit::{LimitNoisy, NoisyTargets, PER_SECOND};
use floodgate_tower::Seen;

pub use floodgate_config::LogFormat;

/// Installs the global subscriber (once; later calls are ignored). The
/// `redis` crate's own lines are held back past a few a second per target
/// and summarised every second (see [`log_limit`](super::log_limit)).
pub fn init(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let noisy = Arc::new(NoisyTargets::new(
        PER_SECOND,
        Arc::new(SystemMonotonic::default()),
    ));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt.with_filter(LimitNoisy(Arc::clone(&noisy))))
        .try_init();
    if installed.is_ok() {
        // The summaries: a thread of its own, as this runs before (and
        // outside) the runtime.
        let _ = std::thread::Builder::new()
            .name("floodgate-log-summary".into())
            .spawn(move || loop {
                std::thread::sleep(SUMMARY_EVERY);
                noisy.flush();
            });
    }
}

/// How often held-back `redis` lines are summarised.
const SUMMARY_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The rejection log, itself limited (a [`LogGate`] from the core).
pub struct RejectionLog {
    clock: Arc<dyn Clock>,
    gate: LogGate,
}

impl RejectionLog {
    /// Logs at most `per_second` lines a second (bursts as large); 0:
    /// every rejection.
    pub fn new(per_second: u64, clock: Arc<dyn Clock>) -> Self {
        RejectionLog {
            gate: LogGate::new(per_second, per_second, clock.clone()),
            clock,
        }
    }

    /// Lines dropped by the log's own limit since start.
    pub fn suppressed_total(&self) -> u64 {
        self.gate.suppressed_total()
    }

    /// Logs a denied request (if the log's own limit allows).
    pub fn rejected(&self, seen: &Seen<'_>, v: &Verdict) {
        let Some(suppressed) = self.gate.admit() else {
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
        let client_ip = seen
            .ip
            .map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
        let key = seen.key_fingerprint();
        if v.unavailable() {
            tracing::warn!(
                target: "floodgate::rejections",
                rule,
                limit,
                client_ip = %client_ip,
                method = seen.method,
                path = seen.path,
                key = key.as_deref().unwrap_or("-"),
                retry_after = %retry_after,
                suppressed_before = suppressed,
                "request denied: the rate limiter's store is unavailable and the limit fails closed"
            );
            return;
        }
        tracing::warn!(
            target: "floodgate::rejections",
            rule,
            limit,
            client_ip = %client_ip,
            method = seen.method,
            path = seen.path,
            key = key.as_deref().unwrap_or("-"),
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
        assert_eq!(log.gate.admit(), Some(0));
        assert_eq!(log.gate.admit(), Some(0));
        assert_eq!(log.gate.admit(), None);
        assert_eq!(log.gate.admit(), None);
        assert_eq!(log.suppressed_total(), 2);
        clock.advance(Duration::from_millis(500));
        // The next line written says how many were dropped before it.
        assert_eq!(log.gate.admit(), Some(2));
        let unlimited = RejectionLog::new(0, Arc::new(clock));
        assert!((0..100).all(|_| unlimited.gate.admit() == Some(0)));
    }
}
