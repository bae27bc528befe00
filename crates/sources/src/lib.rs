//! Sources of events for freshet, and the file formats they travel in.
//!
//! This crate holds what reads or produces events outside the engine: the [`decode`] stage every source
//! starts with (records to typed rows, bad records explained), the built-in, seeded [`generator`] (used by
//! examples, tests, benchmarks and `freshet generate`) and the [`formats`] that events are written in
//! (Parquet, JSON lines). It depends on Arrow and Parquet so that the
//! engine does not. The [`read`]ers of `freshet ingest` are here too: files, and a PostgreSQL table or query
//! ([`postgres`]). Kafka lives in `freshet-kafka`, which isolates librdkafka.

#![forbid(unsafe_code)]

pub mod decode;
pub mod formats;
pub mod generator;
pub mod postgres;
pub mod read;
