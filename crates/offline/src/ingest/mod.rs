//! `freshet ingest`: loading a batch source into its event-log table. [`ingest_batch_source`] picks the
//! loader by the source's kind: [`files`] (known by content hash, resumable per chunk) or a PostgreSQL
//! table or query in `postgres` (rows known by content). [`cdc`] appends the rows a `postgres_cdc`
//! source streams, known by content the same way. What they share lives here: the errors, the
//! options and progress, and the rule that decides which records become events (a set event time, and
//! the checks of every view the source feeds), so every batch source refuses exactly the same records.

pub mod cdc;
pub mod files;
mod postgres;

pub use files::{DONE, FileReport, ingest_source, source_files};
pub use postgres::{RelationReport, ingest_postgres};

use crate::dead_letter::DeadLetter;
use crate::log::{LogError, SourceLog};
use freshet_engine::{Value, ViewDef};
use freshet_project::spec::{Connector, Field, SourceSpec};
use freshet_sources::read::ReadError;
use std::path::Path;

/// Records per commit by default.
pub const DEFAULT_CHUNK_RECORDS: u64 = 1 << 21;

/// Why an ingest stopped. Bad records never stop it; these are problems with a whole source, file or
/// relation, or with the log.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The source is not a batch source (a file or PostgreSQL source).
    #[error(
        "source `{source_name}` is a {kind} source; `freshet ingest` loads file and postgres sources (`freshet run` streams the others)"
    )]
    NotABatchSource {
        /// The source.
        source_name: String,
        /// Its kind.
        kind: &'static str,
    },
    /// The source's path matches no file.
    #[error("source `{source_name}`: no file matches `{pattern}`")]
    NoFiles {
        /// The source.
        source_name: String,
        /// The path or glob.
        pattern: String,
    },
    /// A file cannot be read as a whole (missing, unreadable, schema columns absent).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The event log refused.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The glob is malformed.
    #[error("source `{source_name}`: bad path pattern `{pattern}`: {reason}")]
    Pattern {
        /// The source.
        source_name: String,
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// A PostgreSQL source cannot be read as a whole (unreachable, missing table or column, wrong type).
    #[error(transparent)]
    Postgres(Box<freshet_sources::postgres::PostgresError>),
    /// The dead-letter file cannot be written.
    #[error(transparent)]
    DeadLetter(#[from] crate::dead_letter::DeadLetterError),
    /// The log has handed out every file number a position can hold.
    #[error("the event log of `{0}` holds the maximum number of files; start a new log")]
    TooManyFiles(String),
}

impl From<freshet_sources::postgres::PostgresError> for IngestError {
    fn from(e: freshet_sources::postgres::PostgresError) -> IngestError {
        IngestError::Postgres(Box::new(e))
    }
}

/// Progress of an ingest, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A file of `bytes` bytes is starting.
    File {
        /// Its size.
        bytes: u64,
    },
    /// Records read so far in the current file.
    Records(u64),
}

/// Settings of an ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Records per commit.
    pub chunk_records: u64,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            chunk_records: DEFAULT_CHUNK_RECORDS,
        }
    }
}

/// Why a decoded `row` of `source` cannot be logged, if it cannot: a null event time, or the checks of
/// a view it feeds failing. Every batch source applies this one rule.
fn refusal(source: &SourceSpec, views: &[ViewDef], row: &[Value]) -> Option<DeadLetter> {
    let timestamp_column = field_index(source, &source.timestamp_field);
    if !matches!(row.get(timestamp_column), Some(Value::Timestamp(_))) {
        return Some(DeadLetter {
            reason: "the event time is missing".to_owned(),
            field: Some(source.timestamp_field.clone()),
            ..DeadLetter::default()
        });
    }
    views.iter().find_map(|view| {
        view.check(row).err().map(|e| DeadLetter {
            reason: format!("{e} (needed by feature view `{}`)", view.name),
            ..DeadLetter::default()
        })
    })
}

/// The ingest time the log records for `row`: its `ingest_time_field` when the source names one and
/// it is set, else its event time (history is taken as known when it happened).
fn ingest_time_of(
    row: &[Value],
    timestamp_column: usize,
    ingest_time_column: Option<usize>,
) -> i64 {
    ingest_time_column
        .and_then(|c| match row.get(c) {
            Some(Value::Timestamp(t)) => Some(t.micros()),
            _ => None,
        })
        .unwrap_or_else(|| time_of(row, timestamp_column))
}

fn time_of(row: &[Value], column: usize) -> i64 {
    match row.get(column) {
        Some(Value::Timestamp(t)) => t.micros(),
        _ => 0,
    }
}

/// A decoded row shown as JSON, for the dead-letter file (text formats keep their own original text).
fn original_text(fields: &[Field], row: &[Value]) -> String {
    let object: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .zip(row)
        .map(|(f, v)| (f.name.clone(), freshet_sources::formats::json_value(v)))
        .collect();
    serde_json::Value::Object(object).to_string()
}

/// What ingesting one batch source did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceReport {
    /// A file source: one report per file.
    Files(Vec<FileReport>),
    /// A PostgreSQL source.
    Relation(RelationReport),
}

impl SourceReport {
    /// Events the run added to the log.
    pub fn added(&self) -> u64 {
        match self {
            SourceReport::Files(files) => files.iter().map(|f| f.added).sum(),
            SourceReport::Relation(r) => r.added,
        }
    }
}

/// Ingests a batch source into its log: every file of a file source, or the new rows of a PostgreSQL
/// source's table or query. `views` are the engine definitions of the feature views it feeds.
pub async fn ingest_batch_source(
    log: &mut SourceLog,
    project_dir: &Path,
    offline_root: &Path,
    source: &SourceSpec,
    views: &[ViewDef],
    options: &IngestOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<SourceReport, IngestError> {
    match &source.connector {
        Connector::File { .. } => ingest_source(
            log,
            project_dir,
            offline_root,
            source,
            views,
            options,
            progress,
        )
        .await
        .map(SourceReport::Files),
        Connector::Postgres { .. } => {
            ingest_postgres(log, offline_root, source, views, options, progress)
                .await
                .map(SourceReport::Relation)
        }
        other => Err(IngestError::NotABatchSource {
            source_name: source.name.clone(),
            kind: other.kind(),
        }),
    }
}

fn field_index(source: &SourceSpec, name: &str) -> usize {
    source
        .schema
        .iter()
        .position(|f| f.name == name)
        .unwrap_or(usize::MAX)
}
