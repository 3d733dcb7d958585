//! Floodgate inside Python services: the engine, the stores and the
//! responses of the gateway, as a native Python package (`floodgate`).
//!
//! A Python app and a `floodgate serve` gateway on one Redis enforce one
//! count: the package decides with the same [`Limiter`](floodgate_core::Limiter),
//! the same Redis scripts and keys (`floodgate-redis`), reads the same
//! policy document (`floodgate-config`, with its located errors) and
//! answers with the same headers and 429 body (`floodgate-tower`).
//!
//! # Layout
//!
//! - [`settings`]: the policy, the store section and the trusted proxies,
//!   read from a config file or a document, as the server reads them.
//! - [`store`]: the store a `store:` section describes (memory, or Redis
//!   and Redis Cluster behind the failure policy), and the two ways a
//!   Redis call goes (the runtime's connections, or a blocking one driven
//!   by the synchronous caller's thread).
//! - [`engine`]: [`Engine`], a limiter on its own tokio runtime, deciding
//!   stated requests ([`query`]) without or with a wait for Redis.
//! - [`outcome`]: [`Outcome`], a decision with its fields, headers and
//!   the gateway's response body.
//! - [`slots`]: [`Slots`], the concurrency slots an allowed request holds
//!   until released.
//! - [`error`]: what can go wrong setting up or asking.
//! - `python` (feature `python`): the PyO3 bindings, the `_native` module
//!   under the `floodgate` package (`python/floodgate/`: the API, the ASGI
//!   middleware, the per-route dependency, type hints).
//!
//! Without the `python` feature the crate builds and tests with no Python
//! at all; maturin turns on `extension-module` (and with it `python`).
//!
//! # Example
//!
//! ```
//! use floodgate_py::{Engine, Settings, Query};
//!
//! let settings = Settings::from_text("inline", r#"
//! rules:
//!   - name: per-ip
//!     key: ip
//!     limits: [ { algorithm: token_bucket, capacity: 2, refill: 1/minute } ]
//! "#).unwrap();
//! let engine = Engine::start(settings).unwrap();
//! let q = Query { ip: Some("203.0.113.7".parse().unwrap()), path: "/".into(), ..Query::default() };
//! assert!(engine.check(&q).unwrap().allowed());
//! assert!(engine.check(&q).unwrap().allowed());
//! let denied = engine.check(&q).unwrap();
//! assert_eq!(denied.status(), 429);
//! ```

#![warn(missing_docs)]
// The bindings need `unsafe` inside PyO3's macros only.
#![cfg_attr(not(feature = "python"), forbid(unsafe_code))]

mod decide;
pub mod engine;
pub mod error;
pub mod outcome;
pub mod query;
pub mod settings;
pub mod slots;
pub mod store;

#[cfg(feature = "python")]
mod python;

pub use engine::Engine;
pub use error::{AskError, SetupError};
pub use outcome::Outcome;
pub use query::{HttpQuery, Query};
pub use settings::Settings;
pub use slots::Slots;
