//! How the store reaches Redis: where (a URL, Cluster seed nodes, or the
//! primary Sentinel names), as whom (an ACL user and a password read from
//! where the config says), over what (TLS, with the CA and client
//! certificate files named). `open.rs` makes a new set of
//! connections; `watch.rs` makes a new one when the TLS files change or
//! Sentinel names another primary, so neither needs a restart.

mod client;
mod direct;
pub(crate) mod error;
pub(crate) mod open;
pub(crate) mod secret;
pub(crate) mod sentinel;
pub(crate) mod shared;
pub(crate) mod tls;
pub(crate) mod watch;

pub use floodgate_core::store::redacted_url;
pub use secret::{Credentials, Secret, SecretError};
pub use sentinel::SentinelSettings;
pub use tls::{TlsError, TlsSettings};
pub use watch::recheck_now;
