//! Property tests of expression semantics against independent, deliberately naive oracles.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod expressions;
