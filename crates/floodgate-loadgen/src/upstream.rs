//! A tiny upstream for benchmarks: answers every request with 200 and a
//! small JSON body, so a gateway benchmark needs nothing else. It can also
//! play a slow service of bounded capacity ([`Slow`]): each request holds
//! one of `workers` slots for `delay`, and waits in line for a slot, so
//! past `workers / delay` requests per second its latency grows without
//! bound, as a real overloaded service's does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use tokio::net::TcpListener;

/// The body every request gets.
pub const BODY: &str = r#"{"ok":true,"data":[1,2,3]}"#;

/// The upstream's router.
pub fn router() -> Router {
    Router::new().fallback(|| async {
        http::Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(BODY))
            .expect("valid response")
    })
}

/// A slow upstream of bounded capacity.
#[derive(Clone, Copy, Debug)]
pub struct Slow {
    /// Time each request takes once it holds a slot.
    pub delay: Duration,
    /// Requests served at once; the others wait in line.
    pub workers: usize,
}

/// The slow upstream's router.
pub fn slow_router(slow: Slow) -> Router {
    // The command line refuses 0 workers; a library caller gets one.
    let slots = Arc::new(tokio::sync::Semaphore::new(slow.workers.max(1)));
    Router::new().fallback(move || {
        let slots = slots.clone();
        async move {
            let _slot = slots.acquire().await.expect("never closed");
            tokio::time::sleep(slow.delay).await;
            http::Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Body::from(BODY))
                .expect("valid response")
        }
    })
}

/// Serves the slow upstream on `listener` until the task is dropped.
pub async fn serve_slow(listener: TcpListener, slow: Slow) -> std::io::Result<()> {
    axum::serve(listener, slow_router(slow)).await
}

/// Serves on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router()).await
}

/// Binds `addr` and serves in a background task; returns the address.
pub async fn spawn(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve(listener));
    Ok(local)
}
