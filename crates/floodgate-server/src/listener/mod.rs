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
//! - `watchdog`: what a connection waits for, and its deadline.
//! - `body`: the JSON 413 past `max_body`, JSON bodies on errors.
//! - [`fast`]: a route answered before the router (`POST /v1/check`).
//! - [`workers`]: the threads that serve the connections.
//! - `warn`: the once-a-second log gate.
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
pub mod fast;
pub(crate) mod warn;
mod watchdog;
pub mod workers;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::Router;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::{service_fn, Service as _};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::ConnectionLimits;
use crate::metrics::Metrics;

use bounds::{Bounds, Slot};
use fast::FastRoute;
use warn::LogGate;
use watchdog::{Activity, Check, Timeout, Tracked, Watched};
pub use workers::Workers;

/// One listener's bounds, metrics and log gate.
pub(crate) struct Shared {
    name: &'static str,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    bounds: Arc<Bounds>,
    log: LogGate,
}

impl Shared {
    fn new(name: &'static str, limits: ConnectionLimits, metrics: Arc<Metrics>) -> Arc<Shared> {
        let bounds = Bounds::new(
            limits.max,
            limits.max_per_ip,
            metrics.connections_open(name),
        );
        Arc::new(Shared {
            name,
            limits,
            metrics,
            bounds,
            log: LogGate::default(),
        })
    }

    fn body_too_large(&self, declared: Option<u64>) {
        self.metrics.request_too_large(self.name, "body");
        if let Some(suppressed) = self.log.admit() {
            tracing::warn!(
                listener = self.name,
                max_body = self.limits.max_body,
                content_length = declared,
                suppressed_before = suppressed,
                "request body too large: answered 413"
            );
        }
    }

    fn warn(&self, peer: SocketAddr, reason: &str, what: &str) {
        if let Some(suppressed) = self.log.admit() {
            tracing::warn!(
                listener = self.name,
                peer = %peer.ip(),
                reason,
                suppressed_before = suppressed,
                "{what}"
            );
        }
    }
}

/// A listener ready to serve: its router with the body bound, and its
/// connection bounds.
pub struct Listener {
    shared: Arc<Shared>,
    app: Router,
    http2: bool,
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
            http2: false,
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

    /// `app`, gRPC services, served as listener `name` over HTTP/2
    /// (prior knowledge, no TLS) within `limits`: the services bound
    /// their messages themselves (to `max_body`), and answer errors as
    /// gRPC statuses.
    pub fn grpc(
        name: &'static str,
        app: Router,
        limits: ConnectionLimits,
        metrics: Arc<Metrics>,
    ) -> Listener {
        let shared = Shared::new(name, limits, metrics);
        Listener {
            shared,
            app,
            http2: true,
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
                };
                let (shared, stop, http2) = (s.clone(), stop.clone(), self.http2);
                let Some(workers) = &self.workers else {
                    conns.spawn(connection(stream, peer, routes, shared, stop, slot, http2));
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
                                connection(stream, peer, routes, shared, stop, slot, http2).await
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

/// A connection being served, over HTTP/1.1 or HTTP/2.
enum Conn<I, S>
where
    S: hyper::service::HttpService<Incoming>,
{
    H1(Pin<Box<http1::UpgradeableConnection<I, S>>>),
    H2(Pin<Box<http2::Connection<I, S, TokioExecutor>>>),
}

impl<I, S, B> Conn<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Until the connection ends.
    async fn served(&mut self) -> Result<(), hyper::Error> {
        match self {
            Conn::H1(c) => c.as_mut().await,
            Conn::H2(c) => c.as_mut().await,
        }
    }

    /// Finishes the requests in flight, takes no more, then ends.
    fn graceful_shutdown(&mut self) {
        match self {
            Conn::H1(c) => c.as_mut().graceful_shutdown(),
            Conn::H2(c) => c.as_mut().graceful_shutdown(),
        }
    }
}

/// How a connection ended.
enum Ended {
    Served(Result<(), hyper::Error>),
    TimedOut(Timeout),
}

/// What answers a listener's requests.
struct Routes {
    app: Router,
    fast: Option<FastRoute>,
}

/// Serves one connection until it closes, times out, or (after `stop`)
/// finishes its request.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    routes: Routes,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    _slot: Slot,
    http2: bool,
) {
    let limits = shared.limits;
    let activity = Activity::new(limits.header_read_timeout, limits.idle_timeout);
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let app = TowerToHyperService::new(routes.app);
    let fast = routes.fast;
    let requests = activity.clone();
    let on_fast = shared.clone();
    let service = service_fn(move |mut req: Request<Incoming>| {
        let in_flight = requests.request();
        // Boxed either way: the future hyper keeps per request (and
        // moves into a task per HTTP/2 stream) stays one pointer.
        let answer: BoxFuture<'static, Response<Body>> =
            match fast.as_ref().filter(|f| f.matches(&req)) {
                Some(f) => f.call(&on_fast, req, peer),
                None => {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    let routed = app.call(req);
                    Box::pin(async move {
                        match routed.await {
                            Ok(resp) => resp,
                            Err(never) => match never {},
                        }
                    })
                }
            };
        async move {
            let resp = answer.await;
            // The request stays in flight until its body is sent.
            Ok::<_, Infallible>(resp.map(|b| Tracked::new(b, in_flight)))
        }
    });
    let mut conn = if http2 {
        Conn::H2(Box::pin(
            http2::Builder::new(TokioExecutor::new())
                .max_header_list_size(u32::try_from(limits.max_head).unwrap_or(u32::MAX))
                .serve_connection(io, service),
        ))
    } else {
        Conn::H1(Box::pin(
            http1::Builder::new()
                .max_buf_size(limits.max_head)
                .keep_alive(true)
                .serve_connection(io, service)
                // A WebSocket upgrade hands the socket to the gateway's
                // relay, which bounds it from then on (`websocket:`).
                .with_upgrades(),
        ))
    };
    let mut draining = false;
    let next = match activity.check(Instant::now()) {
        Check::Until(at) => at,
        Check::Expired(_) => Instant::now(),
    };
    let sleep = tokio::time::sleep_until(next);
    let mut sleep = std::pin::pin!(sleep);
    let ended = loop {
        tokio::select! {
            r = conn.served() => break Ended::Served(r),
            _ = sleep.as_mut() => match activity.check(Instant::now()) {
                Check::Expired(why) => break Ended::TimedOut(why),
                Check::Until(at) => sleep.as_mut().reset(at),
            },
            _ = stop.wait_for(|s| *s), if !draining => {
                draining = true;
                conn.graceful_shutdown();
            }
        }
    };
    match ended {
        Ended::TimedOut(why) => {
            // Dropping the connection closes the socket.
            shared
                .metrics
                .connection_timed_out(shared.name, why.label());
            let what = match why {
                Timeout::HeaderRead => "connection closed: no whole request head in time",
                Timeout::Idle => "connection closed: idle",
            };
            shared.warn(peer, why.label(), what);
        }
        Ended::Served(Err(e)) if e.is_parse_too_large() => {
            shared.metrics.request_too_large(shared.name, "head");
            shared.warn(peer, "max_head", "request head too large: answered 431");
        }
        Ended::Served(Err(e)) => {
            tracing::debug!(listener = shared.name, peer = %peer, error = %e, "connection error");
        }
        Ended::Served(Ok(())) => {}
    }
}
