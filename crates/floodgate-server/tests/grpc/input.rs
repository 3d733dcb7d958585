//! Bad input: invalid arguments, messages over the body bound, malformed
//! frames; the server goes on answering.

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::google::protobuf::UInt64Value;

use super::common::*;
use super::*;

#[tokio::test]
async fn bad_input_is_invalid_argument() {
    let s = start(CONFIG).await;
    let mut c = client(&s).await;
    let ok = || descriptor(&[("api_key", "k1")]);
    let mut huge = ok();
    huge.hits_addend = Some(UInt64Value { value: u64::MAX });
    let mut negative = ok();
    negative.is_negative_hits = true;
    let cases = [
        (request("", vec![ok()]), "domain"),
        (request("edge", vec![]), "descriptors"),
        (request("edge", vec![descriptor(&[])]), "descriptors[0]"),
        (
            request("edge", vec![ok(), descriptor(&[("", "v")])]),
            "descriptors[1].entries[0].key",
        ),
        (
            request("edge", vec![descriptor(&[("k", &"v".repeat(2000))])]),
            "value",
        ),
        (request("edge", vec![huge]), "hits_addend"),
        (request("edge", vec![negative]), "is_negative_hits"),
        (
            request("edge", (0..65).map(|_| ok()).collect()),
            "descriptors",
        ),
    ];
    for (req, what) in cases {
        let e = c.should_rate_limit(req).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{what}: {e:?}");
        assert!(e.message().contains(what), "{what}: {e:?}");
    }
    // A message over grpc.connections.max_body is refused before it is
    // read whole; the listener still answers.
    let long = (0..30)
        .map(|i| descriptor(&[("api_key", &format!("{i:0>200}"))]))
        .collect();
    let e = c
        .should_rate_limit(request("edge", long))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");
    // Nothing was consumed by any of them.
    let r = ask(&mut c, request("edge", vec![ok()])).await;
    assert_eq!(r.statuses[0].limit_remaining, 2);
}

/// Sends `body` as a raw `ShouldRateLimit` call; its `grpc-status` and
/// `grpc-message` (trailers-only answers carry them in the headers).
async fn raw_call(addr: std::net::SocketAddr, body: Vec<u8>) -> (String, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = http::Request::post(format!(
        "http://{addr}/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(http_body_util::Full::new(bytes::Bytes::from(body)))
    .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/grpc");
    let h = |name: &str| {
        resp.headers()
            .get(name)
            .map_or(String::new(), |v| v.to_str().unwrap().to_string())
    };
    (h("grpc-status"), h("grpc-message"))
}

#[tokio::test]
async fn a_malformed_message_is_refused_and_the_server_goes_on() {
    let s = start(CONFIG).await;
    let addr = s.grpc.unwrap();
    // A gRPC frame whose payload is not a RateLimitRequest.
    let (status, message) = raw_call(addr, vec![0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]).await;
    assert_eq!(status, "3", "{message}");
    assert!(message.starts_with("malformed message"), "{message}");
    // A compressed one: no compression is offered.
    let (status, _) = raw_call(addr, vec![1, 0, 0, 0, 1, 0]).await;
    assert_eq!(status, "12");
    // No whole message: an empty body, a prefix cut short, a message
    // shorter than its prefix says.
    for body in [vec![], vec![0, 0, 0], vec![0, 0, 0, 0, 9, 1]] {
        let (status, message) = raw_call(addr, body.clone()).await;
        assert_eq!(status, "3", "{body:?}: {message}");
        assert!(message.contains("no whole message"), "{message}");
    }
    // A prefix announcing more than max_body: refused on the prefix alone.
    let (status, _) = raw_call(addr, vec![0, 0x7f, 0xff, 0xff, 0xff]).await;
    assert_eq!(status, "11");
    let mut c = client_of(addr).await;
    let r = ask(
        &mut c,
        request("edge", vec![descriptor(&[("api_key", "k")])]),
    )
    .await;
    assert_eq!(r.overall_code, Code::Ok as i32);
}
