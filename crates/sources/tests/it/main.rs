//! Tests of the generator and the file formats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod formats;
mod generator;
mod read;
