//! What became of each request of a run: the records the dispatcher
//! writes and the reports read.

use std::time::Duration;

/// What became of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status (body read to the end); in gRPC mode
    /// 200 for `overall_code` `OK`, 429 for `OVER_LIMIT`.
    Status(u16),
    /// No complete response within the timeout.
    Timeout,
    /// Connecting or talking failed (in gRPC mode: also any gRPC error
    /// status).
    Error(String),
}

/// One request.
#[derive(Clone, Debug)]
pub struct Record {
    /// Its number in the run (the schedule's order).
    pub index: u64,
    /// Its client.
    pub client: u32,
    /// When it was due, from the start (open loop).
    pub scheduled: Option<Duration>,
    /// When it was sent, from the start.
    pub sent: Duration,
    /// When its response was complete (or it failed), from the start.
    pub done: Duration,
    /// What became of it.
    pub outcome: Outcome,
}
