//! The log's write path: an append, and the replacement of a day's files by compaction. Both end in
//! one Delta commit at the first free version ([`crate::blind_append`]), made durable before it
//! returns: data files and the commit file are flushed to disk, so what a caller records on the
//! strength of a commit can never cover events the machine could still lose.

use super::durable::sync_files;
use super::{DataFile, Listing, LogError, LogRows, SourceLog};
use crate::blind_append;
use crate::layout::date_of;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use deltalake::kernel::transaction::{CommitData, PROTOCOL};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::DeltaOperation;
use deltalake::table::config::TablePropertiesExt;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use freshet_engine::Value;
use parquet::file::properties::WriterProperties;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

impl SourceLog {
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

const DAY_MICROS: i64 = 86_400_000_000;

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
