//! Floodgate's core: rate-limiting algorithms, the policy engine and the
//! in-memory store.
//!
//! # Layout
//!
//! - [`time`]: `Timestamp` (µs since the epoch), the `Clock` trait,
//!   `SystemClock` and `ManualClock`.
//! - [`quota`]: `Quota` (an algorithm and its validated parameters),
//!   `QuotaError`, and `Rate` (an amount per period, in lowest terms) with
//!   `human_micros`.
//! - [`algorithm`]: the six algorithms as pure state transitions.
//! - [`decision`]: `Decision`, `RetryAfter`.
//! - [`store`]: the `Store` trait, `StoreWrapper` (a store around a store
//!   writes only what it changes), `FailureSettings`, and the sharded,
//!   bounded `MemoryStore`.
//! - [`policy`]: rules, keys, tiers, the YAML policy config and `Limiter`.
//!
//! # Features
//!
//! - `jwt` (default): verifying the tokens of `identity.jwt`
//!   (`policy::jwt`), with `jsonwebtoken`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use floodgate_core::{algorithm, Quota, Rate, Timestamp};
//!
//! let quota = Quota::token_bucket(2, Rate::per_second(1).unwrap()).unwrap();
//! let t = Timestamp::from_micros(0);
//! let mut state = algorithm::State::fresh(&quota, t);
//! assert!(algorithm::decide(&mut state, t, 1, &quota).allowed);
//! assert!(algorithm::decide(&mut state, t, 1, &quota).allowed);
//! let denied = algorithm::decide(&mut state, t, 1, &quota);
//! assert!(!denied.allowed);
//! assert_eq!(
//!     denied.retry_after,
//!     Some(floodgate_core::RetryAfter::After(Duration::from_secs(1)))
//! );
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod algorithm;
pub mod decision;
pub mod gate;
pub mod hash;
pub mod policy;
pub mod quota;
pub mod store;
pub mod time;

pub use decision::{Decision, RetryAfter};
pub use policy::{CheckError, Limiter, Policy, Request, Verdict};
pub use quota::{LeakMode, Quota, Rate};
pub use store::{
    FailureMode, LeaseId, LeaseOp, LeaseStatus, LimitCheck, MemoryStore, MemoryStoreConfig, Store,
    StoreError,
};
pub use time::{Clock, ManualClock, MonotonicClock, SystemClock, SystemMonotonic, Timestamp};
