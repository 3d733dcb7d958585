//! Test helpers shared by Floodgate's crates.
#![forbid(unsafe_code)]
