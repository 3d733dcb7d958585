//! Floodgate as tower middleware, for axum and hyper services.
//!
//! The layer holds only shared state (behind an `Arc`), so clones are cheap
//! and every clone sees the same counters. It decides in `call`: an allowed
//! request goes on (held first for a shaping limit's delay) and its response
//! gets the rate-limit headers; a denied one is answered with a 429 response,
//! never a service error.
//!
//! # Layout
//!
//! - [`client_ip`]: who the client is, through trusted proxies only.
//! - [`headers`]: `X-RateLimit-*`, `RateLimit-Policy`, `RateLimit`,
//!   `Retry-After`, and the 429 body.
//! - [`response`]: JSON responses and error bodies.
//! - [`layer`]: [`RateLimitLayer`], its shared [`Limits`] and the
//!   [`RateLimit`] service.
//!
//! # Example
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use floodgate_core::{policy::parse_policy, Limiter, MemoryStore};
//! use floodgate_tower::{Limits, RateLimitLayer, TrustedProxies};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = parse_policy("inline", r#"
//! rules:
//!   - name: per-ip
//!     key: ip
//!     limits: [ { algorithm: token_bucket, capacity: 100, refill: 1/s } ]
//! "#)?;
//! let limiter = Limiter::new(Arc::new(policy), Arc::new(MemoryStore::default()));
//! let limits = Limits::new(limiter, TrustedProxies::none());
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(RateLimitLayer::new(limits));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client_ip;
pub mod headers;
pub mod layer;
pub mod response;

pub use client_ip::{client_ip, TrustedProxies};
pub use layer::{Limits, Observer, PeerAddr, RateLimit, RateLimitLayer, Seen};
