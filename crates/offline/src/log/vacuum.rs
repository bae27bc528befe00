//! Deleting the data files that no version within the retention needs: Delta's `VACUUM`.
//!
//! Two kinds of file stay on disk after nothing current names them:
//! - files a commit removed: `freshet compact` replaces a day's files with one sorted file, and a
//!   reader still on an older version may be reading the old ones;
//! - files no commit ever named: an append writes its files before the commit that names them, so
//!   a crash in between leaves them behind, and an append in flight has such files too.
//!
//! Neither can be deleted as it appears, so both wait here until they are older than the retention:
//! a removed file counts from its removal, an unnamed one from when it was written (deltalake's
//! "full" vacuum, which lists the table's directories, since freshet's crashed appends leave
//! files no log entry mentions).

use super::{LogError, SourceLog};
use deltalake::operations::vacuum::VacuumMode;
use deltalake::table::config::TablePropertiesExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a vacuum deleted, or would delete on a dry run.
#[derive(Debug, Clone, Default)]
pub struct Vacuumed {
    /// The files, relative to the table's directory, in name order.
    pub files: Vec<PathBuf>,
    /// Their bytes on disk, as measured before they were deleted.
    pub bytes: u64,
}

impl SourceLog {
    /// The table's `delta.deletedFileRetentionDuration` (7 days unless the table sets it): how long
    /// readers and writers may rely on a file after it stops being current.
    pub fn deleted_file_retention(&self) -> Result<Duration, LogError> {
        let snapshot = self.table.snapshot().map_err(|e| self.delta(e))?;
        Ok(snapshot.table_config().deleted_file_retention_duration())
    }

    /// Deletes the files no current version names and that stopped being current (or were
    /// written) more than `retain` ago; with `dry_run`, only lists them. The caller checks `retain`
    /// against [`SourceLog::deleted_file_retention`]: a shorter one can delete the files of an
    /// append that has not committed yet.
    ///
    /// A vacuum that deletes anything records itself as two commits (Delta's `VACUUM START` and
    /// `VACUUM END`) that change no data, so a concurrent append takes the next version.
    pub async fn vacuum(&mut self, retain: Duration, dry_run: bool) -> Result<Vacuumed, LogError> {
        let retention = chrono::Duration::from_std(retain).map_err(|_| LogError::Io {
            dir: self.dir.clone(),
            source: std::io::Error::other(format!("a retention of {retain:?} is too long")),
        })?;
        // Files committed by other writers since this handle last looked are current: planned
        // against an older version, they would pass for files no commit names.
        self.refresh().await?;
        // The plan is listed first, so that each file's size is known before it is gone. It also
        // names files a commit removed that are already gone (deleted by an earlier vacuum, say):
        // only files still on disk are reported.
        let planned: Vec<(String, u64)> = self
            .plan(retention, true)
            .await?
            .into_iter()
            .filter_map(|name| {
                let size = std::fs::metadata(self.dir.join(&name)).ok()?.len();
                Some((name, size))
            })
            .collect();
        let mut vacuumed = Vacuumed::default();
        let deleted: Vec<(String, u64)> = if dry_run || planned.is_empty() {
            planned
        } else {
            let sizes: HashMap<String, u64> = planned.into_iter().collect();
            self.plan(retention, false)
                .await?
                .into_iter()
                // deltalake names a file it found already gone by its whole path on disk, and one
                // it deleted by its path in the table. One written after the listing was not
                // measured.
                .filter(|name| !Path::new(name).is_absolute())
                .map(|name| {
                    let size = sizes.get(&name).copied().unwrap_or(0);
                    (name, size)
                })
                .collect()
        };
        for (name, size) in deleted {
            vacuumed.bytes += size;
            vacuumed.files.push(PathBuf::from(name));
        }
        vacuumed.files.sort();
        Ok(vacuumed)
    }

    /// Runs deltalake's full vacuum with `retention` (enforced by the caller): the files it deleted,
    /// or would delete under `dry_run`, relative to the table.
    async fn plan(
        &mut self,
        retention: chrono::Duration,
        dry_run: bool,
    ) -> Result<Vec<String>, LogError> {
        let (table, metrics) = self
            .table
            .clone()
            .vacuum()
            .with_mode(VacuumMode::Full)
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_dry_run(dry_run)
            .await
            .map_err(|e| self.delta(e))?;
        if !dry_run {
            // The vacuum's own commits moved the table on; later appends start from there.
            self.version = self.version.max(table.version().unwrap_or(0));
            self.table = table;
        }
        Ok(metrics.files_deleted)
    }
}
