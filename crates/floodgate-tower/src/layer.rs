//! The layer, its shared state and the service.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use floodgate_core::policy::{fingerprint, CheckError};
use floodgate_core::{Clock, Limiter, Request, SystemClock, Verdict};
use http::{HeaderMap, Response, StatusCode};
use tower::{Layer, Service};

use crate::client_ip::{client_ip, TrustedProxies};
use crate::headers;
use crate::response;

/// The peer address of a connection, for hyper users (axum users get it
/// from `ConnectInfo<SocketAddr>`).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// What an observer sees of each decided request.
pub struct Seen<'a> {
    /// The client IP (after trusted proxies).
    pub ip: Option<IpAddr>,
    /// Method.
    pub method: &'a str,
    /// Path.
    pub path: &'a str,
    /// The API key: private, so that observers can only get its
    /// fingerprint (computed on demand, as most requests are not logged).
    api_key: Option<&'a str>,
    /// The verdict, or why there is none.
    pub verdict: Result<&'a Verdict, &'a CheckError>,
    /// Time taken to decide.
    pub elapsed: Duration,
}

impl Seen<'_> {
    /// The API key's fingerprint (safe to log), if the request had a key.
    pub fn key_fingerprint(&self) -> Option<String> {
        self.api_key.map(fingerprint)
    }
}

/// Receives every decision (metrics, logs). Called on the request path:
/// keep it cheap.
pub trait Observer: Send + Sync + 'static {
    /// One request decided.
    fn observe(&self, seen: &Seen<'_>);
}

/// What a reload swaps at once.
struct Settings {
    limiter: Arc<Limiter>,
    proxies: TrustedProxies,
}

/// The state shared by every clone of the layer and its services.
#[derive(Clone)]
pub struct Limits {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ArcSwap<Settings>,
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn Observer>>,
}

impl Limits {
    /// Limits decided by `limiter`, believing forwarding headers from
    /// `proxies` only, on the system clock.
    pub fn new(limiter: Limiter, proxies: TrustedProxies) -> Limits {
        Limits::with_clock(Arc::new(limiter), proxies, Arc::new(SystemClock), None)
    }

    /// Everything explicit: the clock (tests use a manual one) and an
    /// observer.
    pub fn with_clock(
        limiter: Arc<Limiter>,
        proxies: TrustedProxies,
        clock: Arc<dyn Clock>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Limits {
        Limits {
            inner: Arc::new(Inner {
                settings: ArcSwap::from_pointee(Settings { limiter, proxies }),
                clock,
                observer,
            }),
        }
    }

    /// Replaces the limiter and proxies atomically: requests in flight
    /// finish with the old ones, new requests see the new ones.
    pub fn swap(&self, limiter: Arc<Limiter>, proxies: TrustedProxies) {
        self.inner
            .settings
            .store(Arc::new(Settings { limiter, proxies }));
    }

    /// The limiter in force.
    pub fn limiter(&self) -> Arc<Limiter> {
        self.inner.settings.load().limiter.clone()
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Decides a request from its parts. `peer` is the socket peer; the
    /// client IP is found through the trusted proxies.
    pub async fn decide(
        &self,
        peer: Option<IpAddr>,
        method: &str,
        path: &str,
        request_headers: &HeaderMap,
        cost: u64,
    ) -> Decided {
        let settings = self.inner.settings.load_full();
        let ip = peer.map(|p| client_ip(p, request_headers, &settings.proxies));
        self.decide_with(&settings, ip, method, path, request_headers, cost)
            .await
    }

    /// Decides a request whose client IP is already known (a decision API
    /// caller states it).
    pub async fn decide_for(
        &self,
        client: Option<IpAddr>,
        method: &str,
        path: &str,
        request_headers: &HeaderMap,
        cost: u64,
    ) -> Decided {
        let settings = self.inner.settings.load_full();
        self.decide_with(&settings, client, method, path, request_headers, cost)
            .await
    }

    async fn decide_with(
        &self,
        settings: &Settings,
        ip: Option<IpAddr>,
        method: &str,
        path: &str,
        request_headers: &HeaderMap,
        cost: u64,
    ) -> Decided {
        let policy = settings.limiter.policy();
        let header = |name: &str| {
            request_headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
        };
        let api_key = header(&policy.identity.api_key_header);
        let user = header(&policy.identity.user_header);
        let req = Request {
            ip,
            method,
            path,
            api_key,
            user,
        };
        let started = Instant::now();
        let now = self.inner.clock.now();
        let result = settings.limiter.check(&req, cost, now).await;
        if let Some(obs) = &self.inner.observer {
            obs.observe(&Seen {
                ip,
                method,
                path,
                api_key,
                verdict: result.as_ref(),
                elapsed: started.elapsed(),
            });
        }
        Decided { result, now, cost }
    }
}

/// A decision with what the response needs.
pub struct Decided {
    /// The verdict.
    pub result: Result<Verdict, CheckError>,
    /// When it was decided.
    pub now: floodgate_core::Timestamp,
    /// The request's cost.
    pub cost: u64,
}

impl Decided {
    /// The response for a request that does not go on, or `None` when it
    /// may.
    pub fn rejection<B: From<Bytes>>(&self) -> Option<Response<B>> {
        match &self.result {
            Ok(v) if v.allowed => None,
            Ok(v) => {
                let o = v.deciding().expect("a denial has a denying limit");
                let mut r = response::json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    headers::too_many_requests_body(o, self.cost),
                );
                headers::apply(r.headers_mut(), o, self.now);
                Some(r)
            }
            Err(e @ (CheckError::MissingApiKey | CheckError::UnknownApiKey)) => {
                Some(response::json_response(
                    StatusCode::UNAUTHORIZED,
                    response::error_body("unauthorized", &e.to_string()),
                ))
            }
            Err(CheckError::Store(_)) => Some(response::json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                response::error_body(
                    "rate_limiter_unavailable",
                    "The rate limiter cannot decide right now. Try again shortly.",
                ),
            )),
        }
    }

    /// Adds the rate-limit headers of an allowed request to its response.
    pub fn decorate(&self, response_headers: &mut HeaderMap) {
        if let Ok(v) = &self.result {
            if let Some(o) = v.deciding() {
                headers::apply(response_headers, o, self.now);
            }
        }
    }

    /// How long to hold the request before it goes on.
    pub fn delay(&self) -> Duration {
        self.result.as_ref().map_or(Duration::ZERO, |v| v.delay())
    }
}

/// The layer: wraps a service in [`RateLimit`].
#[derive(Clone)]
pub struct RateLimitLayer {
    limits: Limits,
}

impl RateLimitLayer {
    /// A layer deciding with `limits`.
    pub fn new(limits: Limits) -> Self {
        RateLimitLayer { limits }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            limits: self.limits.clone(),
        }
    }
}

/// The service: decides, then calls `inner` or answers itself.
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    limits: Limits,
}

fn peer_of<B>(req: &http::Request<B>) -> Option<IpAddr> {
    let ext = req.extensions();
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .or_else(|| ext.get::<PeerAddr>().map(|p| p.0.ip()))
}

impl<S, B, ResBody> Service<http::Request<B>> for RateLimit<S>
where
    S: Service<http::Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limits = self.limits.clone();
        Box::pin(async move {
            let peer = peer_of(&req);
            let decided = limits
                .decide(
                    peer,
                    req.method().as_str(),
                    req.uri().path(),
                    req.headers(),
                    1,
                )
                .await;
            if let Some(rejection) = decided.rejection() {
                return Ok(rejection);
            }
            let delay = decided.delay();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut response = inner.call(req).await?;
            decided.decorate(response.headers_mut());
            Ok(response)
        })
    }
}
