//! Test support shared by freshet's integration tests: the real components they talk to, started on
//! free loopback ports and stopped when dropped. Never a mock.

// Test support may fail loudly: a panic is how a test reports a broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod ports;
pub mod postgres;
pub mod projects;
pub mod redis;
pub mod tansu;
