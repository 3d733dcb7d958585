//! An axum service limited by Floodgate: 5 requests, then 1 per second, per
//! client IP.
//!
//! ```sh
//! cargo run -p floodgate-tower --example axum
//! curl -i http://127.0.0.1:3000/
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use floodgate_config::parse_policy;
use floodgate_core::{Limiter, MemoryStore};
use floodgate_tower::{LimiterHandle, RateLimitLayer, TrustedProxies};

const POLICY: &str = r#"
rules:
  - name: per-ip
    key: ip
    limits:
      - { algorithm: token_bucket, capacity: 5, refill: 1/s }
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = parse_policy("inline policy", POLICY)?;
    let limiter = Limiter::new(Arc::new(policy), Arc::new(MemoryStore::default()));
    let handle = LimiterHandle::new(limiter, TrustedProxies::none());
    let app = Router::new()
        .route("/", get(|| async { "hello\n" }))
        .layer(RateLimitLayer::new(handle));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
