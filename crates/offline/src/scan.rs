//! Reading events back out of the event log, for training sets and backfills.
//!
//! A scan reads the Parquet files of one table version: a snapshot, so an ingest running at the same
//! time neither adds half a batch nor hides one. Each event comes back as its source row plus the
//! ingest time and position the log recorded, which is everything the engine needs to place it exactly
//! where streaming would have.

use crate::log::{LogError, read_fields};
use freshet_engine::Value;
use freshet_project::spec::Field;
use freshet_sources::decode::RowDecoder;
use freshet_sources::read::{ReadError, Record, read_parquet};
use std::path::PathBuf;

/// One event read from the log.
#[derive(Debug)]
pub struct LoggedEvent<'a> {
    /// The source row, in source-schema order.
    pub row: &'a [Value],
    /// When freshet accepted it (microseconds).
    pub ingest_time: i64,
    /// Its source position.
    pub position: u64,
}

/// Reads every event of `files` (a table version's files, with the source's `fields`), in file order.
/// Returns the number of events read.
pub fn scan_files(
    files: &[PathBuf],
    fields: &[Field],
    mut each: impl FnMut(LoggedEvent<'_>),
) -> Result<u64, LogError> {
    let all = read_fields(fields);
    let decoder = RowDecoder::new(&all, None);
    let source_columns = fields.len();
    let mut count = 0u64;
    for file in files {
        let mut broken = None;
        read_parquet(file, &decoder, |record| match record {
            Record::Row { row, .. } => {
                let (ingest_time, position) = match (&row[source_columns], &row[source_columns + 1])
                {
                    (Value::Timestamp(t), Value::Int64(p)) => (t.micros(), *p as u64),
                    _ => {
                        broken.get_or_insert_with(|| {
                            "an event without ingest time or position".to_owned()
                        });
                        return;
                    }
                };
                count += 1;
                each(LoggedEvent {
                    row: &row[..source_columns],
                    ingest_time,
                    position,
                });
            }
            Record::Bad { line, error, .. } => {
                broken.get_or_insert_with(|| format!("row {line}: {error}"));
            }
        })
        .map_err(|e| corrupt(file, e))?;
        if let Some(reason) = broken {
            return Err(LogError::Corrupt {
                file: file.clone(),
                reason,
            });
        }
    }
    Ok(count)
}

fn corrupt(file: &std::path::Path, e: ReadError) -> LogError {
    LogError::Corrupt {
        file: file.to_path_buf(),
        reason: e.to_string(),
    }
}
