//! [`RateLimitService`]: decides each request in `call`, then calls
//! `inner` or answers itself.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use tower::Service;

use crate::client_ip::peer_of;
use crate::handle::LimiterHandle;

/// The service: decides, then calls `inner` or answers itself.
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
        let handle = self.handle.clone();
        Box::pin(async move {
            let peer = peer_of(&req);
            let decided = handle
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
