//! What can go wrong with the event log, each error naming the table or file and what to do.

use deltalake::DeltaTableError;
use std::path::PathBuf;

/// Problems with the event log itself.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Delta Lake refused an operation.
    #[error("event log at {dir}: {source}")]
    Delta {
        /// The table.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: Box<DeltaTableError>,
    },
    /// The table exists with columns the source no longer declares.
    #[error(
        "the event log at {dir} holds columns ({found}) but the source now declares ({declared}); \
         move the old log away (or declare a new source) to start a new one"
    )]
    SchemaChanged {
        /// The table.
        dir: PathBuf,
        /// Columns in the table.
        found: String,
        /// Columns the source declares.
        declared: String,
    },
    /// A batch to append was malformed (a bug in the caller, reported rather than panicking).
    #[error("event log at {dir}: cannot build a batch: {reason}")]
    Batch {
        /// The table.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// A data file's footer says it is sorted by a key, and its rows are not.
    #[error(
        "event log file {file} is marked sorted by `{key}`, but key {found} follows {after}; it was \
         not written by `freshet compact` or is damaged, so training sets read this log into memory"
    )]
    MisSorted {
        /// The file.
        file: PathBuf,
        /// The key column it claims to be sorted by.
        key: String,
        /// The key out of order.
        found: String,
        /// The key before it.
        after: String,
    },
    /// A data file of the log cannot be read back.
    #[error(
        "event log file {file} is unreadable: {reason}; restore it from a backup or re-ingest the source into a new log"
    )]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another process committed to the log, while this one appended, something an append cannot
    /// land on top of.
    #[error(
        "event log at {dir}: version {version} was written by another process while this one \
         appended, and {reason}; restart freshet so it reopens the log"
    )]
    Conflict {
        /// The table.
        dir: PathBuf,
        /// The other process's commit.
        version: u64,
        /// What it did.
        reason: String,
    },
    /// Another process's compaction rewrote files this compaction was rewriting, so this one
    /// committed nothing for them.
    #[error(
        "event log at {dir}: version {version}, written by another process while this one \
         compacted, conflicts with this compaction: {reason}; nothing of that day was committed \
         twice, the days compacted before it stand, and running the compaction again finishes \
         what is left (give the compaction to one process at a time)"
    )]
    Replaced {
        /// The table.
        dir: PathBuf,
        /// The other process's commit.
        version: u64,
        /// What it did.
        reason: String,
    },
    /// The table's list of files was asked for after appends it has not been reloaded since.
    #[error(
        "event log at {dir}: its list of files is of version {loaded}, but this process has \
         appended up to version {version}; refresh the log before listing its files (a bug in freshet)"
    )]
    Unrefreshed {
        /// The table.
        dir: PathBuf,
        /// The version whose files are loaded.
        loaded: u64,
        /// The newest version appended.
        version: u64,
    },
    /// The table's directory cannot be created or read.
    #[error("event log at {dir}: {source}")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
