//! The server: the public listener (gateway or demo endpoints behind the
//! rate-limit layer) and the admin listener, reloads and a graceful
//! shutdown.
//!
//! [`run`] serves until its `shutdown` future completes, reloading on each
//! item of its `reloads` stream; the binary feeds them from signals. Tests
//! use [`start`], which returns a handle with the bound addresses.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use floodgate_core::{Clock, Limiter, MonotonicClock, SystemClock, SystemMonotonic};
use floodgate_tower::{LimiterHandle, RateLimitLayer};
use futures_core::Stream;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::admin::{self, Admin, AdminState};
use crate::analytics::{Analytics, Both};
use crate::auth::Auth;
use crate::config::Config;
use crate::dashboard::session::Sessions;
use crate::dashboard::Dashboard;
use crate::error::{ReloadError, ServerError};
use crate::fleet::Fleet;
use crate::listener::{Listener, Workers};
use crate::live::LivePolicy;
use crate::logs::RejectionLog;
use crate::metrics::Metrics;
use crate::overload::{self, Overload};
use crate::reload::{ReloadReport, Reloader};
use crate::stores::{self, Stores};
use crate::websocket::WebSockets;
use crate::{demo, proxy};

/// The listeners, bound.
pub struct Listeners {
    /// The public listener.
    pub public: TcpListener,
    /// The admin listener.
    pub admin: TcpListener,
    /// The gRPC listener (Envoy's rate limit service), if any.
    pub grpc: Option<TcpListener>,
}

impl Listeners {
    /// Binds the addresses `config` names.
    pub async fn bind(config: &Config) -> Result<Listeners, ServerError> {
        let bind = |what, addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { what, addr, source })
        };
        Ok(Listeners {
            public: bind("public", config.listen).await?,
            admin: bind("admin", config.admin_listen).await?,
            grpc: match config.grpc_listen {
                Some(addr) => Some(bind("grpc", addr).await?),
                None => None,
            },
        })
    }
}

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

/// Serves `config` on `listeners` until `shutdown` completes, then drains
/// in-flight requests (up to `shutdown_grace`). Each item of `reloads`
/// reloads the config file.
pub async fn run<R>(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
    mut reloads: R,
    opts: Options,
) -> Result<(), ServerError>
where
    R: Stream<Item = ()> + Unpin,
{
    let running = start(config, listeners, opts).await?;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut reloads).poll_next(cx));
        tokio::select! {
            r = next => match r {
                Some(()) => {
                    tracing::info!("reloading the config");
                    if let Err(e) = running.reload().await {
                        // Already logged, with its reason, where it failed.
                        tracing::debug!(error = %e, "reload failed");
                    }
                }
                // No more reloads: wait for the shutdown alone.
                None => {
                    shutdown.as_mut().await;
                    break;
                }
            },
            _ = shutdown.as_mut() => break,
        }
    }
    running.shutdown().await
}

/// A running server.
pub struct Running {
    /// Where the public listener listens.
    pub public_addr: SocketAddr,
    /// Where the admin listener listens.
    pub admin_addr: SocketAddr,
    /// Where the gRPC listener listens, if there is one.
    pub grpc_addr: Option<SocketAddr>,
    reloader: Arc<Reloader>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl Running {
    /// Reloads the config file now. On error the running config stays.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        self.reloader.reload().await
    }

    /// Stops accepting, drains in-flight requests (up to the grace period)
    /// and returns.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await?
    }
}

fn file_stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Starts the server on `listeners` and returns its handle.
pub async fn start(
    config: Config,
    listeners: Listeners,
    opts: Options,
) -> Result<Running, ServerError> {
    let Listeners {
        public,
        admin: admin_listener,
        grpc,
    } = listeners;
    let public_addr = public.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;
    let grpc_addr = grpc.as_ref().map(|l| l.local_addr()).transpose()?;

    // Every listener's connections are served on these threads, and the
    // Redis store's connections run there too.
    let workers = Workers::start(config.threads).map_err(ServerError::Threads)?;
    let rejections = RejectionLog::new(config.log.rejections_per_second, opts.clock.clone());
    let metrics = Arc::new(Metrics::new(rejections));
    let Stores {
        store,
        redis,
        policy_backend,
        redis_policy,
    } = stores::build(
        &config,
        opts.monotonic.clone(),
        metrics.store_latency(),
        workers.placement(),
    )
    .await;
    metrics.set_store(store.clone(), redis.clone());
    let limiter = Arc::new(Limiter::new(config.policy.clone(), store.clone()));
    let dashboard_config = config.document.server.admin.dashboard.clone();
    // The dashboard and the metric `floodgate_near_limit_total` count
    // near-limit decisions at the same share.
    metrics
        .decisions()
        .set_near_limit_share(dashboard_config.near_limit_share());
    let analytics = Arc::new(Analytics::new(
        dashboard_config.near_limit_share(),
        opts.clock.clone(),
    ));
    let handle = LimiterHandle::with_clock(
        limiter,
        config.trusted_proxies.clone(),
        opts.clock.clone(),
        Some(Arc::new(Both(metrics.clone(), analytics.clone()))),
    );

    let overload = config.upstream.as_ref().and_then(|u| u.overload).map(|s| {
        let o = Overload::new(s, opts.monotonic.clone());
        metrics.set_overload(o.clone());
        o
    });
    // Stops the listeners, the file watch and the WebSocket relays.
    let (stop_tx, stop_rx) = watch::channel(false);
    let app: Router = match &config.upstream {
        Some(u) => {
            let websocket = u
                .websocket
                .clone()
                .map(|s| WebSockets::new(s, metrics.clone(), handle.clone(), stop_rx.clone()));
            Router::new()
                .fallback(proxy::forward)
                .with_state(proxy::Gateway::new(
                    u.clone(),
                    metrics.clone(),
                    overload.clone(),
                    websocket,
                    config.threads,
                ))
        }
        None => demo::router(),
    }
    .layer(RateLimitLayer::new(handle.clone()));
    // Shedding comes first: a request past the in-flight bound costs no
    // decision and consumes no quota.
    let app = match overload {
        Some(o) => app.layer(axum::middleware::from_fn_with_state(o, overload::admit)),
        None => app,
    };
    // The gateway's errors are JSON already, and its upstream's answers
    // pass as they are.
    let public_serving = Listener::new(
        "public",
        app,
        config.public_connections(),
        metrics.clone(),
        config.upstream.is_none(),
    )
    .on(workers.clone());

    let grpc_serving = match grpc {
        Some(l) => {
            let limits = config.grpc_connections();
            let max_message = usize::try_from(limits.max_body).unwrap_or(usize::MAX);
            let services = crate::grpc::services(handle.clone(), max_message);
            let serving =
                Listener::grpc("grpc", services, limits, metrics.clone()).on(workers.clone());
            Some((serving, l))
        }
        None => None,
    };

    let live = LivePolicy::start(
        config.document.policy.clone(),
        policy_backend,
        handle.clone(),
        store,
        opts.clock.clone(),
    )
    .await
    .map_err(ServerError::Policy)?;
    let ready = Arc::new(AtomicBool::new(true));
    let auth = Arc::new(Auth::new(config.admin_tokens.clone(), opts.clock.clone()));
    let fleet = config.redis.clone().map(|rc| {
        Arc::new(Fleet::new(
            dashboard_config
                .replica
                .clone()
                .unwrap_or_else(|| crate::fleet::default_replica_name(admin_addr.port())),
            dashboard_config.publish_every(),
            dashboard_config.replica_timeout(),
            rc,
            opts.clock.clone(),
        ))
    });
    let admin_state = Admin::new(AdminState {
        handle: handle.clone(),
        metrics: metrics.clone(),
        auth: auth.clone(),
        ready: ready.clone(),
        live: live.clone(),
        dashboard: Arc::new(Dashboard {
            analytics,
            sessions: Sessions::new(dashboard_config.session_ttl(), opts.clock.clone()),
            redis: redis.clone(),
            store_latency: crate::dashboard::latency::Window::new(metrics.store_latency()),
            replica: match (&fleet, &dashboard_config.replica) {
                (Some(f), _) => f.replica.clone(),
                (None, Some(name)) => name.clone(),
                (None, None) => admin_addr.to_string(),
            },
            near_limit_share: dashboard_config.near_limit_share(),
            fleet,
        }),
    });
    let admin_app = admin::router(admin_state.clone());

    let admin_serving = Listener::new(
        "admin",
        admin_app,
        config.admin_connections(),
        metrics.clone(),
        true,
    )
    .with_fast_route(crate::check::fast_route(admin_state.clone()))
    .on(workers);

    let grace = config.shutdown_grace;
    let reloader = Arc::new(Reloader {
        path: opts.config_path.clone(),
        handle,
        live,
        redis,
        auth,
        current: Mutex::new(config),
    });

    // Watch the file for changes, and the kept policy.
    if let Some(r) = &redis_policy {
        r.spawn_sync(reloader.live.clone(), stop_rx.clone());
    }
    crate::fleet::spawn(admin_state, stop_rx.clone());
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
                    let _ = reloader.reload().await;
                }
            }
        });
    }

    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        // The admin listener outlives the public one, so that `/readyz`
        // answers 503 while in-flight requests drain.
        let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
        let public_srv = public_serving.serve(public, stop_rx.clone());
        let admin_srv = admin_serving.serve(admin_listener, admin_stop_rx);
        let mut public_task = tokio::spawn(public_srv);
        let mut admin_task = tokio::spawn(admin_srv);
        // No gRPC listener: a task that never ends on its own.
        let mut grpc_task = match grpc_serving {
            Some((serving, l)) => tokio::spawn(serving.serve(l, stop_rx.clone())),
            None => {
                let mut stop = stop_rx.clone();
                tokio::spawn(async move {
                    let _ = stop.wait_for(|s| *s).await;
                    Ok(())
                })
            }
        };
        let served = |what, r: Result<std::io::Result<()>, tokio::task::JoinError>| match r {
            Ok(Ok(())) => ServerError::Stopped(what),
            Ok(Err(source)) => ServerError::Serve { what, source },
            Err(e) => ServerError::Task(e),
        };
        tokio::select! {
            _ = shutdown_rx => {}
            r = &mut public_task => return Err(served("public", r)),
            r = &mut admin_task => return Err(served("admin", r)),
            r = &mut grpc_task => return Err(served("grpc", r)),
        }
        tracing::info!(grace = ?grace, "shutting down: draining in-flight requests");
        ready.store(false, Ordering::SeqCst);
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(grace, async {
            let _ = (&mut public_task).await;
            let _ = (&mut grpc_task).await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!("grace period over: closing the remaining connections");
            public_task.abort();
            grpc_task.abort();
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

    match grpc_addr {
        Some(grpc) => {
            tracing::info!(public = %public_addr, admin = %admin_addr, grpc = %grpc, "floodgate listening")
        }
        None => tracing::info!(public = %public_addr, admin = %admin_addr, "floodgate listening"),
    }
    Ok(Running {
        public_addr,
        admin_addr,
        grpc_addr,
        reloader,
        shutdown: Some(shutdown_tx),
        task,
    })
}
