//! Property tests of the engine against independent, deliberately naive oracles.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cells;
mod engine;
mod expressions;
mod in_place;
mod legacy;
mod oracle;
mod records;
mod support;
