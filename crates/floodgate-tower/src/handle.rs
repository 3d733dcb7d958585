//! [`LimiterHandle`]: the state shared by the layer, every service it makes
//! and the server (admin API, reloads). Cloning it is cheap; every clone
//! decides on the same limiter and counters.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use floodgate_core::policy::Origin;
use floodgate_core::{Clock, Limiter, Request, SystemClock};
use http::{HeaderMap, StatusCode};

use crate::client_ip::{client_ip, TrustedProxies};
use crate::decided::Decided;
use crate::observer::{Observer, Seen};
use crate::slots::SlotGuard;

/// What a reload swaps at once: a decision loads it once, so a reload
/// in between cannot mix two configurations in one decision.
pub struct Settings {
    /// The limiter in force.
    pub limiter: Arc<Limiter>,
    /// The proxies whose forwarding headers are believed.
    pub proxies: TrustedProxies,
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
    /// The status of a denial because the store could not decide a
    /// `fail_closed` limit.
    unavailable_status: AtomicU16,
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
                unavailable_status: AtomicU16::new(StatusCode::SERVICE_UNAVAILABLE.as_u16()),
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

    /// The status of a request denied because the store could not decide
    /// a `fail_closed` limit: 503 (the default) or 429.
    pub fn set_unavailable_status(&self, status: StatusCode) {
        self.inner
            .unavailable_status
            .store(status.as_u16(), Ordering::Relaxed);
    }

    /// The status of such a denial.
    pub fn unavailable_status(&self) -> StatusCode {
        StatusCode::from_u16(self.inner.unavailable_status.load(Ordering::Relaxed))
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
    }

    /// The limiter in force.
    pub fn limiter(&self) -> Arc<Limiter> {
        self.inner.settings.load().limiter.clone()
    }

    /// The limiter and proxies in force, loaded once: a caller that reads
    /// both for one decision reads them from here.
    pub fn settings(&self) -> Arc<Settings> {
        self.inner.settings.load_full()
    }

    /// The observer every decision is reported to, if any (for
    /// decisions made outside the handle, such as Envoy descriptors).
    pub fn observer(&self) -> Option<&Arc<dyn Observer>> {
        self.inner.observer.as_ref()
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

    /// Decides a request prepared without the policy (its fields given
    /// as they are) on the limiter in force. The observer sees it as it
    /// sees every other decision. Concurrency limits take no slot. A
    /// request built from the policy's identity settings is decided with
    /// [`LimiterHandle::decide_with`] on the limiter it was built from.
    pub async fn decide_request(&self, req: &Request<'_>, cost: u64) -> Decided {
        self.decide_with(&self.limiter(), req, cost, false).await
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
            Ok(req) => {
                self.decide_with(&settings.limiter, &req, cost, acquire)
                    .await
            }
            Err(e) => Decided {
                result: Err(e),
                now,
                cost,
                slots: None,
                unavailable_status: self.unavailable_status(),
                text: None,
            },
        }
    }

    /// Decides `req`, built from `limiter`'s policy (by
    /// [`Identity::request`](floodgate_core::policy::Identity::request)),
    /// on that same limiter, for callers that hold its attributes rather
    /// than an HTTP request; with `acquire`, an allowed request takes a
    /// slot of every concurrency limit that applies, held by
    /// [`Decided::slots`].
    ///
    /// The one place a request is decided and reported to the observer.
    pub async fn decide_with(
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
        // What the 429 says beyond the default, read from the policy
        // decided with.
        let text = match &result {
            Ok(v) if !v.allowed && !v.unavailable() => v
                .deciding()
                .map(|o| limiter.policy().denial_text(&o.rule, v.tier.as_deref())),
            _ => None,
        };
        Decided {
            result,
            now,
            cost,
            slots,
            unavailable_status: self.unavailable_status(),
            text,
        }
    }
}
