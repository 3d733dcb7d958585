//! A tiny upstream for benchmarks: answers every request with 200 and a
//! small JSON body, so a gateway benchmark needs nothing else.

use std::net::SocketAddr;

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
