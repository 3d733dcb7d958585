//! `ShouldRateLimit` as the gRPC listener's fast route: the unary call
//! read, decoded, decided and answered in the connection's own task, with
//! no router or generic gRPC machinery in between (Envoy calls it for
//! every request it proxies).
//!
//! The framing is gRPC's: a request body of one message, a 5-byte prefix
//! (compressed flag, big-endian length) before its bytes; the answer
//! `200`, `content-type: application/grpc`, the framed response and
//! `grpc-status: 0` in the trailers, or, for an error, `grpc-status` and
//! `grpc-message` in the headers and no body ("trailers-only").
//!
//! - A message longer than `max_message` is answered `OUT_OF_RANGE` as
//!   soon as its prefix says so, before it is read.
//! - A compressed message (no compression is offered) is
//!   `UNIMPLEMENTED`; a body with no whole message, or one that does not
//!   decode, `INVALID_ARGUMENT`.
//! - Whatever follows the first message in the body is not read.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tonic::Status;
use tonic_prost::prost::Message;

use super::service::RateLimits;
use crate::listener::fast::{self, FastRoute};

/// The path of the one method.
pub const SHOULD_RATE_LIMIT: &str = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";

/// The gRPC message prefix: compressed flag and length.
const PREFIX: usize = 5;

/// `ShouldRateLimit` answered by `service`, refusing messages over
/// `max_message` bytes.
pub fn route(service: RateLimits, max_message: usize) -> FastRoute {
    let service = Arc::new(service);
    let handler: fast::Handler = Arc::new(move |_parts, body, _peer| {
        let service = service.clone();
        Box::pin(async move {
            let answer = match read_message(body.into_incoming(), max_message).await {
                Ok(bytes) => match RateLimitRequest::decode(bytes) {
                    Ok(req) => service.decide(req).await,
                    Err(e) => Err(Status::invalid_argument(format!("malformed message: {e}"))),
                },
                Err(status) => Err(status),
            };
            match answer {
                Ok(resp) => ok(&resp),
                Err(status) => error(&status),
            }
        })
    });
    FastRoute::raw(Method::POST, SHOULD_RATE_LIMIT, handler)
}

/// The first message of `body`, unframed.
async fn read_message(mut body: Incoming, max: usize) -> Result<Bytes, Status> {
    let mut buf = BytesMut::new();
    let mut want: Option<usize> = None;
    loop {
        if want.is_none() && buf.len() >= PREFIX {
            if buf[0] != 0 {
                return Err(Status::unimplemented(
                    "compressed messages are not supported",
                ));
            }
            let len = (&buf[1..PREFIX]).get_u32() as usize;
            if len > max {
                return Err(Status::out_of_range(format!(
                    "the message is {len} bytes, more than the limit of {max}"
                )));
            }
            want = Some(PREFIX + len);
            buf.reserve((PREFIX + len).saturating_sub(buf.len()));
        }
        if let Some(n) = want.filter(|n| buf.len() >= *n) {
            buf.advance(PREFIX);
            buf.truncate(n - PREFIX);
            return Ok(buf.freeze());
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => {
                return Err(Status::cancelled(format!(
                    "the request body broke off: {e}"
                )))
            }
            None => {
                return Err(Status::invalid_argument(
                    "the request holds no whole message",
                ))
            }
        }
    }
}

fn grpc_headers(response: &mut Response<Body>) {
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
}

/// `200` with the framed `message` and `grpc-status: 0` in the trailers.
fn ok(message: &impl Message) -> Response<Body> {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(PREFIX + len);
    buf.put_u8(0);
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    // Cannot fail: the buffer has room for the whole message.
    let _ = message.encode(&mut buf);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let mut response = Response::new(Body::new(Unary {
        data: Some(buf.freeze()),
        trailers: Some(trailers),
    }));
    grpc_headers(&mut response);
    response
}

/// A trailers-only answer: `status` in the headers, no body.
fn error(status: &Status) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    grpc_headers(&mut response);
    let h = response.headers_mut();
    h.insert("grpc-status", HeaderValue::from(status.code() as i32));
    if let Ok(v) = HeaderValue::from_str(&percent_encode(status.message())) {
        h.insert("grpc-message", v);
    }
    response
}

/// `grpc-message` as gRPC writes it: printable ASCII but `%` as is, every
/// other byte `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A unary answer's body: one data frame, then the trailers.
struct Unary {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl http_body::Body for Unary {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    /// The code of a trailers-only answer.
    fn code_of(response: &Response<Body>) -> Option<Code> {
        let v = response.headers().get("grpc-status")?.to_str().ok()?;
        Some(Code::from_i32(v.parse().ok()?))
    }

    #[test]
    fn errors_are_trailers_only_with_the_message_percent_encoded() {
        let r = error(&Status::invalid_argument("domain: 1 to 1024 bytes, 100%"));
        assert_eq!(code_of(&r), Some(Code::InvalidArgument));
        assert_eq!(
            r.headers()["grpc-message"],
            "domain: 1 to 1024 bytes, 100%25"
        );
        assert_eq!(r.headers()[CONTENT_TYPE], "application/grpc");
        assert_eq!(percent_encode("é\n"), "%C3%A9%0A");
    }

    #[tokio::test]
    async fn an_answer_is_one_framed_message_then_grpc_status_0() {
        let msg = RateLimitRequest {
            domain: "edge".into(),
            ..Default::default()
        };
        let r = ok(&msg);
        assert_eq!(code_of(&r), None, "the status is in the trailers");
        let collected = r.into_body().collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
        let bytes = collected.to_bytes();
        assert_eq!(bytes[0], 0);
        assert_eq!(
            u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize,
            bytes.len() - 5
        );
        assert_eq!(RateLimitRequest::decode(&bytes[5..]).unwrap(), msg);
    }
}
