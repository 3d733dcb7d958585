//! [`ResponseFuture`]: the response of [`RateLimitService`], from the
//! decision to the inner service's response.
//!
//! [`RateLimitService`]: crate::RateLimitService

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use tokio::time::Sleep;
use tower::Service;

use crate::client_ip::peer_of;
use crate::decided::Decided;
use crate::handle::LimiterHandle;
use crate::slots::LeasedBody;

/// The handle deciding a request, which it gives back with the decision.
type Deciding<B> = Pin<Box<dyn Future<Output = (Decided, http::Request<B>)> + Send>>;

/// The response future of [`RateLimitService`](crate::RateLimitService).
///
/// It first decides the request (the decision is async, so it is held as a
/// boxed future). A request that may not go on is answered here, by this
/// future, with the rejection of [`Decided::rejection`] (429 with the
/// rate-limit headers, 401 or 503) as an `Ok` response: the inner service
/// is never called and never sees an error. An allowed request is held for
/// a shaping limit's delay, if any, then goes to the inner service, and the
/// rate-limit headers are added to its response.
pub struct ResponseFuture<S, B>
where
    S: Service<http::Request<B>>,
{
    state: State<S, B>,
}

enum State<S, B>
where
    S: Service<http::Request<B>>,
{
    /// The handle decides; `inner` waits, already ready.
    Deciding { decision: Deciding<B>, inner: S },
    /// A shaping limit holds the request (boxed: a request is large, and
    /// only shaped requests wait here).
    Holding {
        sleep: Pin<Box<Sleep>>,
        decided: Decided,
        inner: S,
        req: Box<http::Request<B>>,
    },
    /// The inner service answers; its response gets the headers.
    Calling {
        future: Pin<Box<S::Future>>,
        decided: Decided,
    },
    /// The response was given.
    Done,
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<http::Request<B>>,
    B: Send + 'static,
{
    /// Decides `req` with `handle`, then calls `inner` (which must be
    /// ready) or answers itself.
    pub(crate) fn new(handle: LimiterHandle, inner: S, req: http::Request<B>) -> Self {
        let decision = Box::pin(async move {
            let decided = handle
                .decide(
                    peer_of(&req),
                    req.method().as_str(),
                    req.uri().path(),
                    req.headers(),
                    1,
                )
                .await;
            (decided, req)
        });
        ResponseFuture {
            state: State::Deciding { decision, inner },
        }
    }
}

fn call<S, B>(mut inner: S, mut req: http::Request<B>, decided: Decided) -> State<S, B>
where
    S: Service<http::Request<B>>,
{
    decided.mark(&mut req);
    State::Calling {
        future: Box::pin(inner.call(req)),
        decided,
    }
}

// Nothing is pinned in place: the futures polled are boxed, and `inner` and
// the request are only moved. So the future may move, whatever `S` and `B`.
impl<S, B> Unpin for ResponseFuture<S, B> where S: Service<http::Request<B>> {}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<http::Request<B>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<LeasedBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            this.state = match std::mem::replace(&mut this.state, State::Done) {
                State::Deciding {
                    mut decision,
                    inner,
                } => {
                    let Poll::Ready((decided, req)) = decision.as_mut().poll(cx) else {
                        this.state = State::Deciding { decision, inner };
                        return Poll::Pending;
                    };
                    if let Some(rejection) = decided.rejection::<ResBody>() {
                        return Poll::Ready(Ok(rejection.map(|b| LeasedBody::new(b, None))));
                    }
                    let delay = decided.delay();
                    if delay.is_zero() {
                        call(inner, req, decided)
                    } else {
                        State::Holding {
                            sleep: Box::pin(tokio::time::sleep(delay)),
                            decided,
                            inner,
                            req: Box::new(req),
                        }
                    }
                }
                State::Holding {
                    mut sleep,
                    decided,
                    inner,
                    req,
                } => {
                    if sleep.as_mut().poll(cx).is_pending() {
                        this.state = State::Holding {
                            sleep,
                            decided,
                            inner,
                            req,
                        };
                        return Poll::Pending;
                    }
                    call(inner, *req, decided)
                }
                State::Calling {
                    mut future,
                    mut decided,
                } => {
                    let Poll::Ready(result) = future.as_mut().poll(cx) else {
                        this.state = State::Calling { future, decided };
                        return Poll::Pending;
                    };
                    return Poll::Ready(result.map(|mut response| {
                        decided.decorate(response.headers_mut());
                        // The slots stay held until the body has gone.
                        response.map(|b| LeasedBody::new(b, decided.slots.take()))
                    }));
                }
                State::Done => panic!("ResponseFuture polled after completion"),
            };
        }
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<http::Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Deciding { .. } => "deciding",
            State::Holding { .. } => "holding",
            State::Calling { .. } => "calling",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
