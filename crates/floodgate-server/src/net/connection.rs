//! One connection served until it closes, times out, or (after the stop)
//! finishes its requests: the fast route's own HTTP/1.1 lane (`raw`)
//! first where there is one, hyper's HTTP/1.1 (with upgrades) or the gRPC
//! HTTP/2 connection, the fast route or the router for each request, and
//! the watchdog's deadlines.

use std::convert::Infallible;
use std::future::{poll_fn, Future as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{service_fn, Service as _};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::bounds::Slot;
use super::fast::FastRoute;
use super::h2::H2Service;
use super::raw::{self, Lane};
use super::shared::Shared;
use super::watchdog::{Activity, Check, Timeout, Tracked, Watched};

/// A connection being served: HTTP/1.1 by hyper, or gRPC over HTTP/2
/// (which watches the stop signal itself).
trait Serving: Send {
    /// Until the connection ends.
    fn served(&mut self) -> BoxFuture<'_, Result<(), Failed>>;
    /// Finishes the requests in flight, takes no more, then ends.
    fn graceful_shutdown(&mut self);
}

/// Why a connection failed.
enum Failed {
    Http(hyper::Error),
    Grpc(h2::Error),
    Io(std::io::Error),
}

impl<I, S, B> Serving for Pin<Box<http1::UpgradeableConnection<I, S>>>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = B> + Send,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn served(&mut self) -> BoxFuture<'_, Result<(), Failed>> {
        Box::pin(async move { self.as_mut().await.map_err(Failed::Http) })
    }

    fn graceful_shutdown(&mut self) {
        self.as_mut().graceful_shutdown();
    }
}

/// A gRPC connection being served.
struct GrpcConn(BoxFuture<'static, Result<(), h2::Error>>);

impl Serving for GrpcConn {
    fn served(&mut self) -> BoxFuture<'_, Result<(), Failed>> {
        Box::pin(async move { self.0.as_mut().await.map_err(Failed::Grpc) })
    }

    fn graceful_shutdown(&mut self) {}
}

/// A connection that starts on the fast route's HTTP/1.1 lane (and may
/// go on with hyper), which checks `stopping` itself.
struct Laned {
    served: BoxFuture<'static, Result<(), Failed>>,
    stopping: Arc<AtomicBool>,
}

impl Serving for Laned {
    fn served(&mut self) -> BoxFuture<'_, Result<(), Failed>> {
        Box::pin(self.served.as_mut())
    }

    fn graceful_shutdown(&mut self) {
        // Seen at the next poll, which follows at once.
        self.stopping.store(true, Ordering::Relaxed);
    }
}

/// How a connection ended.
enum Ended {
    Served(Result<(), Failed>),
    TimedOut(Timeout),
}

/// What answers a listener's requests.
pub(super) struct Routes {
    pub(super) app: Router,
    pub(super) fast: Option<FastRoute>,
    pub(super) grpc: Option<Arc<dyn H2Service>>,
}

/// Serves one connection until it closes, times out, or (after `stop`)
/// finishes its request.
pub(super) async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    routes: Routes,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    _slot: Slot,
) {
    let limits = shared.limits;
    let activity = Activity::new(limits.header_read_timeout, limits.idle_timeout);
    if let Some(grpc) = routes.grpc {
        return h2_connection(grpc, stream, peer, shared, activity, stop).await;
    }
    let io = Watched::new(stream, activity.clone());
    let app = TowerToHyperService::new(routes.app);
    let fast = routes.fast;
    let requests = activity.clone();
    let on_fast = shared.clone();
    let route = fast.clone();
    let service = service_fn(move |mut req: Request<Incoming>| {
        let in_flight = requests.request();
        // Boxed either way: the future hyper keeps per request stays one
        // pointer, whichever route answers.
        let answer = match route.as_ref().filter(|f| f.matches(&req)) {
            Some(f) => f.call(&on_fast, req, peer),
            None => {
                req.extensions_mut().insert(ConnectInfo(peer));
                routed(&app, req)
            }
        };
        async move {
            let resp = answer.await;
            // The request stays in flight until its body is sent.
            Ok::<_, Infallible>(resp.map(|b| Tracked::new(b, in_flight)))
        }
    });
    let mut http1 = http1::Builder::new();
    http1.max_buf_size(limits.max_head).keep_alive(true);
    let Some(fast) = fast else {
        let conn = Box::pin(
            http1
                .serve_connection(TokioIo::new(io), service)
                // A WebSocket upgrade hands the socket to the gateway's
                // relay, which bounds it from then on (`websocket:`).
                .with_upgrades(),
        );
        return watch_over(conn, peer, shared, activity, stop).await;
    };
    // The fast route's plain requests are the lane's; the first other one
    // hands the connection to hyper for good.
    let stopping = Arc::new(AtomicBool::new(false));
    let (on_lane, lane_activity, lane_stopping) =
        (shared.clone(), activity.clone(), stopping.clone());
    let served = async move {
        let io = match raw::serve(io, &fast, &on_lane, &lane_activity, peer, &lane_stopping).await {
            Lane::Closed(r) => return r.map_err(Failed::Io),
            Lane::Handoff(io) => io,
        };
        let mut conn = std::pin::pin!(http1
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades());
        let mut shut = false;
        poll_fn(|cx| {
            if !shut && lane_stopping.load(Ordering::Relaxed) {
                shut = true;
                conn.as_mut().graceful_shutdown();
            }
            conn.as_mut().poll(cx)
        })
        .await
        .map_err(Failed::Http)
    };
    let conn = Laned {
        served: Box::pin(served),
        stopping,
    };
    watch_over(conn, peer, shared, activity, stop).await;
}

/// Serves a connection of an HTTP/2 service (the gRPC listener's).
async fn h2_connection(
    service: Arc<dyn H2Service>,
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    activity: Arc<Activity>,
    stop: watch::Receiver<bool>,
) {
    let io = Watched::new(stream, activity.clone());
    let requests = activity.clone();
    let max_head = u32::try_from(shared.limits.max_head).unwrap_or(u32::MAX);
    let served = service.serve(
        io,
        max_head,
        Box::new(move || requests.request()),
        stop.clone(),
    );
    let conn = GrpcConn(Box::pin(served));
    watch_over(conn, peer, shared, activity, stop).await
}

/// `req` answered by the router. Boxed: the future hyper keeps per
/// request stays one pointer, whichever route answers.
fn routed(
    app: &TowerToHyperService<Router>,
    req: Request<Incoming>,
) -> BoxFuture<'static, Response<Body>> {
    let routed = app.call(req);
    Box::pin(async move {
        match routed.await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    })
}

/// Serves `conn` until it ends, times out, or (after `stop`) finishes its
/// requests; counts and logs how it ended.
async fn watch_over(
    mut conn: impl Serving,
    peer: SocketAddr,
    shared: Arc<Shared>,
    activity: Arc<Activity>,
    mut stop: watch::Receiver<bool>,
) {
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
        Ended::Served(Err(Failed::Http(e))) if e.is_parse_too_large() => {
            shared.metrics.request_too_large(shared.name, "head");
            shared.warn(peer, "max_head", "request head too large: answered 431");
        }
        Ended::Served(Err(Failed::Http(e))) => {
            tracing::debug!(listener = shared.name, peer = %peer, error = %e, "connection error");
        }
        Ended::Served(Err(Failed::Grpc(e))) => {
            tracing::debug!(listener = shared.name, peer = %peer, error = %e, "connection error");
        }
        Ended::Served(Err(Failed::Io(e))) => {
            tracing::debug!(listener = shared.name, peer = %peer, error = %e, "connection error");
        }
        Ended::Served(Ok(())) => {}
    }
}
