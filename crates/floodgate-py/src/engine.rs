//! [`Engine`]: one limiter on a tokio runtime of its own (one worker
//! thread, where the Redis connections live). A check is polled once on
//! the caller's thread: the memory store answers there and then; a Redis
//! check has sent its call and is [`Pending`] until Redis answers, which
//! the caller waits for ([`Engine::wait`], the Python side releasing the
//! GIL meanwhile) or hands to the runtime ([`Engine::spawn`], for
//! `async` callers).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use floodgate_core::policy::{check_cost, Origin, RequestError};
use floodgate_core::{Clock, Limiter, SystemClock};
use floodgate_redis::LazyRedisStore;
use floodgate_tower::{client_ip, Decided, LimiterHandle};

use crate::error::{AskError, SetupError};
use crate::outcome::Outcome;
use crate::query::{HttpQuery, Query};
use crate::settings::Settings;
use crate::store;

/// What a check gives.
pub type Answer = Result<Outcome, AskError>;

/// A check waiting for its store.
pub struct Pending(Pin<Box<dyn Future<Output = Answer> + Send>>);

/// A check started: answered, or waiting for the store.
pub enum Started {
    /// Decided already (the memory store, or a refusal before the store).
    Ready(Box<Answer>),
    /// Waiting for Redis.
    Pending(Pending),
}

/// A limiter and the runtime its store runs on.
pub struct Engine {
    runtime: tokio::runtime::Runtime,
    handle: LimiterHandle,
    redis: Option<LazyRedisStore>,
}

impl Engine {
    /// Builds the limiter of `settings` on the system clock. A Redis store
    /// is connected at once when it answers; otherwise the engine starts
    /// anyway and decides by the failure policy until a background attempt
    /// connects.
    pub fn start(settings: Settings) -> Result<Engine, SetupError> {
        Engine::with_clock(settings, Arc::new(SystemClock))
    }

    /// [`Engine::start`] on `clock` (a manual clock in tests).
    pub fn with_clock(settings: Settings, clock: Arc<dyn Clock>) -> Result<Engine, SetupError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("floodgate")
            .enable_all()
            .build()
            .map_err(SetupError::Runtime)?;
        let built = {
            let _in = runtime.enter();
            store::build(&settings.store, settings.memory)
        };
        if let Some(redis) = &built.redis {
            // Unreachable now: decided by the failure policy until it answers.
            let _ = runtime.block_on(redis.connect_now());
        }
        let fail_closed_status = settings.fail_closed_status();
        let limiter = Arc::new(Limiter::new(settings.policy, built.store));
        let handle = LimiterHandle::with_clock(limiter, settings.proxies, clock, None);
        handle.set_unavailable_status(fail_closed_status);
        Ok(Engine {
            runtime,
            handle,
            redis: built.redis,
        })
    }

    /// Whether the store is Redis and connected (always `false` for
    /// memory).
    pub fn connected(&self) -> bool {
        self.redis.as_ref().is_some_and(|r| r.connected().is_some())
    }

    /// Whether every check is answered on the caller's thread (the memory
    /// store).
    pub fn is_local(&self) -> bool {
        self.redis.is_none()
    }

    /// Decides `q` and waits for the answer.
    pub fn check(&self, q: Query) -> Answer {
        match self.start_check(q) {
            Started::Ready(a) => *a,
            Started::Pending(p) => self.wait(p),
        }
    }

    /// Starts deciding a request stated by its attributes.
    pub fn start_check(&self, q: Query) -> Started {
        let fut = decide(self.handle.clone(), q);
        if self.is_local() {
            return Started::Ready(Box::new(self.now_or_wait(fut)));
        }
        self.poll_once(Box::pin(fut))
    }

    /// Starts deciding an HTTP request (client IP through the trusted
    /// proxies, identity from the headers).
    pub fn start_http(&self, q: HttpQuery) -> Started {
        let fut = decide_http(self.handle.clone(), q);
        if self.is_local() {
            return Started::Ready(Box::new(self.now_or_wait(fut)));
        }
        self.poll_once(Box::pin(fut))
    }

    /// Waits for a pending check (blocking this thread).
    pub fn wait(&self, p: Pending) -> Answer {
        self.runtime.block_on(p.0)
    }

    /// Finishes a pending check on the runtime and hands its answer to
    /// `done`, on the runtime's thread.
    pub fn spawn(&self, p: Pending, done: impl FnOnce(Answer) + Send + 'static) {
        self.runtime.spawn(async move { done(p.0.await) });
    }

    /// The memory store's answer: polled once where it stands (no
    /// allocation, no runtime); it never waits, but would be waited for.
    fn now_or_wait(&self, fut: impl Future<Output = Answer>) -> Answer {
        let mut fut = std::pin::pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(a) => a,
            Poll::Pending => self.runtime.block_on(fut),
        }
    }

    fn poll_once(&self, mut fut: Pin<Box<dyn Future<Output = Answer> + Send>>) -> Started {
        let _in = self.runtime.enter();
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(a) => Started::Ready(Box::new(a)),
            Poll::Pending => Started::Pending(Pending(fut)),
        }
    }
}

/// As `POST /v1/check` decides: the caller states the client IP and is
/// trusted for the user header.
async fn decide(handle: LimiterHandle, q: Query) -> Answer {
    let cost = check_cost(q.cost.unwrap_or(1))?;
    let limiter = handle.limiter();
    let now = handle.clock().now();
    let origin = Origin {
        peer_trusted: true,
        now,
    };
    let attributes = q.attributes();
    let decided = match limiter.policy().identity.request_from(&attributes, origin) {
        Ok(req) => handle.decide_with(&limiter, &req, cost, false).await,
        Err(RequestError::Attributes(e)) => return Err(e.into()),
        Err(RequestError::Refused(e)) => refused(&handle, e, now, cost),
    };
    Ok(Outcome::new(decided))
}

/// As the gateway decides: the client IP through the trusted proxies, the
/// user header believed from a trusted peer only (`user_header_from`).
/// Concurrency limits are checked, not held.
async fn decide_http(handle: LimiterHandle, q: HttpQuery) -> Answer {
    let cost = check_cost(q.cost.unwrap_or(1))?;
    let settings = handle.settings();
    let headers = q.header_map();
    let trusted = q.peer.is_some_and(|p| settings.proxies.contains(p));
    let ip = q.peer.map(|p| client_ip(p, &headers, &settings.proxies));
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = handle.clock().now();
    let origin = Origin {
        peer_trusted: trusted,
        now,
    };
    let identity = &settings.limiter.policy().identity;
    let decided = match identity.request(ip, &q.method, &q.path, header, origin) {
        Ok(req) => {
            handle
                .decide_with(&settings.limiter, &req, cost, false)
                .await
        }
        Err(e) => refused(&handle, e, now, cost),
    };
    Ok(Outcome::new(decided))
}

/// A request refused before any limit (a missing or unknown API key, an
/// invalid token).
fn refused(
    handle: &LimiterHandle,
    e: floodgate_core::CheckError,
    now: floodgate_core::Timestamp,
    cost: u64,
) -> Decided {
    Decided {
        result: Err(e),
        now,
        cost,
        slots: None,
        unavailable_status: handle.unavailable_status(),
        text: None,
    }
}
