//! End-to-end on the real binary: config refusal, SIGHUP reload (the new
//! policy applies, restart-only changes are reported), SIGTERM drain, a
//! Redis Cluster primary killed under load.
//! Every wait polls for what it waits for, with a deadline.

mod cluster_node;
#[path = "../common/mod.rs"]
mod common;
mod config;
mod fail_closed;
mod kit;
mod logs;
mod regions;
mod signals;
