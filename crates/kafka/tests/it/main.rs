//! Integration tests of freshet's Kafka client against a real Kafka-protocol broker.

// Test helpers may fail loudly: a panic is how a test reports a broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod group;
