//! Floodgate as tower middleware, for axum and hyper services.
//!
//! The layer holds only a [`LimiterHandle`] (shared state behind an `Arc`),
//! so clones are cheap and every clone sees the same counters. The service
//! decides in `call`: an allowed request goes on (held first for a shaping
//! limit's delay) and its response gets the rate-limit headers, and holds
//! its concurrency slots until its response body ends; a denied one
//! is answered by the [`ResponseFuture`] with a 429 response, never a
//! service error.
//!
//! # Layout
//!
//! - [`handle`]: [`LimiterHandle`], the shared state: the limiter in force
//!   (swapped on reload), the clock, the observer; it decides requests.
//! - [`decided`]: [`Decided`], a verdict and the response it leads to.
//! - [`observer`]: [`Observer`] and what it sees of each decision, [`Seen`].
//! - [`layer`]: [`RateLimitLayer`], configuration only.
//! - [`service`]: [`RateLimitService`], which decides in `call`.
//! - [`future`]: [`ResponseFuture`], which answers a denial itself or
//!   calls the inner service.
//! - [`slots`]: [`SlotGuard`], the concurrency slots a request in flight
//!   holds (renewed while held), and [`LeasedBody`], the response body
//!   that releases them once sent or dropped.
//! - [`client_ip`](mod@client_ip): who the client is, through trusted proxies only, and
//!   [`PeerAddr`] for hyper users.
//! - [`headers`]: `X-RateLimit-*`, `RateLimit-Policy`, `RateLimit`,
//!   `Retry-After`, and the 429 body.
//! - [`response`]: JSON responses and error bodies.
//! - [`retry`]: for outbound clients, a retry policy that honours
//!   `Retry-After` and `RateLimit`.
//!
//! # Example
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use floodgate_config::parse_policy;
//! use floodgate_core::{Limiter, MemoryStore};
//! use floodgate_tower::{LimiterHandle, RateLimitLayer, TrustedProxies};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = parse_policy("inline", r#"
//! rules:
//!   - name: per-ip
//!     key: ip
//!     limits: [ { algorithm: token_bucket, capacity: 100, refill: 1/s } ]
//! "#)?;
//! let limiter = Limiter::new(Arc::new(policy), Arc::new(MemoryStore::default()));
//! let handle = LimiterHandle::new(limiter, TrustedProxies::none());
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(RateLimitLayer::new(handle));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client_ip;
pub mod decided;
pub mod future;
pub mod handle;
pub mod headers;
pub mod layer;
pub mod observer;
pub mod response;
pub mod retry;
pub mod service;
pub mod slots;

pub use client_ip::{client_ip, BadProxy, PeerAddr, TrustedProxies};
pub use decided::{Decided, Degraded};
pub use future::ResponseFuture;
pub use handle::LimiterHandle;
pub use layer::RateLimitLayer;
pub use observer::{Both, Observer, Seen};
pub use retry::RetryPolicy;
pub use service::RateLimitService;
pub use slots::{LeasedBody, SlotGuard};
