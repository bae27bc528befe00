//! A table version's data files, and the date partition each lies in.

use crate::layout::DATE;
use std::path::{Path, PathBuf};

/// One data file of a table version, as [`super::SourceLog::replace_files`] takes it.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its date partition (`YYYY-MM-DD`).
    pub day: String,
    /// The action that takes it out of the table.
    pub(super) remove: deltalake::kernel::Remove,
}

/// The files a compaction listed and has not replaced yet, and the newest table version whose
/// commits are known not to have removed any of them. A commit after that version which removed one
/// is another compaction's: [`super::SourceLog::replace_files`] refuses to land on top of it.
#[derive(Debug, Clone)]
pub struct Listing {
    version: u64,
    pending: std::collections::HashSet<String>,
}

impl Listing {
    /// `files`, as listed at table version `version`.
    pub fn new<'f>(version: u64, files: impl IntoIterator<Item = &'f DataFile>) -> Listing {
        Listing {
            version,
            pending: files.into_iter().map(|f| f.remove.path.clone()).collect(),
        }
    }

    /// The version after which commits are still to be checked.
    pub(super) fn version(&self) -> u64 {
        self.version
    }

    /// Whether `path` is one of the files still to be replaced.
    pub(super) fn pending(&self, path: &str) -> bool {
        self.pending.contains(path)
    }

    /// `replaced` landed at `version`, and every commit before it was checked against the rest.
    pub(super) fn replaced(&mut self, replaced: &[DataFile], version: u64) {
        for file in replaced {
            self.pending.remove(&file.remove.path);
        }
        self.version = version;
    }
}

/// The date partition a data file lies in (`_freshet_date=YYYY-MM-DD` in its path); empty when the
/// path has none, which sorts such a file first.
pub(super) fn date_partition(path: &Path) -> String {
    let prefix = format!("{DATE}=");
    path.components()
        .find_map(|c| {
            c.as_os_str()
                .to_str()?
                .strip_prefix(&prefix)
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::date_partition;
    use std::path::Path;

    #[test]
    fn a_file_s_day_comes_from_its_partition_directory() {
        let file = Path::new("/log/trips/_freshet_date=2026-01-16/part-00000-29b7.snappy.parquet");
        assert_eq!(date_partition(file), "2026-01-16");
        assert_eq!(date_partition(Path::new("/log/trips/part-0.parquet")), "");
        let mut files = [
            "/t/_freshet_date=2026-01-03/b.parquet",
            "/t/_freshet_date=2026-01-01/a.parquet",
            "/t/_freshet_date=2026-01-03/a.parquet",
        ]
        .map(std::path::PathBuf::from);
        files.sort_by_cached_key(|p| date_partition(p));
        // Days in order; within a day, the order the table gave.
        assert_eq!(
            files.map(|p| p.display().to_string()),
            [
                "/t/_freshet_date=2026-01-01/a.parquet",
                "/t/_freshet_date=2026-01-03/b.parquet",
                "/t/_freshet_date=2026-01-03/a.parquet",
            ]
        );
    }
}
