//! [`LimiterHandle`]: the state shared by the layer, every service it makes
//! and the server (admin API, reloads). Cloning it is cheap; every clone
//! decides on the same limiter and counters.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use floodgate_core::policy::{
    key_digest, CheckError, Descriptor, DescriptorVerdict, KeyPart, Origin,
};
use floodgate_core::{Clock, Limiter, Request, SystemClock, Timestamp};
use http::HeaderMap;

use crate::client_ip::{client_ip, TrustedProxies};
use crate::decided::Decided;
use crate::observer::{Observer, Seen};
use crate::slots::SlotGuard;

/// What a reload swaps at once.
struct Settings {
    limiter: Arc<Limiter>,
    proxies: TrustedProxies,
}

/// The state shared by every clone of the layer and its services.
#[derive(Clone)]
pub struct LimiterHandle {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ArcSwap<Settings>,
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn Observer>>,
}

impl LimiterHandle {
    /// A handle deciding with `limiter`, believing forwarding headers from
    /// `proxies` only, on the system clock.
    pub fn new(limiter: Limiter, proxies: TrustedProxies) -> LimiterHandle {
        LimiterHandle::with_clock(Arc::new(limiter), proxies, Arc::new(SystemClock), None)
    }

    /// Everything explicit: the clock (tests use a manual one) and an
    /// observer.
    pub fn with_clock(
        limiter: Arc<Limiter>,
        proxies: TrustedProxies,
        clock: Arc<dyn Clock>,
        observer: Option<Arc<dyn Observer>>,
    ) -> LimiterHandle {
        LimiterHandle {
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

    /// Replaces the limiter only (a policy change); the proxies stay.
    pub fn swap_limiter(&self, limiter: Arc<Limiter>) {
        self.inner.settings.rcu(|s| Settings {
            limiter: limiter.clone(),
            proxies: s.proxies.clone(),
        });
    }

    /// Replaces the proxies only (a config reload); the limiter stays.
    pub fn swap_proxies(&self, proxies: TrustedProxies) {
        self.inner.settings.rcu(|s| Settings {
            limiter: s.limiter.clone(),
            proxies: proxies.clone(),
        });
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
    /// client IP is found through the trusted proxies. An allowed request
    /// takes a slot of every concurrency limit that applies, held by
    /// [`Decided::slots`] until it is dropped.
    pub async fn decide(
        &self,
        peer: Option<IpAddr>,
        method: &str,
        path: &str,
        request_headers: &HeaderMap,
        cost: u64,
    ) -> Decided {
        let client = |proxies: &TrustedProxies| {
            let trusted = peer.is_some_and(|p| proxies.contains(p));
            (
                peer.map(|p| client_ip(p, request_headers, proxies)),
                trusted,
            )
        };
        self.decide_parts(client, method, path, request_headers, cost, true)
            .await
    }

    /// Decides a request whose client IP is already known (a decision API
    /// caller states it, and is trusted for the user header).
    pub async fn decide_for(
        &self,
        client: Option<IpAddr>,
        method: &str,
        path: &str,
        request_headers: &HeaderMap,
        cost: u64,
    ) -> Decided {
        self.decide_parts(
            |_| (client, true),
            method,
            path,
            request_headers,
            cost,
            false,
        )
        .await
    }

    /// Decides a request already prepared (by
    /// [`Identity::request`](floodgate_core::policy::Identity::request)),
    /// for callers that hold its attributes rather than an HTTP request.
    /// The observer sees it as it sees every other decision. Concurrency
    /// limits take no slot (see [`LimiterHandle::acquire_request`]).
    pub async fn decide_request(&self, req: &Request<'_>, cost: u64) -> Decided {
        self.decide_on(&self.limiter(), req, cost, false).await
    }

    /// Decides a request already prepared, as
    /// [`LimiterHandle::decide_request`], and an allowed one takes a slot
    /// of every concurrency limit that applies, held by [`Decided::slots`].
    pub async fn acquire_request(&self, req: &Request<'_>, cost: u64) -> Decided {
        self.decide_on(&self.limiter(), req, cost, true).await
    }

    /// Builds the request the policy's identity describes and decides it.
    /// The limiter and proxies are loaded once, so a reload in between
    /// cannot mix two configurations in one decision.
    async fn decide_parts(
        &self,
        client: impl FnOnce(&TrustedProxies) -> (Option<IpAddr>, bool),
        method: &str,
        path: &str,
        request_headers: &HeaderMap,
        cost: u64,
        acquire: bool,
    ) -> Decided {
        let settings = self.inner.settings.load_full();
        let (ip, peer_trusted) = client(&settings.proxies);
        let header = |name: &str| request_headers.get(name).and_then(|v| v.to_str().ok());
        let identity = &settings.limiter.policy().identity;
        let now = self.inner.clock.now();
        match identity.request(ip, method, path, header, Origin { peer_trusted, now }) {
            Ok(req) => self.decide_on(&settings.limiter, &req, cost, acquire).await,
            Err(e) => Decided {
                result: Err(e),
                now,
                cost,
                slots: None,
            },
        }
    }

    /// The identity a rule keyed by `parts` gives the client of a request
    /// from `peer` (the client IP found through the trusted proxies), as
    /// [`decide`](Self::decide) would count it: for budgets kept outside
    /// the rules, such as the gateway's WebSocket message limits.
    pub fn identity_of(
        &self,
        peer: IpAddr,
        method: &str,
        path: &str,
        request_headers: &HeaderMap,
        parts: &[KeyPart],
    ) -> Result<Arc<str>, CheckError> {
        let settings = self.inner.settings.load_full();
        let ip = client_ip(peer, request_headers, &settings.proxies);
        let peer_trusted = settings.proxies.contains(peer);
        let header = |name: &str| request_headers.get(name).and_then(|v| v.to_str().ok());
        let policy = settings.limiter.policy();
        let now = self.inner.clock.now();
        let req = policy.identity.request(
            Some(ip),
            method,
            path,
            header,
            Origin { peer_trusted, now },
        )?;
        let digest = req.api_key.map(key_digest);
        Ok(policy.identity(parts, &req, digest.as_ref()))
    }

    /// Decides `descriptors` of `domain` (Envoy's rate limit service) on
    /// the limiter in force; the observer sees it as a request with method
    /// `GRPC` and the domain as its path.
    pub async fn decide_descriptors(
        &self,
        domain: &str,
        descriptors: &[Descriptor<'_>],
    ) -> (Result<DescriptorVerdict, CheckError>, Timestamp) {
        let limiter = self.limiter();
        let started = Instant::now();
        let now = self.inner.clock.now();
        let result = limiter.check_descriptors(domain, descriptors, now).await;
        if let Some(obs) = &self.inner.observer {
            let req = Request {
                method: "GRPC",
                path: domain,
                ..Request::default()
            };
            let verdict = result.as_ref().map(|v| &v.verdict);
            obs.observe(&Seen::new(&req, now, verdict, started.elapsed()));
        }
        (result, now)
    }

    /// The one place a request is decided and reported to the observer;
    /// with `acquire`, an allowed request takes its concurrency slots.
    async fn decide_on(
        &self,
        limiter: &Arc<Limiter>,
        req: &Request<'_>,
        cost: u64,
        acquire: bool,
    ) -> Decided {
        let started = Instant::now();
        let now = self.inner.clock.now();
        let (result, held) = if acquire {
            match limiter.acquire(req, cost, now).await {
                Ok((verdict, held)) => (Ok(verdict), held),
                Err(e) => (Err(e), None),
            }
        } else {
            (limiter.check(req, cost, now).await, None)
        };
        if let Some(obs) = &self.inner.observer {
            obs.observe(&Seen::new(req, now, result.as_ref(), started.elapsed()));
        }
        let slots = held.map(|h| {
            SlotGuard::new(
                h,
                limiter.clone(),
                self.inner.clock.clone(),
                self.inner.observer.clone(),
            )
        });
        Decided {
            result,
            now,
            cost,
            slots,
        }
    }
}
