//! freshet's offline store: the event log, and everything that reads or writes it.
//!
//! - [`log`]: one Delta Lake table per source; atomic, idempotent appends.
//! - [`ingest`]: `freshet ingest`, loading file sources into the log with dead letters.
//! - [`scan`]: reading a table version's events back for the engine.
//! - [`training`]: point-in-time training sets through the engine's batch entry point.
//! - [`backfill`]: rebuilding the serving state from the log, resumably.
//!
//! This crate owns the heavy dependencies of the offline path (Delta Lake and its async runtime) so the
//! engine and the project model stay free of them.

pub mod dead_letter;
pub mod ingest;
pub mod layout;
pub mod log;
pub mod scan;

pub use log::{LogError, LogRows, SourceLog};
