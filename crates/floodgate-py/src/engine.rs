//! [`Engine`]: one limiter on a tokio runtime of its own (one worker
//! thread, where the Redis connections live).
//!
//! - The memory store answers on the caller's thread, polled once.
//! - A synchronous caller on Redis ([`Engine::decide`], [`Engine::check`],
//!   [`Engine::check_http`]) decides on its own thread from start to end:
//!   its calls go on a blocking connection of its own (see
//!   [`store::Routed`]), or, on a cluster, when none is free or before
//!   Redis is connected, through the runtime, waited for here. The Python
//!   side releases the GIL meanwhile.
//! - An `async` caller's check ([`Engine::start_check`],
//!   [`Engine::start_http`]) is polled once on its thread (the call is
//!   sent), then finished on the runtime ([`Engine::spawn`]).
//!
//! Every check takes the slots of the concurrency limits that apply, as
//! the gateway does: an allowed request's [`Outcome`](crate::Outcome)
//! holds them ([`Slots`](crate::Slots)) until they are released or
//! dropped. How a request is decided is in `decide.rs`.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use floodgate_core::policy::Attributes;
use floodgate_core::{Clock, Limiter, Policy, SystemClock};
use floodgate_redis::LazyRedisStore;
use floodgate_tower::LimiterHandle;

use crate::decide::{decide, decide_http};
use crate::error::SetupError;
use crate::outcome::Answer;
use crate::query::{HttpQuery, Query};
use crate::settings::Settings;
use crate::store::{self, on_this_thread};

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
    /// Whether the policy has concurrency limits (a check may take slots,
    /// renewed on the runtime).
    holds_slots: bool,
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
        let holds_slots = has_concurrency(&settings.policy);
        let limiter = Arc::new(Limiter::new(settings.policy, built.store));
        let handle = LimiterHandle::with_clock(limiter, settings.proxies, clock, None);
        handle.set_unavailable_status(fail_closed_status);
        Ok(Engine {
            runtime,
            handle,
            redis: built.redis,
            holds_slots,
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

    /// Decides a request stated by its attributes (borrowed: nothing is
    /// copied) on this thread, waiting for Redis here. Blocks: never call
    /// it on a runtime's thread.
    pub fn decide(&self, attributes: &Attributes<'_>, cost: u64) -> Answer {
        let rt = self.runtime.handle();
        self.here(pin!(decide(&self.handle, rt, attributes, cost)))
    }

    /// [`Engine::decide`] of `q`.
    pub fn check(&self, q: &Query) -> Answer {
        self.decide(&q.attributes(), q.cost.unwrap_or(1))
    }

    /// [`Engine::decide`] for an HTTP request (client IP through the
    /// trusted proxies, identity from the headers).
    pub fn check_http(&self, q: &HttpQuery) -> Answer {
        let rt = self.runtime.handle();
        self.here(pin!(decide_http(&self.handle, rt, q)))
    }

    /// Starts deciding a request stated by its attributes: answered at
    /// once on the memory store; on Redis, the call is sent and the rest
    /// is [`Engine::wait`]ed for or [`Engine::spawn`]ed.
    pub fn start_check(&self, q: Query) -> Started {
        if self.is_local() {
            return Started::Ready(Box::new(self.check(&q)));
        }
        let (handle, rt) = (self.handle.clone(), self.runtime.handle().clone());
        self.poll_once(Box::pin(async move {
            decide(&handle, &rt, &q.attributes(), q.cost.unwrap_or(1)).await
        }))
    }

    /// [`Engine::start_check`] for an HTTP request.
    pub fn start_http(&self, q: HttpQuery) -> Started {
        if self.is_local() {
            return Started::Ready(Box::new(self.check_http(&q)));
        }
        let (handle, rt) = (self.handle.clone(), self.runtime.handle().clone());
        self.poll_once(Box::pin(async move { decide_http(&handle, &rt, &q).await }))
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

    /// Drives `fut` on this thread: polled once (in the runtime's context
    /// when it may take slots, renewed there; on Redis, where its calls
    /// are sent if they go through the runtime), its Redis calls on this
    /// thread's blocking connection; whatever went through the runtime
    /// instead is waited for.
    fn here(&self, mut fut: Pin<&mut impl Future<Output = Answer>>) -> Answer {
        on_this_thread(|| {
            let polled = {
                let _in = (self.holds_slots || !self.is_local()).then(|| self.runtime.enter());
                fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
            };
            match polled {
                Poll::Ready(a) => a,
                Poll::Pending => self.runtime.block_on(fut),
            }
        })
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

/// Whether any limit of `policy` (a rule's, a tier's, a global one, an
/// override's) is a concurrency limit.
fn has_concurrency(policy: &Policy) -> bool {
    let any =
        |limits: &[floodgate_core::policy::Limit]| limits.iter().any(|l| l.quota.is_concurrency());
    policy
        .rules
        .iter()
        .any(|r| any(&r.limits) || r.tiers.values().any(|t| any(t)))
        || any(&policy.global)
        || policy
            .overrides
            .values()
            .flat_map(|o| o.values())
            .any(|o| any(&o.limits))
}
