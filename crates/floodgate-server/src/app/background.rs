//! The server's background tasks, each ended by the stop signal: the
//! live policy kept in step with Redis, the fleet view's reports, and the
//! config file's watch.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use floodgate_admin::{fleet, Control};
use tokio::sync::watch;

use super::reload::Reloader;
use super::stores::Stores;

/// Starts the tasks for `control`, whose policy `stores` keep.
pub fn spawn(
    stores: &Stores,
    control: &Control,
    reloader: &Arc<Reloader>,
    watch_file: Option<(PathBuf, Duration)>,
    stop: &watch::Receiver<bool>,
) {
    if let Some(r) = &stores.redis_policy {
        r.spawn_sync(control.live.clone(), stop.clone());
    }
    if let Some(f) = control.dashboard.fleet.clone() {
        fleet::spawn(f, Arc::new(control.clone()), stop.clone());
    }
    if let Some((path, every)) = watch_file {
        tokio::spawn(watch_config(path, every, reloader.clone(), stop.clone()));
    }
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Reloads the config file whenever its time or size changes, checking
/// `every` so long.
async fn watch_config(
    path: PathBuf,
    every: Duration,
    reloader: Arc<Reloader>,
    mut stop: watch::Receiver<bool>,
) {
    let mut seen = file_stamp(&path);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let now = file_stamp(&path);
        if now != seen {
            seen = now;
            tracing::info!(file = %path.display(), "config file changed");
            let _ = reloader.reload().await;
        }
    }
}
