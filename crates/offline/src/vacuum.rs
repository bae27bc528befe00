//! `freshet vacuum`: deleting the event log's files that no current version names, once the
//! retention has passed (Delta's `VACUUM`).
//!
//! `freshet compact` leaves the files it replaced on disk, and an append interrupted by a crash
//! leaves files no commit names, so without a vacuum a log's directory only grows: each compaction
//! of a streaming source's days adds the day's events again. Deleting them is safe only after a
//! while, since a reader may still be on an older version and an append in flight has written files
//! it has not committed yet; that while is the table's `delta.deletedFileRetentionDuration` (7 days
//! unless set). A shorter retention is refused unless forced, for a log no other process is using.

use crate::log::{LogError, SourceLog};
use freshet_project::Project;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of a vacuum.
#[derive(Debug, Clone, Default)]
pub struct VacuumOptions {
    /// Delete files that stopped being current longer ago than this (`None`: the table's
    /// `delta.deletedFileRetentionDuration`).
    pub retain: Option<Duration>,
    /// Allow a retention shorter than the table's: only for a log no other process is writing or
    /// reading, since it can delete an append's files before their commit names them.
    pub force: bool,
    /// List what would be deleted, and delete nothing.
    pub dry_run: bool,
}

/// Why a vacuum could not run.
#[derive(Debug, thiserror::Error)]
pub enum VacuumError {
    /// No such source.
    #[error(transparent)]
    UnknownSource(#[from] crate::UnknownSource),
    /// The retention asked for is shorter than the table's.
    #[error(
        "source `{source_name}`: a retention of {asked} is shorter than its event log's \
         delta.deletedFileRetentionDuration ({minimum}); files an append has written but not yet \
         committed, or that a reader of an older version still reads, could be deleted"
    )]
    RetentionTooShort {
        /// The source.
        source_name: String,
        /// The retention asked for.
        asked: String,
        /// The table's retention.
        minimum: String,
    },
    /// The event log cannot be read or changed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// What vacuuming one source's log did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VacuumReport {
    /// The source.
    pub source: String,
    /// The retention applied, in milliseconds.
    pub retained_ms: u64,
    /// Whether this was a dry run (nothing deleted).
    pub dry_run: bool,
    /// The files deleted (or that would be), relative to the source's table directory.
    pub files: Vec<PathBuf>,
    /// Their bytes on disk.
    pub bytes: u64,
}

/// Vacuums the logs of `sources` (every source with a log when empty; a named source without one is
/// left out of the reports). Every source's retention is checked before any file is deleted; then
/// the sources are vacuumed in turn.
pub async fn vacuum(
    project: &Project,
    sources: &[String],
    options: &VacuumOptions,
) -> Result<Vec<VacuumReport>, VacuumError> {
    let root = crate::offline_root(project);
    let mut logs = Vec::new();
    for source in crate::logged_sources(project, sources)? {
        let log =
            SourceLog::open(&root, &source.name, &source.schema, &source.timestamp_field).await?;
        let minimum = log.deleted_file_retention()?;
        let retain = options.retain.unwrap_or(minimum);
        if retain < minimum && !options.force {
            return Err(VacuumError::RetentionTooShort {
                source_name: source.name.clone(),
                asked: text(retain),
                minimum: text(minimum),
            });
        }
        logs.push((source.name.clone(), log, retain));
    }
    let mut reports = Vec::with_capacity(logs.len());
    for (source, mut log, retain) in logs {
        let vacuumed = log.vacuum(retain, options.dry_run).await?;
        reports.push(VacuumReport {
            source,
            retained_ms: u64::try_from(retain.as_millis()).unwrap_or(u64::MAX),
            dry_run: options.dry_run,
            files: vacuumed.files,
            bytes: vacuumed.bytes,
        });
    }
    Ok(reports)
}

/// `d` as `freshet.yaml` writes durations (`7d`, `90m`, `500ms`).
fn text(d: Duration) -> String {
    let millis = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    freshet_project::duration::Duration::from_millis(millis).to_string()
}

#[cfg(test)]
mod tests {
    use super::text;
    use std::time::Duration;

    #[test]
    fn a_retention_is_stated_as_the_project_file_writes_durations() {
        assert_eq!(text(Duration::from_secs(7 * 24 * 3600)), "7d");
        assert_eq!(text(Duration::from_secs(90 * 60)), "1h30m");
        assert_eq!(text(Duration::from_millis(500)), "500ms");
    }
}
