//! [`RateLimitLayer`]: wraps a service in [`RateLimitService`].

use tower::Layer;

use crate::handle::LimiterHandle;
use crate::service::RateLimitService;

/// The layer: wraps a service in [`RateLimitService`]. It holds only the
/// handle, so every service it makes shares the same limiter and counters.
#[derive(Clone)]
pub struct RateLimitLayer {
    handle: LimiterHandle,
}

impl RateLimitLayer {
    /// A layer deciding with `handle`.
    pub fn new(handle: LimiterHandle) -> Self {
        RateLimitLayer { handle }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> RateLimitService<S> {
        RateLimitService::new(inner, self.handle.clone())
    }
}
