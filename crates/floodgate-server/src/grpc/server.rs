//! The `ShouldRateLimit` endpoint as a tower service: the generated
//! server's work, with a codec that answers a message that does not
//! decode with `INVALID_ARGUMENT` (tonic's own says `INTERNAL`, which
//! reads as our fault) and a bound on message size.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::codegen::{BoxFuture, Service, StdError};
use tonic::server::{Grpc, UnaryService};
use tonic::Status;
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

use super::RateLimits;

/// The path of the one method.
pub const SHOULD_RATE_LIMIT: &str = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";

/// Serves `ShouldRateLimit`, refusing messages over `max_message` bytes.
#[derive(Clone)]
pub struct ShouldRateLimit {
    service: Arc<RateLimits>,
    max_message: usize,
}

impl ShouldRateLimit {
    /// `service` behind the gRPC framing.
    pub fn new(service: RateLimits, max_message: usize) -> ShouldRateLimit {
        ShouldRateLimit {
            service: Arc::new(service),
            max_message,
        }
    }
}

struct Unary(Arc<RateLimits>);

impl UnaryService<RateLimitRequest> for Unary {
    type Response = RateLimitResponse;
    type Future = BoxFuture<tonic::Response<RateLimitResponse>, Status>;

    fn call(&mut self, request: tonic::Request<RateLimitRequest>) -> Self::Future {
        let service = self.0.clone();
        Box::pin(async move { service.should_rate_limit(request).await })
    }
}

impl<B> Service<http::Request<B>> for ShouldRateLimit
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let unary = Unary(self.service.clone());
        let max = self.max_message;
        Box::pin(async move {
            let mut grpc =
                Grpc::new(StrictCodec::default()).apply_max_message_size_config(Some(max), None);
            Ok(grpc.unary(unary, req).await)
        })
    }
}

/// Prost's codec, but a message that does not decode is the caller's
/// error.
#[derive(Default)]
struct StrictCodec(ProstCodec<RateLimitResponse, RateLimitRequest>);

impl Codec for StrictCodec {
    type Encode = RateLimitResponse;
    type Decode = RateLimitRequest;
    type Encoder = ProstEncoder<RateLimitResponse>;
    type Decoder = StrictDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        StrictDecoder(self.0.decoder())
    }
}

struct StrictDecoder(ProstDecoder<RateLimitRequest>);

impl Decoder for StrictDecoder {
    type Item = RateLimitRequest;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<RateLimitRequest>, Status> {
        self.0
            .decode(src)
            .map_err(|e| Status::invalid_argument(format!("malformed message: {}", e.message())))
    }
}
