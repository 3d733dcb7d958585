//! [`RateLimitService`]: decides each request in `call`, then calls
//! `inner` or answers itself.

use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use tower::Service;

use crate::future::ResponseFuture;
use crate::handle::LimiterHandle;
use crate::slots::LeasedBody;

/// The service: decides, then calls `inner` or answers itself (see
/// [`ResponseFuture`]). Clones share the handle, so they share counters.
#[derive(Clone)]
pub struct RateLimitService<S> {
    inner: S,
    handle: LimiterHandle,
}

impl<S> RateLimitService<S> {
    /// `inner`, limited by `handle`.
    pub fn new(inner: S, handle: LimiterHandle) -> Self {
        RateLimitService { inner, handle }
    }
}

impl<S, B, ResBody> Service<http::Request<B>> for RateLimitService<S>
where
    S: Service<http::Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<LeasedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(self.handle.clone(), inner, req)
    }
}
