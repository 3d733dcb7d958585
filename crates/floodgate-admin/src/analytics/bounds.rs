//! The analytics' bounds: how many rules, shards, identities and seconds
//! they keep.

/// Rules with a series of their own.
pub const MAX_RULES: usize = 64;
/// The series of the rules past [`MAX_RULES`].
pub const OTHER_RULES: &str = "(other rules)";
/// Recording shards (threads share one when there are more).
pub const SHARDS: usize = 16;
/// Identities each sketch keeps.
pub const SKETCH_CAPACITY: usize = 64;
/// The top lists cover the current and the previous window of this many
/// seconds (so between 5 and 10 minutes).
pub const TOP_WINDOW_SECS: u64 = 300;
/// Seconds of decision latency kept for its percentiles.
pub const LATENCY_SECS: usize = 60;
