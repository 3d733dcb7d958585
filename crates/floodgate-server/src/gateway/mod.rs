//! The public listener's application: the gateway to the upstream (or
//! the built-in demo endpoints), its WebSocket relay and its overload
//! shedding, behind the rate-limit layer.
//!
//! # Layout
//!
//! - [`proxy`]: forwards allowed requests to the upstream.
//! - [`websocket`]: the gateway's WebSocket proxying, its bounds and
//!   message limits.
//! - [`overload`]: load shedding before the rate limiter.
//! - [`demo`]: the built-in demo endpoints.

pub mod demo;
pub mod overload;
pub mod proxy;
pub mod websocket;
