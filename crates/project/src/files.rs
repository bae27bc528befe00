//! Files freshet writes are staged beside their destination and renamed into place, so a reader never
//! sees half a file and a failed write leaves nothing behind. This is the one place they are staged,
//! and the one place a file kept only for its lock (`flock`) is opened.

use std::path::Path;

/// A new, empty temporary file in `dir` (hidden, `.freshet-*.partial`) to write and then persist under
/// its final name. Its permissions are those of an ordinary new file (0666 less the umask), not the
/// owner-only default of temporary files, since it becomes a user's output.
pub fn stage_file(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".freshet-").suffix(".partial");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// The file at `path`, created empty if missing and never truncated: a file kept only so that
/// processes can lock it (`File::lock`, `File::try_lock`). The lock goes with the process, however
/// it ends, so the file may stay.
pub fn lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn staged_files_are_readable_by_others_like_any_output() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let staged = super::stage_file(dir.path()).unwrap();
        let mode = staged.as_file().metadata().unwrap().permissions().mode();
        assert_ne!(mode & 0o044, 0, "mode {mode:o}");
    }
}
