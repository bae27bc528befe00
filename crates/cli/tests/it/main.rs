//! End-to-end tests of the `freshet` binary: real processes, real files, golden outputs.

// Test helpers may fail loudly: a panic is how a test reports a broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod golden;
mod offline;
mod serving;
mod streaming;
mod workflow;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `freshet args...` in `cwd` with a clean environment for freshet's own variables.
pub(crate) fn freshet(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args(args)
        .current_dir(cwd)
        .env_remove("FRESHET_TEST_UNSET_PASSWORD")
        .output()
        .expect("the freshet binary runs")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
