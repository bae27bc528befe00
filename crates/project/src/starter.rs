//! The starter project written by `freshet init`: valid, self-contained and runnable with no external
//! service (its only source is the built-in generator). The test suite validates it, so it cannot rot.

use std::io;
use std::path::{Path, PathBuf};

/// The starter `freshet.yaml`.
pub const STARTER_PROJECT: &str = include_str!("../templates/starter.yaml");

/// Ignore rules for the state freshet keeps inside a project directory.
pub const STARTER_GITIGNORE: &str = "# freshet's local state: stores and registry\n.freshet/\n";

/// Writes the starter project into `dir` (created if needed) and returns the files written.
///
/// Refuses with [`io::ErrorKind::AlreadyExists`] if `dir` already holds a `freshet.yaml`, so an existing
/// project is never overwritten. An existing `.gitignore` is left alone.
pub fn write_starter(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let project = dir.join(crate::PROJECT_FILE);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&project)?;
    io::Write::write_all(&mut file, STARTER_PROJECT.as_bytes())?;
    let mut written = vec![project];
    let gitignore = dir.join(".gitignore");
    if !gitignore.exists() {
        std::fs::write(&gitignore, STARTER_GITIGNORE)?;
        written.push(gitignore);
    }
    Ok(written)
}
