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

use crate::blind_append;
use crate::layout::{DATE, date_of, table_dir, table_schema};
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{Schema, SchemaRef};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitData, PROTOCOL};
use deltalake::kernel::{Action, StructType, Transaction};
use deltalake::protocol::DeltaOperation;
use deltalake::table::config::TablePropertiesExt;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use freshet_engine::Value;
use freshet_project::spec::Field;
use parquet::file::properties::WriterProperties;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod durable;
mod error;
mod files;
mod vacuum;

use durable::sync_files;
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

const DAY_MICROS: i64 = 86_400_000_000;

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

    /// Appends `rows` and records `transactions` in the same atomic commit; returns the new table
    /// version. An empty `rows` still commits the transactions (so "nothing more to add" is recorded).
    ///
    /// Once this returns, the append survives a crash of the machine, not only of freshet: its data
    /// files are flushed to disk before the commit names them, and the commit after it is written.
    /// What a caller records on the strength of an append (a stream's checkpoint, an ingest's report)
    /// can therefore never cover events the log could still lose.
    pub async fn append(
        &mut self,
        rows: &LogRows,
        transactions: Vec<Transaction>,
    ) -> Result<u64, LogError> {
        let mut writer = RecordBatchWriter::for_table(&self.table)
            .map_err(|e| self.delta(e))?
            .with_writer_properties(append_properties());
        if !rows.is_empty() {
            let batch = self.batch(rows)?;
            let written = writer.write(batch).await;
            written.map_err(|e| self.delta(e))?;
        }
        let added = writer.flush().await.map_err(|e| self.delta(e))?;
        self.sync(added.iter().map(|a| a.path.clone()).collect())
            .await?;
        let snapshot = self.table.snapshot().map_err(|e| self.delta(e))?;
        let operation = DeltaOperation::Write {
            mode: deltalake::protocol::SaveMode::Append,
            partition_by: Some(snapshot.metadata().partition_columns().to_vec()),
            predicate: None,
        };
        let actions: Vec<Action> = added.into_iter().map(Action::Add).collect();
        let commit = Commit {
            actions,
            operation,
            transactions,
            after: self.version,
        };
        self.commit(commit, &|_| false, |dir, c| LogError::Conflict {
            dir,
            version: c.version,
            reason: c.reason,
        })
        .await
    }

    /// Writes a checkpoint of `version` (and removes log files past the table's retention), as
    /// delta-rs does after its own commits: what keeps opening the log from replaying every commit.
    /// A checkpoint only speeds reading up, and the append it follows has landed, so a failure is
    /// reported and the next one (`checkpointInterval` versions on) covers this version too.
    async fn checkpoint(&self, version: u64) {
        let url = self.table.log_store().root_url().clone();
        let written = deltalake::checkpoints::create_checkpoint_from_table_url_and_cleanup(
            url, version, None, None,
        )
        .await;
        if let Err(e) = written {
            tracing::warn!(
                log = %self.dir.display(),
                version,
                "event log checkpoint failed, readers replay more commits until the next one: {e}"
            );
        }
    }

    /// Flushes the files at `paths` (relative to the table, as its actions record them) and their
    /// directories to disk, off the runtime's workers.
    async fn sync(&self, paths: Vec<String>) -> Result<(), LogError> {
        if paths.is_empty() {
            return Ok(());
        }
        let root = self.root()?;
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || sync_files(&root, paths))
            .await
            .map_err(|e| LogError::Io {
                dir,
                source: std::io::Error::other(e),
            })?
    }

    /// Flushes commit `version`'s file and the log directory to disk: a commit the kernel still
    /// holds in its page cache is lost with the machine, and the application transactions with it.
    async fn sync_commit(&self, version: u64) -> Result<(), LogError> {
        self.sync(vec![format!("_delta_log/{version:020}.json")])
            .await
    }

    fn batch(&self, rows: &LogRows) -> Result<RecordBatch, LogError> {
        let mut columns: Vec<ArrayRef> =
            freshet_sources::formats::rows_to_columns(&self.fields, &rows.rows);
        // Events come mostly in time order: format a date only when the day changes.
        let mut last: Option<(i64, String)> = None;
        let dates: StringArray = rows
            .rows
            .iter()
            .map(|r| match r.get(self.timestamp_column) {
                Some(Value::Timestamp(t)) => {
                    let day = t.micros().div_euclid(DAY_MICROS);
                    match &last {
                        Some((d, text)) if *d == day => Some(text.clone()),
                        _ => {
                            let text = date_of(t.micros());
                            last = Some((day, text.clone()));
                            Some(text)
                        }
                    }
                }
                _ => None,
            })
            .collect();
        let positions: Int64Array = rows
            .positions
            .iter()
            .map(|p| Some(i64::try_from(*p).unwrap_or(i64::MAX)))
            .collect();
        columns.push(Arc::new(
            TimestampMicrosecondArray::from(rows.ingest_times.clone()).with_timezone("UTC"),
        ));
        columns.push(Arc::new(positions));
        columns.push(Arc::new(dates));
        RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| LogError::Batch {
            dir: self.dir.clone(),
            reason: e.to_string(),
        })
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

    /// Replaces `old` (files of `listing`) with `rewritten` (the same events, in the table's
    /// schema, partition column included) in one atomic commit that records no change of data, so
    /// readers of any version see every event exactly once. `properties` set how the new files are
    /// written. Returns the new table version, and marks `old` replaced in `listing`.
    ///
    /// Appends committed since the listing's version do not stop it (they only add files). A commit
    /// since then that removed any file the listing still holds, another compaction of the same
    /// day, does: landing on top of it would leave both rewrites live, so it fails with
    /// [`LogError::Replaced`] and commits nothing. The commits it steps over are checked against
    /// every pending file, so the next replacement need not read them again.
    pub async fn replace_files(
        &mut self,
        old: &[DataFile],
        listing: &mut Listing,
        rewritten: RecordBatch,
        properties: WriterProperties,
    ) -> Result<u64, LogError> {
        self.catch_up().await?;
        let mut writer = RecordBatchWriter::for_table(&self.table)
            .map_err(|e| self.delta(e))?
            .with_writer_properties(properties);
        let written = writer.write(rewritten).await;
        written.map_err(|e| self.delta(e))?;
        let added = writer.flush().await.map_err(|e| self.delta(e))?;
        self.sync(added.iter().map(|a| a.path.clone()).collect())
            .await?;
        // The same events in new files: readers that follow the table as a stream (Spark's Delta
        // source, delta-rs's change feed) skip commits whose actions change no data.
        let mut actions: Vec<Action> = added
            .into_iter()
            .map(|add| {
                Action::Add(deltalake::kernel::Add {
                    data_change: false,
                    ..add
                })
            })
            .collect();
        actions.extend(old.iter().map(|f| Action::Remove(f.remove.clone())));
        let commit = Commit {
            actions,
            operation: DeltaOperation::Optimize {
                predicate: None,
                target_size: 0,
            },
            transactions: Vec::new(),
            after: listing.version(),
        };
        let pending = |path: &str| listing.pending(path);
        let version = self
            .commit(commit, &pending, |dir, c| LogError::Replaced {
                dir,
                version: c.version,
                reason: c.reason,
            })
            .await?;
        listing.replaced(old, version);
        self.refresh().await?;
        Ok(version)
    }

    /// Writes `commit` at the first free version after `commit.after` ([`blind_append`]: stepping
    /// over other writers' commits unless one conflicts, `replaced` saying which files this commit
    /// must find still live), flushes it to disk, and writes a checkpoint when one is due. A commit
    /// it cannot land on becomes the error `refused` makes of it.
    async fn commit(
        &mut self,
        commit: Commit,
        replaced: &(dyn Fn(&str) -> bool + Sync),
        refused: fn(PathBuf, blind_append::Conflict) -> LogError,
    ) -> Result<u64, LogError> {
        let snapshot = self.table.snapshot().map_err(|e| self.delta(e))?;
        PROTOCOL
            .can_commit(snapshot, &commit.actions, &commit.operation)
            .map_err(|e| self.delta(e.into()))?;
        let checkpoint_interval = snapshot.table_config().checkpoint_interval().get();
        let data = CommitData::new(
            commit.actions,
            commit.operation,
            HashMap::new(),
            commit.transactions,
        );
        let log_store = self.table.log_store();
        let committed = blind_append::commit(log_store.as_ref(), commit.after, &data, replaced)
            .await
            .map_err(|e| self.delta(e))?;
        let version = committed.map_err(|c| refused(self.dir.clone(), c))?;
        self.version = self.version.max(version);
        self.sync_commit(version).await?;
        if blind_append::checkpoint_due(version, checkpoint_interval) {
            self.checkpoint(version).await;
        }
        Ok(version)
    }
}

/// What [`SourceLog::commit`] writes: `actions` of `operation` with the application `transactions`,
/// after version `after`.
struct Commit {
    actions: Vec<Action>,
    operation: DeltaOperation,
    transactions: Vec<Transaction>,
    after: u64,
}

/// How appended files are written: dictionaries that give up after 64 KiB, and LZ4 (raw) instead of
/// Snappy. A stream's ids, amounts, times and positions are mostly distinct, and Parquet's default
/// builds a dictionary of up to a megabyte of them before it falls back to plain values; with
/// Snappy on top, that was 5 % of B2k's CPU. Columns of few values (a status, a count) keep their
/// dictionary, which is what keeps the files small.
fn append_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(parquet::basic::Compression::LZ4_RAW)
        .set_dictionary_page_size_limit(64 * 1024)
        .build()
}
