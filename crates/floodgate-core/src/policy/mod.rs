//! The policy engine: which rules and limits apply to a request, under
//! which key, and the verdict over all of them.
//!
//! Every matching rule applies, plus the global limits. All enforced limits
//! of one request go to the store in one atomic call: if one denies, none
//! consumes. Each shadow rule is decided in a call of its own, so it is
//! counted as if it were enforced but never changes the verdict.
//!
//! # Layout
//!
//! - [`model`]: `Policy`, `Rule`, `Limit` (with its id), `Identity`
//!   settings and matching.
//! - [`clients`]: `ClientBook`, the known clients, shared by every policy
//!   version and changed in place.
//! - [`errors`]: what a 429 says beyond its default (URLs, a message
//!   template, details), per policy, tier and rule.
//! - [`names`]: `check_name`, the set rule, limit and tier names are
//!   written in.
//! - [`identity`]: `Request` and how it is built from attributes; the
//!   identity string a rule's key gives it; key fingerprints.
//! - [`attributes`]: `Attributes`, a request as stated (the decision API,
//!   `simulate`, the load generator's replay), `MAX_COST`, and
//!   `Identity::request_from`, checking them and building the `Request`.
//! - [`plan`]: the checks a request needs, each with its failure mode.
//! - [`pattern`]: `DescriptorMatch`, which descriptors a rule matches.
//! - [`descriptor`]: descriptor rules (Envoy's rate limit service API):
//!   matching the most specific rule, and their checks.
//! - [`limiter`]: `Limiter`, deciding a plan on a store; `Held`, the
//!   concurrency slots an allowed request holds until it releases them.
//! - [`verdict`]: `Verdict`, `LimitOutcome`, `CheckError`.
//! - [`view`]: `DecisionView`, the one serialisable rendering of a verdict.
//! - `jwt` (feature `jwt`, on by default): verifying the tokens that name
//!   a request's user and tier.
//!
//! The policy document (the YAML and JSON form) is the `floodgate-config`
//! crate's.

pub mod attributes;
pub mod clients;
pub mod descriptor;
pub mod errors;
pub mod identity;
#[cfg(feature = "jwt")]
pub mod jwt;
pub mod limiter;
pub mod model;
pub mod names;
pub mod pattern;
pub mod plan;
pub mod verdict;
pub mod view;

pub use crate::store::FailureMode;
pub use attributes::{check_cost, AttributeError, Attributes, Headers, RequestError, MAX_COST};
pub use clients::{ClientBook, ClientMap};
pub use descriptor::{Descriptor, DescriptorPlan};
pub use errors::{check_template, render, DenialText, ErrorSettings, ErrorText, PLACEHOLDERS};
pub use identity::{fingerprint, fingerprint_of, ip_key, key_digest, Origin, Request};
pub use limiter::{Held, Limiter, RuleLimit};
pub use model::{
    check_name, Client, HeaderTrust, Identity, KeyDigest, KeyPart, Limit, Matcher, NameError,
    Override, Overrides, PathError, PathPattern, Policy, Rule, MAX_NAME_LEN,
};
pub use pattern::{DescriptorMatch, EntryPattern, ValuePattern};
pub use plan::{Group, Plan};
pub use verdict::{CheckError, DescriptorVerdict, LimitOutcome, Verdict};
pub use view::{DecisionView, RetryView};
