//! The server's wiring: the data plane's parts built once, the control
//! plane built on them, the listeners, reloads and a graceful shutdown.
//!
//! [`run`] serves until its `shutdown` future completes, reloading on each
//! item of its `reloads` stream; the binary feeds them from signals. Tests
//! use [`start`], which returns a handle with the bound addresses.
//!
//! # Layout
//!
//! - [`listeners`]: the listeners, bound.
//! - [`options`]: the clocks, the config file and its watch.
//! - [`stores`]: the store the config asks for, and where the policy is
//!   kept.
//! - [`parts`]: the data plane's shared parts (store, limiter handle,
//!   metrics, analytics, live policy).
//! - [`control`]: the control plane built on them.
//! - [`public`]: the public and gRPC listeners.
//! - [`admin`]: the admin listener's routes.
//! - [`reload`]: config reloads, and the changes that need a restart.
//! - [`background`]: the policy sync, fleet reports and the file watch.
//! - [`serve`]: serving and the graceful shutdown.
//! - [`signals`]: the binary's signals: stop, reload.
//! - [`error`]: `ServerError`, `ReloadError`.

pub mod admin;
pub mod background;
pub mod control;
pub mod error;
pub mod leased;
pub mod listeners;
pub mod options;
pub mod parts;
pub mod public;
pub mod reload;
pub mod serve;
pub mod signals;
pub mod stores;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use futures_core::Stream;
use parking_lot::Mutex;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::net::Workers;
use error::{ReloadError, ServerError};
pub use listeners::{Addrs, Listeners};
pub use options::Options;
use parts::Parts;
use reload::{ReloadReport, Reloader};
use serve::{Serving, Shutdown};

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

/// Starts the server on `listeners` and returns its handle.
pub async fn start(
    config: Config,
    listeners: Listeners,
    opts: Options,
) -> Result<Running, ServerError> {
    let addrs = Addrs::of(&listeners)?;
    // Every listener's connections are served on these threads, and the
    // Redis store's connections run there too.
    let workers = Workers::start(config.threads).map_err(ServerError::Threads)?;
    let parts = Parts::build(&config, &opts, &workers).await?;
    let control = control::build(&config, &parts, &opts, addrs.admin);
    // Stops the data plane's listeners, the WebSocket relays and the
    // background tasks.
    let (stop_tx, stop_rx) = watch::channel(false);
    let ready = Arc::new(AtomicBool::new(true));
    let (public, relays) = public::listener(&config, &parts, &workers, &stop_rx);
    let serving = Serving {
        public: (public, listeners.public),
        relays,
        grpc: listeners
            .grpc
            .map(|l| (public::grpc_listener(&config, &parts, &workers), l)),
        admin: (
            admin::listener(&config, &parts, &control, ready.clone(), workers),
            listeners.admin,
        ),
    };
    let grace = config.shutdown_grace;
    let reloader = Arc::new(Reloader {
        path: opts.config_path.clone(),
        handle: parts.handle.clone(),
        live: parts.live.clone(),
        redis: parts.stores.redis.clone(),
        auth: control.auth.clone(),
        current: Mutex::new(config),
    });
    let watch_file = opts.config_path.clone().zip(opts.watch_interval);
    background::spawn(&parts.stores, &control, &reloader, watch_file, &stop_rx);
    let after_drain = upkeep(&parts, &stop_rx);
    let (shutdown_tx, begin) = oneshot::channel::<()>();
    let shutdown = Shutdown {
        begin,
        stop: stop_tx,
        ready,
        grace,
        after_drain,
    };
    let task = tokio::spawn(serve::serve(serving, shutdown));
    match addrs.grpc {
        Some(grpc) => {
            tracing::info!(public = %addrs.public, admin = %addrs.admin, grpc = %grpc, "floodgate listening")
        }
        None => tracing::info!(public = %addrs.public, admin = %addrs.admin, "floodgate listening"),
    }
    Ok(Running {
        public_addr: addrs.public,
        admin_addr: addrs.admin,
        grpc_addr: addrs.grpc,
        reloader,
        shutdown: Some(shutdown_tx),
        task,
    })
}

/// Starts the upkeep of the leased slices (the region's store's, and the
/// global store's with the region's pool); returns what the shutdown runs
/// once requests are drained.
fn upkeep(
    parts: &Parts,
    stop_rx: &watch::Receiver<bool>,
) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
    let clock = parts.handle.clock().clone();
    let mut ends = Vec::new();
    if let Some(l) = parts.stores.leased.clone() {
        let upkeep = leased::spawn(l.clone(), parts.handle.clone(), stop_rx.clone());
        ends.push(leased::at_shutdown(l, clock.clone(), upkeep));
    }
    if let Some(g) = &parts.stores.global {
        let upkeep = leased::spawn(g.leased.clone(), parts.handle.clone(), stop_rx.clone());
        let end = leased::at_shutdown(g.leased.clone(), clock.clone(), upkeep);
        let pool_upkeep = leased::spawn_pool(g.pool.clone(), clock.clone(), stop_rx.clone());
        ends.push(leased::pool_at_shutdown(
            end,
            g.pool.clone(),
            clock.clone(),
            pool_upkeep,
        ));
    }
    (!ends.is_empty()).then(|| leased::all(ends))
}
