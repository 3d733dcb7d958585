//! Test helpers shared by Floodgate's crates.
//!
//! # Layout
//!
//! - [`case`]: a conformance case as data ([`Case`], [`Step`]) and the
//!   runners that replay it against a store or any decide function, naming
//!   the step that failed.
//! - [`suite`]: [`run_cases`] (every case against a store) and
//!   [`atomic_suite`] (several limits of one request).
//! - [`cases`](mod@cases): [`cases()`], the conformance suite: every algorithm and its
//!   edges, with decisions hand-computed from DESIGN.md's algorithm table.
//! - [`clock`]: a day-aligned base time and `ManualClock` helpers.
//! - [`failure`]: [`Failure`], how a store failed a case or suite.
//! - [`exec`]: a tiny `block_on`, so sync tests can drive async stores.
//! - [`inspect`]: counter inspection and reset, as every store does them.
//! - [`identities`]: two limits never share a counter, whatever their
//!   names.
//! - [`redis`]: real `redis-server` processes (a server, a 3-primary
//!   cluster); [`cluster`]: 3 primaries with a replica each
//!   ([`ReplicatedCluster`]), for failover tests.
//! - [`delay_proxy`]: [`DelayProxy`], a TCP proxy that adds latency in
//!   each direction and can cut the network (binary
//!   `floodgate-delay-proxy`), for the multi-region tests.
//!
//! # Example
//!
//! ```
//! use floodgate_core::MemoryStore;
//! use floodgate_testkit::{block_on, cases, run_case};
//!
//! let store = MemoryStore::default();
//! for case in cases() {
//!     block_on(run_case(&store, &case)).unwrap();
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod case;
pub mod cases;
pub mod clock;
pub mod cluster;
pub mod delay_proxy;
pub mod exec;
pub mod failure;
pub mod identities;
pub mod inspect;
pub mod pki;
pub mod redis;
pub mod sentinel;
pub mod suite;

pub use case::{run_case, run_case_sync, run_case_with, Case, Step};
pub use cases::cases;
pub use clock::{at, base_clock, BASE, BASE_US};
pub use cluster::ReplicatedCluster;
pub use delay_proxy::DelayProxy;
pub use exec::block_on;
pub use failure::Failure;
pub use identities::{limits_stay_apart, LimitSpec};
pub use inspect::inspect_suite;
pub use suite::{atomic_suite, run_cases};
