//! The decision API: any bytes as the body of `POST /v1/check`, through
//! the decision API's router (built once, on examples/floodgate.yaml, a
//! memory store and a fixed clock), answered on a current-thread runtime.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::Router;
use floodgate_core::{Clock, Limiter, ManualClock, MemoryStore, Store, Timestamp};
use floodgate_server::config::Config;
use floodgate_server::decide;
use floodgate_tower::LimiterHandle;
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;
use tower::ServiceExt;

struct Fixture {
    rt: Runtime,
    router: Router,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let router = rt.block_on(async {
            let config = Config::parse(
                "examples/floodgate.yaml",
                include_str!("../../examples/floodgate.yaml"),
            )
            .expect("the example config is valid");
            // A fixed clock: the same body gets the same answer whatever
            // the fuzzer ran before (windows do not roll over).
            let clock: Arc<dyn Clock> =
                Arc::new(ManualClock::new(Timestamp::from_secs_f64(1_700_000_000.0)));
            let store: Arc<dyn Store> = Arc::new(MemoryStore::new(config.memory));
            let handle = LimiterHandle::with_clock(
                Arc::new(Limiter::new(config.policy.clone(), store)),
                config.trusted_proxies.clone(),
                clock,
                None,
            );
            decide::router(handle)
        });
        Fixture { rt, router }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let req = http::Request::post("/v1/check")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(data.to_vec()))
        .expect("request");
    let status = f.rt.block_on(async {
        let res = f.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("response body");
        status
    });
    // A body is a decision (200, 429), a bad request (400) or, for an
    // unknown API key under require_api_key, a refusal (401/403).
    assert!(
        !status.is_server_error(),
        "POST /v1/check answered {status}"
    );
});
