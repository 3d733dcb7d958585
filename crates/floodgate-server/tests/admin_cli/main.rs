//! `floodgate admin` end to end: the real binary against the real server
//! (started in this process on port 0, with an admin token), its output,
//! its exit codes, and what the server does afterwards.

#[path = "../common/mod.rs"]
mod common;
mod errors;
mod kit;
mod policy;
mod state;
