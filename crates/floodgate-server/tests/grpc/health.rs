//! Health checking, and no gRPC listener unless one is configured.

use std::time::Duration;

use tonic::transport::Channel;

use super::common::*;
use super::CONFIG;

#[tokio::test]
async fn health_checking_answers_serving() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let yaml = CONFIG.replace("rules:", "shutdown_grace: 30s\nrules:");
    assert_ne!(yaml, CONFIG);
    let s = start(&yaml).await;
    let channel = Channel::from_shared(format!("http://{}", s.grpc.unwrap()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut h = HealthClient::new(channel);
    for service in ["", "envoy.service.ratelimit.v3.RateLimitService"] {
        let r = h
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, 1, "{service}: SERVING");
    }
    let unknown = HealthCheckRequest {
        service: "no.such.Service".into(),
    };
    let e = h.check(unknown.clone()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    // Watch: the status at once, SERVICE_UNKNOWN for an unknown service.
    let mut unknown_watch = h.watch(unknown).await.unwrap().into_inner();
    let first = unknown_watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, 3, "SERVICE_UNKNOWN");
    let mut watch = h
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, 1);
    // An open Watch does not hold the shutdown for its grace (30 s here):
    // it ends with the server.
    let stopped = tokio::time::timeout(Duration::from_secs(10), s.running.shutdown()).await;
    assert!(matches!(stopped, Ok(Ok(()))), "{stopped:?}");
    let ended = watch.message().await;
    assert!(
        matches!(&ended, Err(e) if e.code() == tonic::Code::Unavailable),
        "{ended:?}"
    );
}

#[tokio::test]
async fn without_grpc_listen_there_is_no_grpc_listener() {
    let s = start(BASE).await;
    assert!(s.grpc.is_none());
}
