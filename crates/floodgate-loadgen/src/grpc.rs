//! gRPC mode: Envoy's `ShouldRateLimit`
//! (`envoy.service.ratelimit.v3.RateLimitService`) over a few HTTP/2
//! connections, one descriptor per request.
//!
//! Request `i` goes out on connection `i mod connections`; each connection
//! carries as many concurrent streams as there are requests in flight on
//! it (Envoy, too, multiplexes its calls over one connection per worker
//! thread). The answer counts as the status Envoy gives its client:
//! `overall_code` `OK` as 200, `OVER_LIMIT` as 429; a gRPC error status
//! (`INVALID_ARGUMENT`, `UNAVAILABLE`, ...) is an error, as Envoy applies
//! its `failure_mode_deny` to it.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use prost::Message;
use tokio::sync::OnceCell;

use crate::record::Outcome;
use crate::scenario::Scenario;

/// The method's path.
const PATH: &str = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";

/// Why a call has no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The TCP connection failed.
    #[error("connecting to {authority}: {source}")]
    Connect {
        /// Where to.
        authority: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP/2 handshake failed.
    #[error("HTTP/2 handshake with {authority}: {source}")]
    Handshake {
        /// With whom.
        authority: String,
        /// Why.
        source: h2::Error,
    },
    /// A request past the 4 GiB of a gRPC frame.
    #[error("message too long")]
    TooLong,
    /// The request does not encode.
    #[error("{0}")]
    Encode(#[from] prost::EncodeError),
    /// The HTTP request cannot be built.
    #[error("{0}")]
    Request(#[from] http::Error),
    /// HTTP/2 failed.
    #[error("{0}")]
    H2(#[from] h2::Error),
    /// A gRPC status other than OK.
    #[error("gRPC status {name}: {message}")]
    Status {
        /// The code's name.
        name: String,
        /// `grpc-message`.
        message: String,
    },
    /// No message, or a compressed one.
    #[error("gRPC answer with no uncompressed message")]
    NoMessage,
    /// The answer does not decode.
    #[error("gRPC answer does not decode: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The answer is not a well-formed message.
    #[error("gRPC answer does not decode: {0}")]
    Malformed(&'static str),
}

/// One HTTP/2 connection: the `h2` crate's handle straight, a unary call
/// framed and read here, with no generic gRPC client, dispatch task or
/// reconnection in between (the loadgen shares the machine with the
/// server: its own cost per call should stay small, as in the HTTP modes).
#[derive(Clone, Debug)]
pub struct H2(h2::client::SendRequest<Bytes>);

impl H2 {
    /// Calls `ShouldRateLimit` on `base` with `req`: the response's
    /// `overall_code`, or why there is none (a gRPC status is an error).
    async fn call(&mut self, base: &http::Uri, req: &RateLimitRequest) -> Result<i32, CallError> {
        let len = req.encoded_len();
        let mut frame = BytesMut::with_capacity(5 + len);
        frame.put_u8(0);
        frame.put_u32(u32::try_from(len).map_err(|_| CallError::TooLong)?);
        req.encode(&mut frame)?;
        let uri = format!(
            "{}://{}{PATH}",
            base.scheme_str().unwrap_or("http"),
            base.authority().map_or("", |a| a.as_str())
        );
        let request = http::Request::post(uri)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())?;
        let mut send = self.0.clone().ready().await?;
        let (answer, mut body) = send.send_request(request, false)?;
        body.send_data(frame.freeze(), true)?;
        let resp = answer.await?;
        if let Some(status) = resp.headers().get("grpc-status").filter(|v| *v != "0") {
            return Err(status_error(status, resp.headers().get("grpc-message")));
        }
        let mut recv = resp.into_body();
        let mut message = BytesMut::new();
        while let Some(data) = recv.data().await {
            let data = data?;
            let _ = recv.flow_control().release_capacity(data.len());
            message.extend_from_slice(&data);
        }
        if let Some(t) = recv.trailers().await? {
            if let Some(status) = t.get("grpc-status").filter(|v| *v != "0") {
                return Err(status_error(status, t.get("grpc-message")));
            }
        }
        if message.len() < 5 || message[0] != 0 {
            return Err(CallError::NoMessage);
        }
        message.advance(5);
        overall_code(&message)
    }
}

fn status_error(code: &http::HeaderValue, message: Option<&http::HeaderValue>) -> CallError {
    let code = code.to_str().unwrap_or("?");
    let name = code.parse::<i32>().map_or_else(
        |_| code.to_string(),
        |c| format!("{:?}", tonic::Code::from_i32(c)),
    );
    let message = message.and_then(|m| m.to_str().ok()).unwrap_or("");
    CallError::Status {
        name,
        message: message.to_string(),
    }
}

/// Opens an HTTP/2 connection (prior knowledge, no TLS) to `authority`.
async fn connect(authority: &str) -> Result<H2, CallError> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|source| CallError::Connect {
            authority: authority.to_string(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    let (send, connection) =
        h2::client::handshake(stream)
            .await
            .map_err(|source| CallError::Handshake {
                authority: authority.to_string(),
                source,
            })?;
    // A connection that breaks fails its calls, which report why.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(H2(send))
}

/// The gRPC connections of a run, each opened at its first call. A
/// connection that breaks is not reopened: its calls fail (as errors in
/// the report).
#[derive(Debug)]
pub struct Channels {
    url: http::Uri,
    connections: Vec<OnceCell<H2>>,
}

impl Channels {
    /// `scenario.connections` connections to `scenario.url`.
    pub fn new(scenario: &Scenario) -> Channels {
        Channels {
            url: scenario.url.clone(),
            connections: (0..scenario.connections).map(|_| OnceCell::new()).collect(),
        }
    }

    /// Sends request number `index` and reads its answer.
    pub async fn should_rate_limit(&self, index: u64, req: RateLimitRequest) -> Outcome {
        let cell = &self.connections[(index % self.connections.len() as u64) as usize];
        let authority = self.url.authority().map_or("", |a| a.as_str());
        let client = cell.get_or_try_init(|| connect(authority)).await;
        let mut client = match client {
            Ok(c) => c.clone(),
            Err(e) => return Outcome::Error(e.to_string()),
        };
        match client.call(&self.url, &req).await {
            Ok(code) => outcome(code),
            Err(e) => Outcome::Error(e.to_string()),
        }
    }
}

/// The `overall_code` of an encoded `RateLimitResponse` (0 when absent),
/// every other field skipped unread: the generator counts only the
/// code, and decoding the statuses and headers whole (a string each)
/// would cost it, on the machine it shares with the server, more the
/// more a server answers.
pub fn overall_code(mut b: &[u8]) -> Result<i32, CallError> {
    use prost::encoding::{decode_key, decode_varint, WireType};
    let mut code = 0;
    while !b.is_empty() {
        let (tag, wire) = decode_key(&mut b)?;
        if tag == 1 && wire != WireType::Varint {
            return Err(CallError::Malformed("overall_code is not a varint"));
        }
        let skip = match wire {
            WireType::Varint => {
                let v = decode_varint(&mut b)?;
                if tag == 1 {
                    code = v as i32;
                }
                0
            }
            WireType::LengthDelimited => usize::try_from(decode_varint(&mut b)?)
                .map_err(|_| CallError::Malformed("length too large"))?,
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::StartGroup | WireType::EndGroup => {
                return Err(CallError::Malformed("groups are not expected"))
            }
        };
        if skip > b.len() {
            return Err(CallError::Malformed("a field runs past the end"));
        }
        b = &b[skip..];
    }
    Ok(code)
}

/// The outcome of an answer with this `overall_code`.
pub fn outcome(overall_code: i32) -> Outcome {
    match Code::try_from(overall_code) {
        Ok(Code::Ok) => Outcome::Status(200),
        Ok(Code::OverLimit) => Outcome::Status(429),
        _ => Outcome::Error(format!("overall_code {overall_code} (UNKNOWN)")),
    }
}

/// The request of a client whose descriptor value is `value`: one
/// descriptor, one entry `key=value`, in `domain`, cost 1.
pub fn request(domain: &str, key: &str, value: &str) -> RateLimitRequest {
    RateLimitRequest {
        domain: domain.to_string(),
        descriptors: vec![RateLimitDescriptor {
            entries: vec![Entry {
                key: key.to_string(),
                value: value.to_string(),
            }],
            ..RateLimitDescriptor::default()
        }],
        hits_addend: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overall_code_is_read_past_every_other_field() {
        use envoy_types::pb::envoy::config::core::v3::HeaderValue;
        use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
            DescriptorStatus, RateLimit,
        };
        use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitResponse;
        let full = RateLimitResponse {
            statuses: vec![DescriptorStatus {
                code: Code::OverLimit as i32,
                current_limit: Some(RateLimit {
                    name: "per-key/minute".into(),
                    requests_per_unit: 40,
                    unit: 2,
                }),
                limit_remaining: 3,
                ..DescriptorStatus::default()
            }],
            response_headers_to_add: vec![HeaderValue {
                key: "X-RateLimit-Limit".into(),
                value: "40".into(),
                ..HeaderValue::default()
            }],
            raw_body: vec![7; 300],
            overall_code: Code::OverLimit as i32,
            ..RateLimitResponse::default()
        };
        for (resp, code) in [(full, 2), (RateLimitResponse::default(), 0)] {
            let bytes = resp.encode_to_vec();
            assert_eq!(overall_code(&bytes).unwrap(), code);
            // Cut short, it does not decode.
            if bytes.len() > 1 {
                assert!(overall_code(&bytes[..bytes.len() - 1]).is_err());
            }
        }
        // Field 1 as a string is not an overall_code.
        assert!(overall_code(&[0x0a, 0x01, 0x02]).is_err());
    }

    #[test]
    fn answers_count_as_the_status_envoy_gives() {
        assert_eq!(outcome(Code::Ok as i32), Outcome::Status(200));
        assert_eq!(outcome(Code::OverLimit as i32), Outcome::Status(429));
        assert!(matches!(outcome(Code::Unknown as i32), Outcome::Error(_)));
        assert!(matches!(outcome(42), Outcome::Error(_)));
    }

    #[test]
    fn a_grpc_status_is_an_error_named_by_its_code() {
        let message = http::HeaderValue::from_static("the rate limiter cannot decide");
        assert_eq!(
            status_error(&http::HeaderValue::from_static("14"), Some(&message)).to_string(),
            "gRPC status Unavailable: the rate limiter cannot decide"
        );
        assert_eq!(
            status_error(&http::HeaderValue::from_static("x"), None).to_string(),
            "gRPC status x: "
        );
    }

    #[test]
    fn one_descriptor_of_one_entry() {
        let r = request("edge", "api_key", "lg-7");
        assert_eq!(r.domain, "edge");
        assert_eq!(r.hits_addend, 1);
        assert_eq!(r.descriptors.len(), 1);
        let e = &r.descriptors[0].entries;
        assert_eq!(
            (e[0].key.as_str(), e[0].value.as_str()),
            ("api_key", "lg-7")
        );
    }
}
