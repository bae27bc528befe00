//! `freshet backfill`: rebuilding each feature view's serving state from the event log.
//!
//! Until the online store lands, the serving state is the engine's own snapshot, one file per view at
//! `<project>/.freshet/state/<view>.state`: a header line, a JSON manifest line (the log files the
//! state covers, whether it is complete) and the engine snapshot (checksummed, tied to the view's
//! definition). Each file is replaced atomically, so the manifest always describes the snapshot beside
//! it.
//!
//! - **Interruptible**: while running, a checkpoint is written every `checkpoint_interval`; a new run
//!   restores it and reads only the log files it does not cover.
//! - **Idempotent**: a complete state covering every file of the log is left alone; replaying an
//!   event the state holds is recognised by its position and changes nothing.
//! - **Incremental**: files the log gained since are added to a complete state, unless they hold
//!   events older than its evicted history; then the view is rebuilt from scratch, so it stays exact.
//! - **Bounded**: a finished state keeps only what queries from the newest event on need.
//! - **Materialized**: every entity's record then goes to the project's online store. Records carry
//!   versions, so writing them again (a second run, a resumed one) changes nothing there either.

use crate::log::{LogError, SourceLog};
use crate::scan::scan_files;
use freshet_engine::{IngestOutcome, InsertOutcome, Timestamp, ViewState};
use freshet_project::Project;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HEADER: &[u8] = b"FRSHSTATE 1\n";

/// Why a backfill stopped.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The event log cannot be read.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A state file cannot be written.
    #[error("cannot write {path}: {reason}; check that the directory is writable")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The online store refused.
    #[error(transparent)]
    Store(#[from] freshet_online::StoreError),
    /// No such view.
    #[error("unknown feature view `{name}`; feature views: {available}")]
    UnknownView {
        /// The name asked for.
        name: String,
        /// What exists.
        available: String,
    },
}

/// What the manifest line of a state file records.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Manifest {
    view: String,
    complete: bool,
    /// Log files (relative to the source's table) whose events the state holds.
    files: BTreeSet<String>,
    events: u64,
}

/// What happened to one view.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ViewBackfill {
    /// The view.
    pub view: String,
    /// The state file.
    pub path: PathBuf,
    /// Log files read by this run.
    pub files_read: usize,
    /// Log files an earlier run had covered (skipped).
    pub files_skipped: usize,
    /// Events read by this run.
    pub events_read: u64,
    /// Entities in the state.
    pub entities: usize,
    /// Why the view was rebuilt from scratch instead of continued, when it was.
    pub rebuilt: Option<String>,
    /// Nothing to do: the state already covered the whole log.
    pub up_to_date: bool,
    /// Records written to the online store (equal replays count; older ones never replace newer).
    pub materialized: usize,
}

/// Settings.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// Time between checkpoints while running.
    pub checkpoint_interval: Duration,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        BackfillOptions {
            checkpoint_interval: Duration::from_secs(10),
        }
    }
}

/// Progress, for a progress bar.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A view starts, with this many files to read.
    View {
        /// The view.
        name: String,
        /// Files to read.
        files: usize,
    },
    /// Files read so far, and events.
    Files(usize, u64),
    /// A view's state is being written to the online store.
    Materializing {
        /// The view.
        name: String,
        /// Its entities.
        entities: usize,
    },
}

/// The state file of a view.
pub fn state_path(project: &Project, view: &str) -> PathBuf {
    project
        .dir
        .join(".freshet/state")
        .join(format!("{view}.state"))
}

/// Loads a view's saved state, if there is a usable one.
pub fn load_state(project: &Project, view: usize) -> Option<ViewState> {
    let def = project.views.get(view)?.def.clone();
    let (manifest, state) = read_state(&state_path(project, &def.name), ViewState::new(def))?;
    manifest.complete.then_some(state)
}

fn read_state(path: &Path, mut state: ViewState) -> Option<(Manifest, ViewState)> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(HEADER)?;
    let line_end = rest.iter().position(|b| *b == b'\n')?;
    let manifest: Manifest = serde_json::from_slice(&rest[..line_end]).ok()?;
    state.restore(&rest[line_end + 1..]).ok()?;
    Some((manifest, state))
}

fn write_state(path: &Path, manifest: &Manifest, state: &ViewState) -> Result<(), BackfillError> {
    let fail = |reason: String| BackfillError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let mut bytes = HEADER.to_vec();
    serde_json::to_writer(&mut bytes, manifest).map_err(|e| fail(e.to_string()))?;
    bytes.push(b'\n');
    bytes.extend_from_slice(&state.snapshot());
    let staged = freshet_project::files::stage_file(dir).map_err(|e| fail(e.to_string()))?;
    std::fs::write(staged.path(), &bytes).map_err(|e| fail(e.to_string()))?;
    staged
        .persist(path)
        .map_err(|e| fail(e.error.to_string()))?;
    Ok(())
}

/// Rebuilds the state of `views` (all views when empty) and materializes it into the project's
/// online store.
pub async fn backfill(
    project: &Project,
    views: &[String],
    options: &BackfillOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<ViewBackfill>, BackfillError> {
    let store = freshet_online::OnlineStore::open(project).await?;
    backfill_into(project, views, options, &store, progress).await
}

/// [`backfill`] into a store the caller has open (an embedded store admits one opener per file, and
/// `freshet run` holds it).
pub async fn backfill_into(
    project: &Project,
    views: &[String],
    options: &BackfillOptions,
    store: &freshet_online::OnlineStore,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<ViewBackfill>, BackfillError> {
    let chosen = choose(project, views)?;
    let root = crate::offline_root(project);
    let mut reports = Vec::new();
    for index in chosen {
        let spec = &project.spec.feature_views[index];
        let Some(source) = project.spec.sources.iter().find(|s| s.name == spec.source) else {
            continue;
        };
        let log =
            SourceLog::open(&root, &source.name, &source.schema, &source.timestamp_field).await?;
        let mut report = backfill_view(project, index, &log, options, progress)?;
        report.materialized = materialize(project, index, store, progress).await?;
        reports.push(report);
    }
    Ok(reports)
}

/// Writes every entity's record of view `index`'s saved state to the online store.
async fn materialize(
    project: &Project,
    index: usize,
    store: &freshet_online::OnlineStore,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<usize, BackfillError> {
    let Some(state) = load_state(project, index) else {
        return Ok(0);
    };
    let view = &project.views[index].def.name;
    progress(Progress::Materializing {
        name: view.clone(),
        entities: state.entities(),
    });
    let mut written = 0;
    let mut chunk = Vec::with_capacity(MATERIALIZE_CHUNK);
    for record in state.records() {
        chunk.push(record);
        if chunk.len() == MATERIALIZE_CHUNK {
            written += store.write(view, &chunk).await?;
            chunk.clear();
        }
    }
    written += store.write(view, &chunk).await?;
    Ok(written)
}

/// Records per online-store write.
const MATERIALIZE_CHUNK: usize = 4096;

fn choose(project: &Project, views: &[String]) -> Result<Vec<usize>, BackfillError> {
    let all = &project.spec.feature_views;
    if views.is_empty() {
        return Ok((0..all.len()).collect());
    }
    views
        .iter()
        .map(|name| {
            all.iter()
                .position(|v| &v.name == name)
                .ok_or_else(|| BackfillError::UnknownView {
                    name: name.clone(),
                    available: all
                        .iter()
                        .map(|v| v.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .collect()
}

fn relative(log: &SourceLog, file: &Path) -> String {
    file.strip_prefix(log.dir())
        .unwrap_or(file)
        .to_string_lossy()
        .into_owned()
}

fn backfill_view(
    project: &Project,
    index: usize,
    log: &SourceLog,
    options: &BackfillOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ViewBackfill, BackfillError> {
    let def = project.views[index].def.clone();
    let path = state_path(project, &def.name);
    let files = log.files()?;
    let fresh = || {
        (
            Manifest {
                view: def.name.clone(),
                ..Manifest::default()
            },
            ViewState::new(def.clone()),
        )
    };
    let mut rebuilt = None;
    let (mut manifest, mut state) = match read_state(&path, ViewState::new(def.clone())) {
        Some(saved) => saved,
        None => {
            if path.exists() {
                rebuilt =
                    Some("the saved state is unreadable or for another definition".to_owned());
            }
            fresh()
        }
    };
    let todo: Vec<&PathBuf> = files
        .iter()
        .filter(|f| !manifest.files.contains(&relative(log, f)))
        .collect();
    let skipped = files.len() - todo.len();
    let mut report = ViewBackfill {
        view: def.name.clone(),
        path: path.clone(),
        files_read: 0,
        files_skipped: skipped,
        events_read: 0,
        entities: state.entities(),
        rebuilt,
        up_to_date: false,
        materialized: 0,
    };
    if todo.is_empty() && manifest.complete {
        report.up_to_date = true;
        return Ok(report);
    }
    progress(Progress::View {
        name: def.name.clone(),
        files: todo.len(),
    });
    let mut too_late = false;
    let mut last_checkpoint = Instant::now();
    manifest.complete = false;
    for file in &todo {
        report.events_read += scan_files(std::slice::from_ref(*file), log.fields(), |e| {
            // The log holds only rows every view accepted at ingest; a row refused now (the project
            // changed since) does not count, as it would not when streaming.
            if let Ok(IngestOutcome::Placed(InsertOutcome::TooLate)) =
                state.ingest(e.row, Timestamp(e.ingest_time), e.position)
            {
                too_late = true;
            }
        })?;
        if too_late {
            // New files reach below evicted history: only a rebuild is exact.
            let mut restart = backfill_from_scratch(project, index, log, options, progress)?;
            restart.rebuilt =
                Some("new log files hold events older than the saved state's history".to_owned());
            return Ok(restart);
        }
        manifest.files.insert(relative(log, file));
        report.files_read += 1;
        progress(Progress::Files(report.files_read, report.events_read));
        if last_checkpoint.elapsed() >= options.checkpoint_interval {
            let checkpoint = Manifest {
                events: manifest.events + report.events_read,
                ..manifest.clone()
            };
            write_state(&path, &checkpoint, &state)?;
            last_checkpoint = Instant::now();
        }
    }
    manifest.events += report.events_read;
    manifest.complete = true;
    if let Some(newest) = newest_event_time(&state) {
        state.evict(newest);
    }
    write_state(&path, &manifest, &state)?;
    report.entities = state.entities();
    Ok(report)
}

fn backfill_from_scratch(
    project: &Project,
    index: usize,
    log: &SourceLog,
    options: &BackfillOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ViewBackfill, BackfillError> {
    let path = state_path(project, &project.views[index].def.name);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(BackfillError::Write {
                path,
                reason: e.to_string(),
            });
        }
    }
    backfill_view(project, index, log, options, progress)
}

/// The newest event time any entity of the state has seen.
fn newest_event_time(state: &ViewState) -> Option<i64> {
    state.newest_event_time()
}
