//! The listeners' accept loop and connections, with their bounds: a
//! header-read and an idle timeout, open connections in total and per peer
//! IP, the size of request heads and bodies. Each bound that trips is
//! counted in the metrics and logged at warn (a line a second at most).
//!
//! # Layout
//!
//! - [`serve`]: accepts until the stop signal, then drains the open
//!   connections gracefully; one task per connection.
//! - `bounds`: open connections, in total and per IP.
//! - `connection`: one connection served, request by request.
//! - `watchdog`: what a connection waits for, and its deadline.
//! - `body`: the JSON 413 past `max_body`, JSON bodies on errors.
//! - `linger`: an early answer sent while the unread body is drained.
//! - [`fast`]: a route answered before the router (`POST /v1/check`).
//! - `raw`: the fast route's own HTTP/1.1 lane, before hyper.
//! - `prefixed`: the socket handed from the lane to hyper.
//! - [`workers`]: the threads that serve the connections.
//! - `shared`: what one listener's connections share.
//! - `h2`: the trait of a service that takes whole connections (gRPC).
//!
//! A connection upgraded to a WebSocket (by the gateway) leaves the
//! listener and its bounds once the `101` is sent: the gateway's own
//! WebSocket bounds hold it from then on.
//!
//! A connection past `max` or `max_per_ip` is accepted and closed at once
//! (rather than left in the kernel's backlog), so the client learns it at
//! once and the refusal is counted.

mod body;
mod bounds;
mod connection;
pub mod fast;
mod h2;
mod linger;
mod prefixed;
mod raw;
mod shared;
mod watchdog;
pub mod workers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::ConnectionLimits;
use crate::observe::metrics::Metrics;

use connection::{connection, Routes};
use fast::FastRoute;
pub(crate) use h2::{H2Service, Requests};
use shared::Shared;
pub(crate) use watchdog::{InFlight, Watched};
pub use workers::Workers;

#[doc(hidden)]
pub use raw::plain_check;

/// A listener ready to serve: its router with the body bound, and its
/// connection bounds.
pub struct Listener {
    shared: Arc<Shared>,
    app: Router,
    grpc: Option<Arc<dyn H2Service>>,
    fast: Option<FastRoute>,
    workers: Option<Arc<Workers>>,
}

impl Listener {
    /// `app` served as listener `name` within `limits`. With
    /// `json_errors`, error answers that are not JSON get a JSON body
    /// (not for the gateway: its upstream's answers pass as they are).
    pub fn new(
        name: &'static str,
        app: Router,
        limits: ConnectionLimits,
        metrics: Arc<Metrics>,
        json_errors: bool,
    ) -> Listener {
        let shared = Shared::new(name, limits, metrics);
        let app = if json_errors {
            app.layer(axum::middleware::from_fn(body::json_errors))
        } else {
            app
        };
        // `max_body` replaces axum's own 2 MB default for extractors.
        let app =
            app.layer(DefaultBodyLimit::disable())
                .layer(axum::middleware::from_fn_with_state(
                    shared.clone(),
                    body::limit_body,
                ));
        Listener {
            shared,
            app,
            grpc: None,
            fast: None,
            workers: None,
        }
    }

    /// The listener, serving its connections on `workers`' threads
    /// (without: on the runtime that runs [`Listener::serve`]).
    pub fn on(self, workers: Arc<Workers>) -> Listener {
        Listener {
            workers: Some(workers),
            ..self
        }
    }

    /// The listener, answering `route` before its router.
    pub fn with_fast_route(self, route: FastRoute) -> Listener {
        Listener {
            fast: Some(route),
            ..self
        }
    }

    /// The gRPC `services`, served as listener `name` over HTTP/2 (prior
    /// knowledge, no TLS) within `limits`: the services bound their
    /// messages themselves (to `max_body`), and answer errors as gRPC
    /// statuses.
    pub(crate) fn grpc(
        name: &'static str,
        services: Arc<dyn H2Service>,
        limits: ConnectionLimits,
        metrics: Arc<Metrics>,
    ) -> Listener {
        let shared = Shared::new(name, limits, metrics);
        Listener {
            shared,
            app: Router::new(),
            grpc: Some(services),
            fast: None,
            workers: None,
        }
    }

    /// Serves connections on `listener` until `stop` turns true, then
    /// stops accepting and waits for the open connections to finish their
    /// requests and close. Dropping the future closes them all.
    pub async fn serve(
        self,
        listener: TcpListener,
        mut stop: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let mut conns = JoinSet::new();
        let conn_stop = stop.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let mut stopped = std::pin::pin!(stopped);
        loop {
            let mut failed = None;
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((stream, peer)) => self.admit(&mut conns, stream, peer, &conn_stop),
                    Err(e) => failed = Some(e),
                },
                _ = stopped.as_mut() => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
            if let Some(e) = failed {
                self.accept_failed(e).await;
            }
        }
        drop(listener);
        while conns.join_next().await.is_some() {}
        Ok(())
    }

    fn admit(
        &self,
        conns: &mut JoinSet<()>,
        stream: TcpStream,
        peer: SocketAddr,
        stop: &watch::Receiver<bool>,
    ) {
        let s = &self.shared;
        match s.bounds.admit(peer.ip()) {
            Ok(slot) => {
                s.metrics.connection_accepted(s.name);
                let _ = stream.set_nodelay(true);
                let routes = Routes {
                    app: self.app.clone(),
                    fast: self.fast.clone(),
                    grpc: self.grpc.clone(),
                };
                let (shared, stop) = (s.clone(), stop.clone());
                let Some(workers) = &self.workers else {
                    conns.spawn(connection(stream, peer, routes, shared, stop, slot));
                    return;
                };
                // The socket moves to the serving thread's event loop.
                let stream = match stream.into_std() {
                    Ok(s) => s,
                    Err(e) => return s.warn(peer, "io", &format!("connection dropped: {e}")),
                };
                conns.spawn_on(
                    async move {
                        match TcpStream::from_std(stream) {
                            Ok(stream) => {
                                connection(stream, peer, routes, shared, stop, slot).await
                            }
                            Err(e) => shared.warn(peer, "io", &format!("connection dropped: {e}")),
                        }
                    },
                    workers.pick(),
                );
            }
            Err(why) => {
                // Dropping the socket closes it at once.
                drop(stream);
                s.metrics.connection_rejected(s.name, why.label());
                s.warn(peer, why.label(), "connection refused: too many open");
            }
        }
    }

    async fn accept_failed(&self, e: std::io::Error) {
        use std::io::ErrorKind::*;
        // A client that gave up before being accepted: nothing to do.
        if matches!(
            e.kind(),
            ConnectionAborted | ConnectionReset | ConnectionRefused
        ) {
            return;
        }
        if let Some(suppressed) = self.shared.log.admit() {
            tracing::warn!(
                listener = self.shared.name,
                error = %e,
                suppressed_before = suppressed,
                "accept failed (out of file descriptors?); retrying"
            );
        }
        // Out of file descriptors, most likely: give connections time to
        // close rather than spin.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
