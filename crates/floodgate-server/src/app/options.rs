//! How the server runs: its clocks (tests give manual ones), the config
//! file it reloads and how often it looks at it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::{Clock, MonotonicClock, SystemClock, SystemMonotonic};

/// How the server runs.
pub struct Options {
    /// The clock decisions are taken on.
    pub clock: Arc<dyn Clock>,
    /// The clock the Redis breaker and reconnects are paced by.
    pub monotonic: Arc<dyn MonotonicClock>,
    /// The config file, for reloads (none: the embedded default).
    pub config_path: Option<PathBuf>,
    /// Check the file for changes this often (none: only on request).
    pub watch_interval: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(SystemClock),
            monotonic: Arc::new(SystemMonotonic::default()),
            config_path: None,
            watch_interval: Some(Duration::from_secs(2)),
        }
    }
}
