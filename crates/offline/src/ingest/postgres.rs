//! `freshet ingest` for a PostgreSQL source: a table or a query, read in one snapshot, into the source's
//! event log.
//!
//! A relation has no file to hash and no offset to resume from, so each row is known by its content
//! ([`content_position`]). A run first collects the positions the log already holds (one small column
//! per log file), then reads the relation and appends only rows with a new position, in chunks of one
//! atomic commit each. So:
//! - a second run adds only the rows inserted or changed since; unchanged rows add nothing;
//! - a run killed part-way is completed by the next one, which finds the committed chunks' positions;
//! - a changed row is a new event, and a deleted row stays in the log, which records what happened
//!   (a `postgres_cdc` source sees the same changes as they are committed);
//! - rows that fail decoding or the checks of a view fed by the source go to the source's dead-letter
//!   file, rebuilt whole on every run (every run sees every row).
//!
//! Rows take the batch rule for their ingest time: the source's `ingest_time_field` when it names one
//! (a `created_at` column, say), else the event time.

use super::{
    IngestError, IngestOptions, Progress, field_index, ingest_time_of, original_text, refusal,
};
use crate::dead_letter::{DeadLetter, DeadLetters};
use crate::layout::content_position;
use crate::log::{LogError, LogRows, SourceLog};
use crate::scan::scan_parallel;
use freshet_engine::ViewDef;
use freshet_project::spec::SourceSpec;
use freshet_sources::postgres::RelationReader;
use freshet_sources::read::Record;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What ingesting a PostgreSQL source did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RelationReport {
    /// The table or query, as messages name it.
    pub relation: String,
    /// Rows read (good and bad).
    pub records: u64,
    /// Events added to the log by this run.
    pub added: u64,
    /// Rows the log already held (from earlier runs, or repeated within the relation).
    pub already_logged: u64,
    /// Rows refused, written to the dead-letter file.
    pub rejected: u64,
    /// The dead-letter file, when there were bad rows.
    pub dead_letter: Option<PathBuf>,
}

/// Loads the rows of `source`'s relation that its log does not hold yet. `views` are the engine
/// definitions of the views it feeds: a row they would refuse is refused here.
pub async fn ingest_postgres(
    log: &mut SourceLog,
    offline_root: &Path,
    source: &SourceSpec,
    views: &[ViewDef],
    options: &IngestOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<RelationReport, IngestError> {
    let mut reader = RelationReader::open(source).await?;
    log.refresh().await?;
    let mut seen = logged_positions(log).await?;
    let identity = source
        .event_id_field
        .as_deref()
        .map(|f| field_index(source, f));
    let timestamp_column = field_index(source, &source.timestamp_field);
    let ingest_time_column = source
        .ingest_time_field
        .as_deref()
        .map(|f| field_index(source, f));
    let chunk_records = usize::try_from(options.chunk_records.max(1)).unwrap_or(usize::MAX);
    let mut report = RelationReport {
        relation: reader.relation().to_owned(),
        records: 0,
        added: 0,
        already_logged: 0,
        rejected: 0,
        dead_letter: None,
    };
    progress(Progress::File { bytes: 0 });
    let mut dead = Vec::new();
    let mut chunk = LogRows::default();
    let mut records = Vec::new();
    while reader.next_batch(&mut records).await? {
        for record in records.drain(..) {
            match record {
                Record::Row { line, row } => {
                    if let Some(letter) = refusal(source, views, &row) {
                        dead.push(DeadLetter {
                            row: line,
                            original: original_text(&source.schema, &row),
                            ..letter
                        });
                        continue;
                    }
                    let position = content_position(&row, identity);
                    if !seen.insert(position) {
                        report.already_logged += 1;
                        continue;
                    }
                    let ingest_time = ingest_time_of(&row, timestamp_column, ingest_time_column);
                    chunk.push(row, ingest_time, position);
                    if chunk.len() >= chunk_records {
                        report.added += commit(log, &mut chunk).await?;
                    }
                }
                Record::Bad {
                    line,
                    error,
                    original,
                } => dead.push(DeadLetter::undecodable(line, &error, original)),
            }
        }
        progress(Progress::Records(reader.rows_read()));
    }
    report.added += commit(log, &mut chunk).await?;
    report.records = reader.rows_read();
    report.rejected = dead.len() as u64;
    report.dead_letter =
        DeadLetters::for_relation(offline_root, &source.name, &report.relation).write(&dead)?;
    Ok(report)
}

/// Appends `chunk` in one commit (nothing when it is empty) and empties it; returns the rows added.
async fn commit(log: &mut SourceLog, chunk: &mut LogRows) -> Result<u64, LogError> {
    if chunk.is_empty() {
        return Ok(0);
    }
    log.append(chunk, Vec::new()).await?;
    let added = chunk.len() as u64;
    *chunk = LogRows::default();
    Ok(added)
}

/// Every position the log's current version holds: only the log's own columns are decoded.
pub(super) async fn logged_positions(log: &SourceLog) -> Result<HashSet<u64>, LogError> {
    let files = log.files()?;
    let fields = log.fields().to_vec();
    let dir = log.dir().to_path_buf();
    let scanned = tokio::task::spawn_blocking(move || {
        scan_parallel(
            &files,
            &fields,
            &vec![false; fields.len()],
            false,
            2,
            |_| HashSet::new(),
            |set: &mut HashSet<u64>, event| {
                set.insert(event.position);
            },
        )
    })
    .await
    .map_err(|e| LogError::Io {
        dir,
        source: std::io::Error::other(e.to_string()),
    })??;
    let (sets, _) = scanned;
    let mut all = HashSet::with_capacity(sets.iter().map(HashSet::len).sum());
    for set in sets {
        all.extend(set);
    }
    Ok(all)
}
