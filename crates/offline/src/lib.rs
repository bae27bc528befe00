//! freshet's offline store: the event log, and everything that reads or writes it.
//!
//! - [`log`]: one Delta Lake table per source; atomic, idempotent appends, committed by
//!   `blind_append` at a cost that does not grow with the log's history.
//! - [`ingest`]: `freshet ingest`, loading file sources into the log with dead letters.
//! - [`scan`]: reading a table version's events back for the engine.
//! - [`training`]: point-in-time training sets through the engine's batch entry point (split over
//!   entity groups by `answers`), or, over a compacted log, by merging its sorted files (`merge`).
//! - `output`: a training set's Parquet file, its columns encoded on several threads.
//! - [`labels`]: a model's labelled rows, the spine it is trained on.
//! - [`backfill`]: rebuilding each view's serving state from the log, resumably.
//! - [`compact`]: rewriting each day of a log as one file sorted by entity (Delta's `OPTIMIZE`).
//! - [`vacuum`]: deleting the files no current version names once the retention has passed
//!   (Delta's `VACUUM`).
//!
//! This crate owns the heavy dependencies of the offline path (Delta Lake and its async runtime) so the
//! engine and the project model stay free of them.

mod answers;
pub mod backfill;
mod blind_append;
pub mod columns;
pub mod compact;
pub mod dead_letter;
pub mod ingest;
pub mod labels;
pub mod layout;
pub mod log;
mod merge;
mod output;
pub mod scan;
pub mod spine;
pub mod training;
pub mod vacuum;
pub mod views;

pub use deltalake::kernel::Transaction;
pub use log::{LogError, LogRows, SourceLog};

use freshet_engine::ViewDef;
use freshet_project::Project;
use freshet_project::spec::{OfflineStoreSpec, SourceSpec};
use std::path::{Path, PathBuf};

/// The offline store's root directory: the project's `offline_store.path`, relative to the project.
pub fn offline_root(project: &Project) -> PathBuf {
    match &project.spec.offline_store {
        OfflineStoreSpec::Local { path } => project.dir.join(path.resolved()),
    }
}

/// The engine definitions of the feature views fed by `source`.
pub fn views_of_source(project: &Project, source: &str) -> Vec<ViewDef> {
    project
        .spec
        .feature_views
        .iter()
        .zip(&project.views)
        .filter(|(view, _)| view.source == source)
        .map(|(_, compiled)| compiled.def.clone())
        .collect()
}

/// Whether `source` has an event log under `offline_root` (its Delta table's `_delta_log`).
/// Opening a [`SourceLog`] creates the log, so whatever only reads or tidies one asks this first.
pub fn has_log(offline_root: &Path, source: &str) -> bool {
    layout::table_dir(offline_root, source)
        .join("_delta_log")
        .is_dir()
}

/// A source a command named that the project does not declare.
#[derive(Debug, thiserror::Error)]
#[error("unknown source `{name}`; sources: {available}")]
pub struct UnknownSource {
    /// The name asked for.
    pub name: String,
    /// The sources the project declares.
    pub available: String,
}

/// The sources a log maintenance command works on: those of `names` that have an event log, in that
/// order, or, when `names` is empty, every source that has one. A source declared but never logged
/// is left out, since opening its log to tidy it would create an empty one.
pub fn logged_sources<'p>(
    project: &'p Project,
    names: &[String],
) -> Result<Vec<&'p SourceSpec>, UnknownSource> {
    let sources = &project.spec.sources;
    let root = offline_root(project);
    if names.is_empty() {
        return Ok(sources.iter().filter(|s| has_log(&root, &s.name)).collect());
    }
    let named = names
        .iter()
        .map(|name| {
            sources
                .iter()
                .find(|s| &s.name == name)
                .ok_or_else(|| UnknownSource {
                    name: name.clone(),
                    available: sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(named
        .into_iter()
        .filter(|s| has_log(&root, &s.name))
        .collect())
}
