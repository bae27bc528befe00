//! A compacted log's unsorted tail, sorted for one training set so that the log is still merged.
//!
//! A running stream appends a file about once a second, and compaction (`freshet compact`, or
//! `freshet run --compact-every`) sorts them only later. Between the two, the log holds sorted files
//! and a tail of unsorted ones, and a merge needs every file sorted: without this, any training set
//! over a live stream's log would load the whole log into memory instead (on W1, 2.3 s against
//! 0.8 s merged). So when the tail is small beside the sorted part, its events are read, sorted as
//! compaction sorts them, and written to one scratch file marked sorted, which the merge takes as
//! one more file. The scratch file belongs to the one training set: it lies outside the table (in
//! the offline store's `scratch/`), no version of the log names it, and it is deleted once the
//! merge is done. A build killed meanwhile leaves its file behind; the next build deletes scratch
//! files older than a day, which no build still running can own.

use crate::compact::{sorted_events, writer_properties};
use crate::log::LogError;
use arrow_schema::Schema;
use parquet::arrow::ArrowWriter;
use std::path::Path;

/// How old a scratch file is before a build takes it for one a killed build left.
const STALE: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// The most unsorted events a training set sorts for itself: as many as compaction holds in memory
/// for one file.
const MAX_TAIL_EVENTS: u64 = 8_000_000;

/// Whether a tail of `tail` unsorted events beside `sorted` sorted ones is sorted for the run: when
/// it is at most [`MAX_TAIL_EVENTS`] and a quarter of the sorted part. A larger one costs more to
/// sort and write than loading the whole log costs to answer (sorting is the slower way to read
/// the same events).
pub(crate) fn worth_sorting(tail: u64, sorted: u64) -> bool {
    tail <= MAX_TAIL_EVENTS && tail.saturating_mul(4) <= sorted
}

/// Writes every event of `files` (data files of a table of `schema`), sorted by `order` and marked
/// `marker` as compaction marks its files, to a scratch file under `offline_root`, deleted when the
/// returned handle is dropped.
pub(crate) fn sorted_tail(
    offline_root: &Path,
    schema: &Schema,
    files: &[&Path],
    order: &[String],
    marker: &str,
) -> Result<tempfile::TempPath, LogError> {
    let dir = offline_root.join("scratch");
    let io = |source: std::io::Error| LogError::Io {
        dir: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    remove_stale(&dir, STALE);
    let sorted = sorted_events(schema, files, order)?;
    let scratch = tempfile::Builder::new()
        .prefix(".freshet-tail-")
        .suffix(".parquet")
        .tempfile_in(&dir)
        .map_err(io)?;
    let properties = writer_properties(&sorted.schema(), order, marker.to_owned());
    let failed = |e: parquet::errors::ParquetError| io(std::io::Error::other(e));
    let mut writer = ArrowWriter::try_new(scratch.as_file(), sorted.schema(), Some(properties))
        .map_err(failed)?;
    writer.write(&sorted).map_err(failed)?;
    writer.close().map_err(failed)?;
    Ok(scratch.into_temp_path())
}

/// Deletes the scratch files in `dir` not modified for `age`: a killed build's. Best effort: a
/// file that cannot be read or deleted is left for the next build.
fn remove_stale(dir: &Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(".freshet-tail-") {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|elapsed| elapsed > age);
        if old && std::fs::remove_file(entry.path()).is_ok() {
            tracing::info!(file = %entry.path().display(), "a killed training set's scratch file deleted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_is_sorted_when_small_beside_the_sorted_part_and_bounded() {
        assert!(worth_sorting(0, 0));
        assert!(worth_sorting(250, 1_000));
        assert!(!worth_sorting(251, 1_000));
        assert!(!worth_sorting(1, 0));
        assert!(!worth_sorting(MAX_TAIL_EVENTS + 1, u64::MAX));
    }

    #[test]
    fn only_scratch_files_older_than_the_age_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, age_secs: u64| {
            let path = dir.path().join(name);
            let f = std::fs::File::create(&path).unwrap();
            let modified = std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs);
            f.set_modified(modified).unwrap();
            path
        };
        let stale = file(".freshet-tail-a.parquet", 7_200);
        let fresh = file(".freshet-tail-b.parquet", 10);
        let other = file("notes.txt", 7_200);
        remove_stale(dir.path(), std::time::Duration::from_secs(3_600));
        assert!(!stale.exists());
        assert!(fresh.exists() && other.exists());
    }
}
