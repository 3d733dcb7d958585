//! The listeners served until the shutdown, then drained: the public and
//! gRPC listeners stop accepting and finish their requests (up to the
//! grace period) while the admin listener stays up, so that `/readyz`
//! answers 503 meanwhile; then the admin listener stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinError, JoinHandle};

use super::error::ServerError;
use crate::gateway::websocket::WebSockets;
use crate::net::Listener;

/// The listeners to serve, with their sockets.
pub struct Serving {
    /// The public listener.
    pub public: (Listener, TcpListener),
    /// The admin listener.
    pub admin: (Listener, TcpListener),
    /// The gRPC listener, if any.
    pub grpc: Option<(Listener, TcpListener)>,
    /// The gateway's WebSocket relays, if it proxies them.
    pub relays: Option<Arc<WebSockets>>,
}

/// How the shutdown goes.
pub struct Shutdown {
    /// Completes when the shutdown begins.
    pub begin: oneshot::Receiver<()>,
    /// Turned true when it begins: stops the data plane's listeners and
    /// the background tasks.
    pub stop: watch::Sender<bool>,
    /// False once it begins.
    pub ready: Arc<AtomicBool>,
    /// Time allowed to finish in-flight requests.
    pub grace: Duration,
    /// Runs once in-flight requests are done (or the grace is over):
    /// leased slices given back.
    pub after_drain: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

fn served(what: &'static str, r: Result<std::io::Result<()>, JoinError>) -> ServerError {
    match r {
        Ok(Ok(())) => ServerError::Stopped(what),
        Ok(Err(source)) => ServerError::Serve { what, source },
        Err(e) => ServerError::Task(e),
    }
}

/// A task that never ends on its own (no gRPC listener).
fn until_stopped(mut stop: watch::Receiver<bool>) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        let _ = stop.wait_for(|s| *s).await;
        Ok(())
    })
}

/// Serves until `shutdown` begins, then drains.
pub async fn serve(serving: Serving, shutdown: Shutdown) -> Result<(), ServerError> {
    let stop_rx = shutdown.stop.subscribe();
    let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
    let (public, l) = serving.public;
    let mut public_task = tokio::spawn(public.serve(l, stop_rx.clone()));
    let (admin, l) = serving.admin;
    let mut admin_task = tokio::spawn(admin.serve(l, admin_stop_rx));
    let mut grpc_task = match serving.grpc {
        Some((grpc, l)) => tokio::spawn(grpc.serve(l, stop_rx.clone())),
        None => until_stopped(stop_rx),
    };
    tokio::select! {
        _ = shutdown.begin => {}
        r = &mut public_task => return Err(served("public", r)),
        r = &mut admin_task => return Err(served("admin", r)),
        r = &mut grpc_task => return Err(served("grpc", r)),
    }
    tracing::info!(grace = ?shutdown.grace, "shutting down: draining in-flight requests");
    shutdown.ready.store(false, Ordering::SeqCst);
    let _ = shutdown.stop.send(true);
    let relays = serving.relays;
    let drained = tokio::time::timeout(shutdown.grace, async {
        let _ = (&mut public_task).await;
        let _ = (&mut grpc_task).await;
        // Upgraded connections left the listener: each relay sends both
        // sides its close frame (1001) before the process may exit.
        if let Some(r) = &relays {
            r.drained().await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("grace period over: closing the remaining connections");
        public_task.abort();
        grpc_task.abort();
    }
    if let Some(f) = shutdown.after_drain {
        if tokio::time::timeout(Duration::from_secs(2), f)
            .await
            .is_err()
        {
            tracing::warn!("leased slices not all given back in time");
        }
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
}
