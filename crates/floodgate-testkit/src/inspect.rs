//! Counter inspection and reset, as every store must do them: inspecting
//! consumes nothing and shows what a request would be told; a reset makes
//! a key start afresh.

use std::sync::Arc;
use std::time::Duration;

use crate::failure::Failure;
use floodgate_core::{LimitCheck, Quota, Rate, Store, Timestamp};

/// Runs the suite on `store`, in `namespace` (so runs against a persistent
/// store stay apart).
pub async fn inspect_suite(store: &dyn Store, namespace: &str) -> Result<(), Failure> {
    let now = Timestamp::from_micros(crate::BASE_US);
    let window = Quota::fixed_window(3, Duration::from_secs(60)).expect("valid quota");
    let bucket = Quota::token_bucket(2, Rate::per_second(1).expect("rate")).expect("valid quota");
    let check = |name: &str, quota: Quota| {
        LimitCheck::new(
            Arc::from(format!("{namespace}:inspect:{name}")),
            Arc::from("who"),
            quota,
            1,
        )
    };
    let checks = [check("w", window), check("b", bucket)];
    let err = |e: floodgate_core::StoreError| e.to_string();
    // Fresh keys: the full limit, and nothing consumed by looking.
    for _ in 0..3 {
        let d = store.inspect(&checks, now).await.map_err(err)?;
        if d[0].remaining != 2 || d[1].remaining != 1 || !d[0].allowed || !d[1].allowed {
            return Err(format!("fresh keys inspected as {d:?}").into());
        }
    }
    // Two requests, then the inspection shows what a third would get.
    store.check(&checks, now).await.map_err(err)?;
    store.check(&checks, now).await.map_err(err)?;
    let d = store.inspect(&checks, now).await.map_err(err)?;
    if !d[0].allowed || d[0].remaining != 0 || d[1].allowed || d[1].retry_after.is_none() {
        return Err(format!("after two requests: {d:?}").into());
    }
    // A reset forgets both keys; an unknown key is not counted.
    let n = store.reset(&checks).await.map_err(err)?;
    if n != 2 {
        return Err(format!("reset {n} keys, expected 2").into());
    }
    let again = store.reset(&checks).await.map_err(err)?;
    if again != 0 {
        return Err(format!("a second reset found {again} keys").into());
    }
    let d = store.check(&checks, now).await.map_err(err)?;
    if !d[0].allowed || d[0].remaining != 2 || d[1].remaining != 1 {
        return Err(format!("after a reset: {d:?}").into());
    }
    Ok(())
}
