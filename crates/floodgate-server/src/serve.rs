//! `floodgate serve`: the public listener (gateway or demo endpoints behind
//! the rate-limit layer) and the admin listener, config reloads and a
//! graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use axum::Router;
use floodgate_core::{Clock, Limiter, Store, SystemClock};
use floodgate_tower::{Limits, RateLimitLayer};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::admin::{self, Admin};
use crate::config::Config;
use crate::logs::RejectionLog;
use crate::metrics::Metrics;
use crate::stores::{self, Resilient, Stores};
use crate::{demo, proxy};

/// How the server is started.
pub struct Options {
    /// The clock decisions are taken on.
    pub clock: Arc<dyn Clock>,
    /// The config file, for reloads (none: the embedded default).
    pub config_path: Option<PathBuf>,
    /// Check the file for changes this often (none: only on request).
    pub watch_interval: Option<Duration>,
    /// Listeners already bound (tests bind port 0); otherwise the config's
    /// addresses are bound.
    pub listeners: Option<(TcpListener, TcpListener)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(SystemClock),
            config_path: None,
            watch_interval: Some(Duration::from_secs(2)),
            listeners: None,
        }
    }
}

/// A running server.
pub struct Running {
    /// Where the public listener listens.
    pub public_addr: SocketAddr,
    /// Where the admin listener listens.
    pub admin_addr: SocketAddr,
    reloader: Arc<Reloader>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Reloads the config file now. On error the running config stays.
    pub fn reload(&self) -> Result<(), String> {
        self.reloader.reload()
    }

    /// Stops accepting, drains in-flight requests (up to the grace period)
    /// and returns.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await.context("server task")?
    }

    /// Waits until the server stops (after [`Running::trigger_shutdown`]
    /// or a fatal error).
    pub async fn wait(self) -> anyhow::Result<()> {
        let Running { task, shutdown, .. } = self;
        let _keep_open = shutdown;
        task.await.context("server task")?
    }

    /// A handle that starts the shutdown when sent to.
    pub fn trigger_shutdown(&mut self) -> Option<oneshot::Sender<()>> {
        self.shutdown.take()
    }
}

/// Applies config reloads.
struct Reloader {
    path: Option<PathBuf>,
    limits: Limits,
    store: Arc<dyn Store>,
    redis: Option<Arc<Resilient>>,
    current: Mutex<Config>,
}

impl Reloader {
    fn reload(&self) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Err("running on the embedded default config: nothing to reload".into());
        };
        let new = match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "config reload refused; keeping the previous config");
                return Err(format!("{e:#}"));
            }
        };
        let mut current = self.current.lock();
        for (what, changed) in [
            ("listen", new.listen != current.listen),
            (
                "admin",
                new.admin_listen != current.admin_listen || new.admin_token != current.admin_token,
            ),
            (
                "upstream",
                new.upstream.as_ref().map(|u| u.base.clone())
                    != current.upstream.as_ref().map(|u| u.base.clone()),
            ),
            (
                "store",
                new.memory.max_keys != current.memory.max_keys
                    || new.memory.shards != current.memory.shards,
            ),
            ("log", new.log.format != current.log.format),
        ] {
            if changed {
                tracing::warn!(
                    section = what,
                    "this change takes effect at the next restart"
                );
            }
        }
        if let (Some(r), Some(rc)) = (&self.redis, &current.redis) {
            r.set_rule_modes(stores::rule_modes(rc, &new.policy));
        }
        let limiter = Limiter::new(new.policy.clone(), self.store.clone());
        self.limits
            .swap(Arc::new(limiter), new.trusted_proxies.clone());
        tracing::info!(
            file = %path.display(),
            rules = new.policy.rules.len(),
            "config reloaded; counters of unchanged limits kept"
        );
        *current = new;
        Ok(())
    }
}

fn file_stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Starts the server.
pub async fn start(config: Config, opts: Options) -> anyhow::Result<Running> {
    let (public, admin_listener) = match opts.listeners {
        Some(l) => l,
        None => (
            TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?,
            TcpListener::bind(config.admin_listen)
                .await
                .with_context(|| format!("cannot listen on {} (admin)", config.admin_listen))?,
        ),
    };
    let public_addr = public.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;

    let Stores { store, redis } = stores::build(&config).await?;
    let rejections = RejectionLog::new(config.log.rejections_per_second, opts.clock.clone());
    let metrics = Arc::new(Metrics::new(rejections));
    metrics.set_store(store.clone(), redis.clone());
    let limiter = Arc::new(Limiter::new(config.policy.clone(), store.clone()));
    let limits = Limits::with_clock(
        limiter,
        config.trusted_proxies.clone(),
        opts.clock.clone(),
        Some(metrics.clone()),
    );

    let app: Router = match &config.upstream {
        Some(u) => Router::new()
            .fallback(proxy::forward)
            .with_state(proxy::Gateway::new(u.clone(), metrics.clone())),
        None => demo::router(),
    }
    .layer(RateLimitLayer::new(limits.clone()));

    let ready = Arc::new(AtomicBool::new(true));
    let admin_app = admin::router(Admin {
        limits: limits.clone(),
        metrics: metrics.clone(),
        token: config.admin_token.as_deref().map(Arc::from),
        ready: ready.clone(),
    });

    let reloader = Arc::new(Reloader {
        path: opts.config_path.clone(),
        limits,
        store,
        redis,
        current: Mutex::new(config.clone()),
    });

    // Watch the file for changes.
    let (stop_tx, stop_rx) = watch::channel(false);
    if let (Some(path), Some(every)) = (opts.config_path.clone(), opts.watch_interval) {
        let reloader = reloader.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
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
                    let _ = reloader.reload();
                }
            }
        });
    }

    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let grace = config.shutdown_grace;
    let task = tokio::spawn(async move {
        let signal = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        // The admin listener outlives the public one, so that `/readyz`
        // answers 503 while in-flight requests drain.
        let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
        let public_srv = axum::serve(
            public,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal(stop_rx.clone()));
        let admin_srv = axum::serve(
            admin_listener,
            admin_app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal(admin_stop_rx));
        let mut public_task = tokio::spawn(async move { public_srv.await });
        let mut admin_task = tokio::spawn(async move { admin_srv.await });
        tokio::select! {
            _ = shutdown_rx => {}
            r = &mut public_task => { r??; anyhow::bail!("public listener stopped"); }
            r = &mut admin_task => { r??; anyhow::bail!("admin listener stopped"); }
        }
        tracing::info!(grace = ?grace, "shutting down: draining in-flight requests");
        ready.store(false, Ordering::SeqCst);
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(grace, &mut public_task).await;
        if drained.is_err() {
            tracing::warn!("grace period over: closing the remaining connections");
            public_task.abort();
        }
        let _ = admin_stop_tx.send(true);
        if tokio::time::timeout(Duration::from_secs(1), &mut admin_task)
            .await
            .is_err()
        {
            admin_task.abort();
        }
        tracing::info!("stopped");
        Ok(())
    });

    tracing::info!(public = %public_addr, admin = %admin_addr, "floodgate listening");
    Ok(Running {
        public_addr,
        admin_addr,
        reloader,
        shutdown: Some(shutdown_tx),
        task,
    })
}
