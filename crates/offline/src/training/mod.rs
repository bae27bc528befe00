//! Point-in-time training sets: for every spine row, each feature of a service as of the row's time,
//! computed by the engine's batch entry point ([`freshet_engine::answer_batch_each`]) over the event log: the same code and
//! the same per-entity state that serve online, so training and serving cannot disagree.
//!
//! The knowledge cutoff is the row's own time by default (only what had been ingested by then counts,
//! so late data never leaks into the past); hindsight mode sees everything the log holds. Output is one
//! Parquet file: the spine's columns unchanged, then per view its features (`view__feature`) and a
//! `view__status` column. It is staged beside its destination and renamed into place: a failed run
//! leaves no partial file.

mod answer;
mod at;

use crate::output::{OutputColumn, write_columns};
use crate::spine::Spine;
use crate::views::{ServiceView, ViewEvents, load_events, service_views};
use answer::{
    MergedSource, SpineColumns, answer_rows, answer_spine_columns, loaded_columns, sorted_logs,
};
use arrow_array::ArrayRef;
use arrow_schema::Field;
use at::{AT_COLUMN, every_entity};
use freshet_engine::ViewRow;
use freshet_project::Project;
use std::path::{Path, PathBuf};

pub use crate::output::write_parquet;
pub use crate::views::TrainingError;

/// Where the rows of a training set come from.
#[derive(Debug, Clone)]
pub enum SpineInput {
    /// A Parquet or CSV file, with an optional explicit timestamp column.
    File {
        /// The file.
        path: PathBuf,
        /// Its timestamp column, when not one of the recognised names.
        timestamp_column: Option<String>,
    },
    /// Every entity with an event at or before this instant (microseconds), as of it: batch scoring.
    At(i64),
}

/// Settings of a training-set build.
#[derive(Debug, Clone)]
pub struct TrainingOptions {
    /// Knowledge cutoff +infinity instead of each row's time.
    pub hindsight: bool,
    /// Name feature columns `feature` instead of `view__feature` (refused if two would collide).
    pub bare_names: bool,
    /// Threads to read the log, answer and write on (0 counts as 1). The file is the same whatever
    /// the number: entities are split into as many groups, and every answer goes back to its row.
    pub threads: usize,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        TrainingOptions {
            hindsight: false,
            bare_names: false,
            threads: crate::views::host_threads(),
        }
    }
}

/// What a build produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainingReport {
    /// The output file.
    pub path: PathBuf,
    /// Rows written.
    pub rows: usize,
    /// Output columns, in order.
    pub columns: Vec<String>,
    /// Events read from the log.
    pub events: u64,
    /// Per view, the rows that found the entity (status `PRESENT`).
    pub present: Vec<(String, usize)>,
    /// Sources whose compacted log was merged by key rather than loaded into memory.
    pub merged: Vec<String>,
    /// Events of merged logs appended since their last compaction, sorted for this build.
    pub tail_events: u64,
    /// What the user should know: a log that could not be merged as its files claimed, say.
    pub warnings: Vec<String>,
}

/// Builds the training set of `service` for `input` into `out` (Parquet).
pub async fn build_training_set(
    project: &Project,
    service: &str,
    input: &SpineInput,
    out: &Path,
    options: &TrainingOptions,
) -> Result<TrainingReport, TrainingError> {
    let views = service_views(project, service)?;
    let started = std::time::Instant::now();
    let ReadSpine {
        spine,
        time_column,
        answering,
    } = read_spine(project, &views, input, options).await?;
    let times = spine.timestamps(&time_column)?;
    tracing::debug!(rows = times.len(), elapsed = ?started.elapsed(), "training set: spine read");
    let name = |view: &ServiceView, feature: usize| column_name(view, feature, options.bare_names);
    let answered = match answering {
        Answering::Loaded { events, read } => SpineColumns {
            views: loaded_columns(
                views.iter(),
                events,
                &spine,
                &times,
                options.hindsight,
                &name,
            )?,
            events: read,
            merged: Vec::new(),
            tail_events: 0,
            warnings: Vec::new(),
        },
        Answering::Logs(logs) => {
            answer_spine_columns(project, &views, logs, &spine, &times, options, &name).await?
        }
    };
    tracing::debug!(elapsed = ?started.elapsed(), "training set: features answered");
    let mut columns: Vec<OutputColumn> = spine_columns(&spine, out)?
        .into_iter()
        .map(|(field, array)| OutputColumn::ready(field, array))
        .collect();
    let mut present = Vec::new();
    for (view, (view_columns, found)) in views.iter().zip(answered.views) {
        present.push((view.name.clone(), found));
        columns.extend(view_columns);
    }
    check_names(&columns, options)?;
    let names = columns.iter().map(|c| c.field().name().clone()).collect();
    write_columns(out, columns, options.threads)?;
    tracing::debug!(elapsed = ?started.elapsed(), "training set: written");
    Ok(TrainingReport {
        path: out.to_path_buf(),
        rows: times.len(),
        columns: names,
        events: answered.events,
        present,
        merged: answered.merged,
        tail_events: answered.tail_events,
        warnings: answered.warnings,
    })
}

/// Feature `feature` of `view`'s output column: `view__feature`, or the bare name.
fn column_name(view: &ServiceView, feature: usize, bare_names: bool) -> String {
    let bare = &view.def.features[feature].name;
    if bare_names {
        bare.clone()
    } else {
        format!("{}__{bare}", view.name)
    }
}

/// A spine ready to answer, and where its answers will come from.
struct ReadSpine {
    spine: Spine,
    time_column: String,
    answering: Answering,
}

/// Where a spine's answers come from.
enum Answering {
    /// `--at`: the events, loaded to list the entities, answer in memory.
    Loaded { events: Vec<ViewEvents>, read: u64 },
    /// A spine file: the views over these logs, sorted by key, merge them; the others load their
    /// events.
    Logs(Vec<MergedSource>),
}

/// Reads the spine of `input`. `--at` lists the entities from the events, so it loads them first;
/// a spine file does not.
async fn read_spine(
    project: &Project,
    views: &[ServiceView],
    input: &SpineInput,
    options: &TrainingOptions,
) -> Result<ReadSpine, TrainingError> {
    match input {
        SpineInput::File {
            path,
            timestamp_column,
        } => read_spine_file(project, views, path, timestamp_column.clone()).await,
        SpineInput::At(at) => {
            let (events, read) = load_events(project, views, options.threads).await?;
            let spine = every_entity(views, &events, *at)?;
            Ok(ReadSpine {
                spine,
                time_column: AT_COLUMN.to_owned(),
                answering: Answering::Loaded { events, read },
            })
        }
    }
}

/// Reads the spine file at `path` on a thread of its own while the logs are opened (their Delta
/// tables and file footers): each took a few percent of B3, one core idle meanwhile.
async fn read_spine_file(
    project: &Project,
    views: &[ServiceView],
    path: &Path,
    named: Option<String>,
) -> Result<ReadSpine, TrainingError> {
    let keys: Vec<String> = views
        .iter()
        .flat_map(|v| v.join_keys.iter().map(|(k, _)| k.clone()))
        .collect();
    let path = path.to_path_buf();
    let reading = std::thread::spawn(move || {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        Spine::read_timed(&path, &keys, named.as_deref())
    });
    let logs = sorted_logs(project, views).await;
    let (spine, time_column) = reading.join().map_err(|_| {
        TrainingError::Internal("the thread reading the spine stopped".to_owned())
    })??;
    // A bad spine is reported before a log that cannot be opened, as when read first.
    Ok(ReadSpine {
        spine,
        time_column,
        answering: Answering::Logs(logs?),
    })
}

/// The spine's own columns, each as one array, to pass through to an output file.
pub fn spine_columns(spine: &Spine, out: &Path) -> Result<Vec<(Field, ArrayRef)>, TrainingError> {
    spine
        .schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let parts: Vec<ArrayRef> = spine.batches.iter().map(|b| b.column(i).clone()).collect();
            let refs: Vec<&dyn arrow_array::Array> = parts.iter().map(|a| a.as_ref()).collect();
            arrow_select::concat::concat(&refs).map(|a| (f.as_ref().clone(), a))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| TrainingError::Write {
            path: out.to_path_buf(),
            reason: e.to_string(),
        })
}

/// A spine answered in memory: per view of the service, one row of features per spine row.
#[derive(Debug)]
pub struct SpineAnswers {
    /// The service's views, in service order, with the features it picks.
    pub views: Vec<ServiceView>,
    /// Per view, per spine row, the view's features as of the row's time.
    pub rows: Vec<Vec<ViewRow>>,
    /// Each spine row's time (microseconds).
    pub times: Vec<i64>,
    /// Events read from the log.
    pub events: u64,
}

/// Answers `spine` (timed by `time_column`) for `features` without writing anything: what a training
/// set holds, for a caller that learns from it directly. The knowledge cutoff is each row's time
/// unless `hindsight`.
pub async fn answer_spine(
    project: &Project,
    features: &[freshet_project::spec::FeatureRef],
    spine: &Spine,
    time_column: &str,
    hindsight: bool,
) -> Result<SpineAnswers, TrainingError> {
    let views = crate::views::views_of_features(project, features);
    let (events, read) = load_events(project, &views, crate::views::host_threads()).await?;
    let times = spine.timestamps(time_column)?;
    let rows = answer_rows(&views, events, spine, &times, hindsight)?;
    Ok(SpineAnswers {
        views,
        rows,
        times,
        events: read,
    })
}

fn check_names(columns: &[OutputColumn], options: &TrainingOptions) -> Result<(), TrainingError> {
    let mut seen = std::collections::HashSet::new();
    for field in columns.iter().map(OutputColumn::field) {
        if !seen.insert(field.name().as_str()) {
            let help = if options.bare_names {
                "drop --bare-names so columns are named view__feature"
            } else {
                "rename the spine column"
            };
            return Err(TrainingError::DuplicateColumn {
                column: field.name().clone(),
                help: help.to_owned(),
            });
        }
    }
    Ok(())
}
