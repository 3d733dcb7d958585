//! The Floodgate server: the data plane (the public listener with the
//! gateway or demo endpoints behind the rate-limit layer, the decision
//! API over HTTP and gRPC), the wiring that joins it to the control plane
//! (`floodgate-admin`), config reloads, and `simulate`.
//!
//! # Layout
//!
//! Arrows go down only: `app` wires everything; the data plane's folders
//! never import the control plane.
//!
//! - [`app`]: `run(config, listeners, shutdown, reloads)`, `start`: the
//!   parts built and joined, the admin listener's routes, reloads, the
//!   file watch and the graceful shutdown.
//! - [`config`]: the config file as the server runs it (the document and
//!   its validation are `floodgate-config`'s), its summary, and which
//!   fields reload without a restart.
//! - [`gateway`]: the public listener's application: proxy, WebSocket,
//!   overload shedding, demo endpoints.
//! - [`decide`]: the decision API: `POST /v1/check`, leases, gRPC.
//! - [`net`]: listeners, connections and their bounds, serving threads.
//! - [`observe`]: metrics and logs.
//! - [`simulate`]: replays a traffic trace through a policy.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod config;
pub mod decide;
pub mod gateway;
pub mod net;
pub mod observe;
pub mod simulate;

pub use app::error::{ReloadError, ServerError};
pub use app::{run, start, Listeners, Options, Running};
