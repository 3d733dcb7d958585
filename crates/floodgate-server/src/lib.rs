//! The Floodgate server: config file, `simulate`, and (with later
//! features) the gateway, decision API and admin API.
//!
//! # Layout
//!
//! - [`config`]: the YAML config file, parsed and validated.
//! - [`simulate`]: replays a traffic trace through a policy.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod simulate;
