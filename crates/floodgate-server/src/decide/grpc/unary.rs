//! `ShouldRateLimit`, a unary call, read, decoded, decided and answered
//! with no generic gRPC machinery in between (Envoy calls it for every
//! request it proxies); the framing shared with health checking.
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

use bytes::{Buf, BufMut, Bytes, BytesMut};
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use h2::RecvStream;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Response};
use tonic::Status;
use tonic_prost::prost::Message;

use super::service::RateLimits;

/// The rate limit service's name, as health checking knows it.
pub use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::SERVICE_NAME as SERVICE;

/// The path of the one method.
pub const SHOULD_RATE_LIMIT: &str = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";

/// The gRPC message prefix: compressed flag and length.
const PREFIX: usize = 5;

/// What a unary call answers: one framed message, or a status.
pub enum Answer {
    /// The message, framed.
    Message(Bytes),
    /// The error.
    Error(Status),
}

impl Answer {
    /// `message`, framed.
    pub fn ok(message: &impl Message) -> Answer {
        Answer::Message(frame(message))
    }
}

/// `ShouldRateLimit`: the request in `body` decided by `service`, with
/// messages over `max_message` bytes refused.
pub async fn should_rate_limit(
    service: &RateLimits,
    body: RecvStream,
    max_message: usize,
) -> Answer {
    let req = match read_message(body, max_message).await {
        Ok(bytes) => match RateLimitRequest::decode(bytes) {
            Ok(req) => req,
            Err(e) => {
                return Answer::Error(Status::invalid_argument(format!("malformed message: {e}")))
            }
        },
        Err(status) => return Answer::Error(status),
    };
    match service.decide(req).await {
        Ok(framed) => Answer::Message(framed),
        Err(status) => Answer::Error(status),
    }
}

/// The first message of `body`, unframed; the body's flow-control
/// window is given back as it is read.
pub async fn read_message(mut body: RecvStream, max: usize) -> Result<Bytes, Status> {
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
        match body.data().await {
            Some(Ok(data)) => {
                let _ = body.flow_control().release_capacity(data.len());
                buf.extend_from_slice(&data);
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

/// `message` framed: the 5-byte prefix, then its bytes.
pub fn frame(message: &impl Message) -> Bytes {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(PREFIX + len);
    buf.put_u8(0);
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    // Cannot fail: the buffer has room for the whole message.
    let _ = message.encode(&mut buf);
    buf.freeze()
}

/// The head of an answer: `200`, `content-type: application/grpc`.
pub fn headers() -> Response<()> {
    let mut r = Response::new(());
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    r
}

/// `grpc-status: 0`, or the status's code and percent-encoded message.
pub fn status_trailers(status: Option<&Status>) -> HeaderMap {
    let mut h = HeaderMap::new();
    match status {
        None => {
            h.insert("grpc-status", HeaderValue::from_static("0"));
        }
        Some(status) => {
            h.insert("grpc-status", HeaderValue::from(status.code() as i32));
            if let Ok(v) = HeaderValue::from_str(&percent_encode(status.message())) {
                h.insert("grpc-message", v);
            }
        }
    }
    h
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_their_code_and_the_message_percent_encoded() {
        let h = status_trailers(Some(&Status::invalid_argument(
            "domain: 1 to 1024 bytes, 100%",
        )));
        assert_eq!(h["grpc-status"], "3");
        assert_eq!(h["grpc-message"], "domain: 1 to 1024 bytes, 100%25");
        assert_eq!(status_trailers(None)["grpc-status"], "0");
        assert_eq!(percent_encode("é\n"), "%C3%A9%0A");
        assert_eq!(headers().headers()[CONTENT_TYPE], "application/grpc");
    }

    #[test]
    fn a_frame_is_the_prefix_then_the_message() {
        let msg = RateLimitRequest {
            domain: "edge".into(),
            ..Default::default()
        };
        let bytes = frame(&msg);
        assert_eq!(bytes[0], 0);
        assert_eq!(
            u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize,
            bytes.len() - 5
        );
        assert_eq!(RateLimitRequest::decode(&bytes[5..]).unwrap(), msg);
    }
}
