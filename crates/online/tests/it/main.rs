//! The online stores against their contract, on the real thing: redb files, a `redis-server`, and a
//! three-master Redis Cluster started by the tests (see `servers`).

// Test helpers may fail loudly: a panic is how a test reports a broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod embedded_sync;
mod stores;
