//! Sources of events for freshet, and the file formats they travel in.
//!
//! This crate holds what reads or produces events outside the engine: the built-in, seeded
//! [`generator`] (used by examples, tests, benchmarks and `freshet generate`) and the [`formats`] that
//! events are written to and read from (Parquet, JSON lines). It depends on Arrow and Parquet so that the
//! engine does not. Kafka, PostgreSQL and the file readers of `freshet ingest` join it with their issues.

#![forbid(unsafe_code)]

pub mod formats;
pub mod generator;
