//! An answer given before the request body was read (the 413 when
//! `Content-Length` is over `max_body`), sent while that body is read and
//! thrown away, for a bounded time and size: a client still writing its
//! body then reads the answer, where closing at once would make its next
//! write fail (a broken pipe, and no answer at all).

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::Response;
use http_body::Frame;

/// Request body read and thrown away after an early answer, at most.
pub(crate) const LINGER_BYTES: u64 = 16 << 20;
/// How long an early answer waits for the rest of the request body.
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(2);

/// `answer`, whose body is sent at once, then held open while `request`
/// (the unread request body) is drained, up to [`LINGER_BYTES`] or
/// [`LINGER_TIME`]. The answer goes out chunked: its end waits for the
/// drain.
pub(crate) fn draining<B>(answer: Response<Body>, request: B) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
{
    let (mut parts, body) = answer.into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    let body = Body::new(Lingering {
        answer: Some(body),
        request: Some(request),
        read: 0,
        deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
    });
    Response::from_parts(parts, body)
}

struct Lingering<B> {
    answer: Option<Body>,
    request: Option<B>,
    read: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<B> http_body::Body for Lingering<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Some(answer) = self.answer.as_mut() {
            match Pin::new(answer).poll_frame(cx) {
                Poll::Ready(None) => self.answer = None,
                other => return other,
            }
        }
        let this = &mut *self;
        while let Some(request) = this.request.as_mut() {
            if this.deadline.as_mut().poll(cx).is_ready() || this.read > LINGER_BYTES {
                this.request = None;
                break;
            }
            match Pin::new(request).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        this.read += data.len() as u64;
                    }
                }
                Poll::Ready(Some(Err(_)) | None) => this.request = None,
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(None)
    }
}
