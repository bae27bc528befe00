//! The event log: one append-only Delta Lake table per source (see [`crate::layout`]).
//!
//! Appends are atomic and idempotent. Every append carries Delta *application transactions*
//! (`txn` actions: an application id and a version) in the same commit as its data files, so "this batch
//! of this source position has landed" becomes true at exactly the moment the data does. A writer that
//! crashed between writing files and committing leaves only unreferenced files, which no reader sees;
//! a writer that retries after a crash first asks [`SourceLog::transaction_version`] and skips what
//! has already landed. This is how a file ingested twice adds nothing, and how the streaming runtime
//! makes Kafka offsets exactly-once.
//!
//! A stream appends for as long as it runs, so an append must not cost more as the log grows: it
//! commits through `blind_append`, which reads nothing of the table's history, and the
//! table's list of live files is reloaded only by [`SourceLog::refresh`] (or before what reads it).

use crate::layout::{DATE, table_dir, table_schema};
use arrow_schema::{Schema, SchemaRef};
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use freshet_engine::Value;
use freshet_project::spec::Field;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod durable;
mod error;
mod files;
mod vacuum;
mod write;

pub use error::LogError;
use files::date_partition;
pub use files::{DataFile, Listing};
pub use vacuum::Vacuumed;

/// Accepted events on their way into the log: rows in the source's schema order, each with the ingest
/// time the log records and its source position.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LogRows {
    /// Rows in source-schema order; the event time column must not be null.
    pub rows: Vec<Vec<Value>>,
    /// Ingest time of each row, in microseconds.
    pub ingest_times: Vec<i64>,
    /// Source position of each row.
    pub positions: Vec<u64>,
}

impl LogRows {
    /// Appends one event.
    pub fn push(&mut self, row: Vec<Value>, ingest_time: i64, position: u64) {
        self.rows.push(row);
        self.ingest_times.push(ingest_time);
        self.positions.push(position);
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No events.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// One source's table.
#[derive(Debug)]
pub struct SourceLog {
    /// The table, its state (the list of live files) as of when it was last loaded: appends do not
    /// bring it up to date (see [`crate::blind_append`]); whatever reads it first catches it up to
    /// `version`.
    table: DeltaTable,
    /// The newest version this writer knows: its own last commit, or the table's on load.
    version: u64,
    dir: PathBuf,
    fields: Vec<Field>,
    timestamp_column: usize,
    schema: SchemaRef,
}

/// The lock serialising the creation of the table in `dir` across processes, held until dropped.
/// The file stays (hidden, beside `_delta_log`).
fn creation_lock(dir: &Path) -> std::io::Result<std::fs::File> {
    let file = freshet_project::files::lock_file(&dir.join(".freshet-create.lock"))?;
    file.lock()?;
    Ok(file)
}

fn column_list(names: impl Iterator<Item = String>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

impl SourceLog {
    /// Opens the log of `source` under `offline_root`, creating an empty table on first use.
    ///
    /// `fields` is the source's schema and `timestamp_field` its event-time column.
    pub async fn open(
        offline_root: &Path,
        source: &str,
        fields: &[Field],
        timestamp_field: &str,
    ) -> Result<SourceLog, LogError> {
        let dir = table_dir(offline_root, source);
        let schema: SchemaRef = Arc::new(table_schema(fields));
        std::fs::create_dir_all(&dir).map_err(|e| LogError::Io {
            dir: dir.clone(),
            source: e,
        })?;
        let delta = |e: DeltaTableError| LogError::Delta {
            dir: dir.clone(),
            source: Box::new(e),
        };
        let url =
            url::Url::from_directory_path(std::path::absolute(&dir).map_err(|e| LogError::Io {
                dir: dir.clone(),
                source: e,
            })?)
            .map_err(|()| LogError::Io {
                dir: dir.clone(),
                source: std::io::Error::other("not a valid directory path"),
            })?;
        let mut table = DeltaTableBuilder::from_url(url.clone())
            .map_err(delta)?
            .build()
            .map_err(delta)?;
        // Workers of one project start together: the first creates the table, under an exclusive
        // lock beside it, and the others wait for the lock and find the table. Without it a second
        // creation fails, or commits new metadata that fails every concurrent append after it.
        let _creating = if table.verify_deltatable_existence().await.map_err(delta)? {
            None
        } else {
            Some(creation_lock(&dir).map_err(|source| LogError::Io {
                dir: dir.clone(),
                source,
            })?)
        };
        if table.verify_deltatable_existence().await.map_err(delta)? {
            table.load().await.map_err(delta)?;
        } else {
            let columns: StructType = schema
                .as_ref()
                .try_into_kernel()
                .map_err(|e| delta(e.into()))?;
            table = deltalake::operations::create::CreateBuilder::new()
                .with_location(url.as_str())
                .with_table_name(source)
                .with_comment(format!("freshet event log of source `{source}`"))
                .with_columns(columns.fields().cloned())
                .with_partition_columns([DATE])
                .await
                .map_err(delta)?;
        }
        let log = SourceLog {
            version: table.version().unwrap_or(0),
            timestamp_column: fields
                .iter()
                .position(|f| f.name == timestamp_field)
                .unwrap_or(0),
            table,
            dir,
            fields: fields.to_vec(),
            schema,
        };
        log.check_schema()?;
        Ok(log)
    }

    fn delta(&self, e: DeltaTableError) -> LogError {
        LogError::Delta {
            dir: self.dir.clone(),
            source: Box::new(e),
        }
    }

    fn check_schema(&self) -> Result<(), LogError> {
        let snapshot = self.table.snapshot().map_err(|e| self.delta(e))?;
        let found: Vec<String> = snapshot
            .schema()
            .fields()
            .map(|f| f.name().clone())
            .collect();
        let declared: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        if found != declared {
            return Err(LogError::SchemaChanged {
                dir: self.dir.clone(),
                found: column_list(found.into_iter()),
                declared: column_list(declared.into_iter()),
            });
        }
        Ok(())
    }

    /// The table's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The source's columns (without the log's own).
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The newest table version this log has seen: its own last commit, or what it loaded (0 for a
    /// new, empty table).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Reloads the table to its newest version (another process may have appended).
    pub async fn refresh(&mut self) -> Result<(), LogError> {
        let result = self.table.update_state().await;
        result.map_err(|e| self.delta(e))?;
        self.version = self.version.max(self.table.version().unwrap_or(0));
        Ok(())
    }

    /// Brings the table's state up to this writer's own last commit, which appends leave behind.
    async fn catch_up(&mut self) -> Result<(), LogError> {
        if self.table.version().unwrap_or(0) < self.version {
            self.refresh().await?;
        }
        Ok(())
    }

    /// The version recorded for application id `app_id` by the newest append that carried it.
    pub async fn transaction_version(&mut self, app_id: &str) -> Result<Option<i64>, LogError> {
        self.catch_up().await?;
        let snapshot = self.table.snapshot().map_err(|e| self.delta(e))?;
        let log_store = self.table.log_store();
        let result = snapshot
            .transaction_version(log_store.as_ref(), app_id)
            .await;
        result.map_err(|e| self.delta(e))
    }

    /// The Parquet files of the current version, day by day (their date partition), and within a day
    /// in the order the table lists them. Readers that go through the files in this order meet the
    /// events roughly in event-time order (one commit's files come in no particular order of days),
    /// which is what the batch path's cheap check for canonical order relies on.
    ///
    /// The list is the table's as last loaded; after appends through this log, [`SourceLog::refresh`]
    /// first (an error says so otherwise, rather than leaving the appended files out).
    pub fn files(&self) -> Result<Vec<PathBuf>, LogError> {
        Ok(self.data_files()?.into_iter().map(|f| f.path).collect())
    }

    /// The Arrow schema of the table (source columns, then the log's own).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The table's directory, absolute as the table's own URL is (see `open`): what its files'
    /// relative paths are relative to.
    fn root(&self) -> Result<PathBuf, LogError> {
        std::path::absolute(&self.dir).map_err(|e| LogError::Io {
            dir: self.dir.clone(),
            source: e,
        })
    }

    /// The data files of the current version with their date partitions, in [`SourceLog::files`]'
    /// order: what a compaction chooses from.
    pub fn data_files(&self) -> Result<Vec<DataFile>, LogError> {
        let loaded = self.table.version().unwrap_or(0);
        if loaded < self.version {
            return Err(LogError::Unrefreshed {
                dir: self.dir.clone(),
                loaded,
                version: self.version,
            });
        }
        let snapshot = self.table.snapshot().map_err(|e| self.delta(e))?;
        let root = self.root()?;
        let mut files: Vec<DataFile> = snapshot
            .log_data()
            .into_iter()
            .map(|view| {
                let remove = view.remove_action(false);
                // Paths are relative to the table, unless a writer recorded a whole URL.
                let relative = view.path();
                let path = url::Url::parse(&relative)
                    .ok()
                    .and_then(|u| u.to_file_path().ok())
                    .unwrap_or_else(|| root.join(relative.as_ref()));
                DataFile {
                    day: date_partition(&path),
                    path,
                    remove,
                }
            })
            .collect();
        files.sort_by(|a, b| a.day.cmp(&b.day));
        Ok(files)
    }
}
