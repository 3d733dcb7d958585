//! The admin API on the real `floodgate` binary: replicas sharing one real
//! redis-server, a memory store with a state file across restarts and
//! SIGHUP, Redis going away during a change, and API keys never written
//! anywhere in clear. Every wait polls for what it waits for, with a
//! deadline.

#[path = "../common/mod.rs"]
mod common;
mod file_wins;
mod late;
mod proc;
mod redis;
mod replicas;
mod scale;
