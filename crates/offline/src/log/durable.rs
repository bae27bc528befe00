//! Flushing what an append or a compaction wrote to disk before anything is recorded on its strength.

use super::LogError;
use std::path::Path;

/// Flushes the files at `paths` (relative to the table at `root`, as Delta records them) and their
/// directories to disk. The object store's local writes leave files in the page cache, where a crash
/// of the machine (not only of freshet) loses them: a commit must never name a data file that is not
/// on disk yet, and a commit must be on disk before anything is recorded on its strength. As a side
/// effect, a training set built right after `freshet compact` no longer competes with the kernel
/// writing the new files back.
pub(super) fn sync_files(root: &Path, paths: Vec<String>) -> Result<(), LogError> {
    let io = |dir: &Path, source: std::io::Error| LogError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    let base = url::Url::from_directory_path(root).ok();
    let mut dirs = std::collections::BTreeSet::new();
    for relative in &paths {
        // Delta paths are percent-encoded: a URL join decodes them.
        let path = base
            .as_ref()
            .and_then(|b| b.join(relative).ok())
            .and_then(|u| u.to_file_path().ok())
            .unwrap_or_else(|| root.join(relative));
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| io(&path, e))?;
        if let Some(dir) = path.parent() {
            dirs.insert(dir.to_path_buf());
        }
    }
    for dir in dirs {
        std::fs::File::open(&dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| io(&dir, e))?;
    }
    Ok(())
}
