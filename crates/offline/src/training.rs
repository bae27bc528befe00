//! Point-in-time training sets: for every spine row, each feature of a service as of the row's time,
//! computed by the engine's batch entry point ([`freshet_engine::answer_batch_each`]) over the event log: the same code and
//! the same per-entity state that serve online, so training and serving cannot disagree.
//!
//! The knowledge cutoff is the row's own time by default (only what had been ingested by then counts,
//! so late data never leaks into the past); hindsight mode sees everything the log holds. Output is one
//! Parquet file: the spine's columns unchanged, then per view its features (`view__feature`) and a
//! `view__status` column. It is staged beside its destination and renamed into place: a failed run
//! leaves no partial file.

use crate::answers::answer_columns;
use crate::merge::SortedLog;
use crate::output::{OutputColumn, write_columns};
use crate::spine::{Spine, SpineError};
use crate::views::{ServiceView, ViewEvents, load_events, service_views};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use freshet_engine::{EntityKey, KeyPart, Query, ViewRow};
use freshet_project::Project;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    // `--at` lists the entities from the events, so it loads them first; a spine file does not.
    let (spine, time_column, loaded, logs) = match input {
        SpineInput::File {
            path,
            timestamp_column,
        } => {
            let keys: Vec<String> = views
                .iter()
                .flat_map(|v| v.join_keys.iter().map(|(k, _)| k.clone()))
                .collect();
            // The spine is read on a thread of its own while the logs are opened (their Delta
            // tables and file footers): each took a few percent of B3, one core idle meanwhile.
            let (path, named) = (path.clone(), timestamp_column.clone());
            let reading = std::thread::spawn(move || {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                Spine::read_timed(&path, &keys, named.as_deref())
            });
            let logs = sorted_logs(project, &views).await;
            let (spine, column) = reading.join().map_err(|_| {
                TrainingError::Internal("the thread reading the spine stopped".to_owned())
            })??;
            // A bad spine is reported before a log that cannot be opened, as when read first.
            (spine, column, None, logs?)
        }
        SpineInput::At(at) => {
            let (events, read) = load_events(project, &views, options.threads).await?;
            let spine = every_entity(&views, &events, *at)?;
            (
                spine,
                AT_COLUMN.to_owned(),
                Some((events, read)),
                Vec::new(),
            )
        }
    };
    let times = spine.timestamps(&time_column)?;
    tracing::debug!(rows = times.len(), elapsed = ?started.elapsed(), "training set: spine read");
    let name = |view: &ServiceView, feature: usize| {
        let bare = &view.def.features[feature].name;
        if options.bare_names {
            bare.clone()
        } else {
            format!("{}__{bare}", view.name)
        }
    };
    let answered = match loaded {
        Some((events, read)) => SpineColumns {
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
        None => answer_spine_columns(project, &views, logs, &spine, &times, options, &name).await?,
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

/// A view's output columns and how many rows found the entity.
type ViewColumns = (Vec<OutputColumn>, usize);

/// Every view's answers to a spine, and how they were read.
struct SpineColumns {
    /// Per view, in view order, its output columns.
    views: Vec<ViewColumns>,
    /// Events read from the log.
    events: u64,
    /// Sources merged by key.
    merged: Vec<String>,
    /// Events of the merged logs' unsorted tails.
    tail_events: u64,
    /// What the user should know.
    warnings: Vec<String>,
}

/// The output columns of `views`, each answered from its events loaded in memory.
fn loaded_columns<'v>(
    views: impl Iterator<Item = &'v ServiceView>,
    events: Vec<ViewEvents>,
    spine: &Spine,
    times: &[i64],
    hindsight: bool,
    name: &impl Fn(&ServiceView, usize) -> String,
) -> Result<Vec<ViewColumns>, TrainingError> {
    views
        .zip(events)
        .map(|(view, view_events)| {
            let queries = spine_queries(spine, view, times, hindsight)?;
            answer_columns(view, view_events, queries, |f| name(view, f))
        })
        .collect()
}

/// A source whose log a merge by key answers: its name, the indexes of its views, and the log.
struct MergedSource {
    name: String,
    views: Vec<usize>,
    log: SortedLog,
}

/// The sources of `views` whose logs are ready to merge by key, where a merge answers all of that
/// source's views ([`crate::merge::sorted_log`]); in name order.
async fn sorted_logs(
    project: &Project,
    views: &[ServiceView],
) -> Result<Vec<MergedSource>, TrainingError> {
    let mut sources: Vec<&str> = views.iter().map(|v| v.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    let mut logs = Vec::new();
    for source in sources {
        let mine: Vec<usize> = (0..views.len())
            .filter(|&i| views[i].source == source)
            .collect();
        let refs: Vec<&ServiceView> = mine.iter().map(|&i| &views[i]).collect();
        if let Some(log) = crate::merge::sorted_log(project, source, &refs).await? {
            logs.push(MergedSource {
                name: source.to_owned(),
                views: mine,
                log,
            });
        }
    }
    Ok(logs)
}

/// Every view's output columns for a spine file. Views over a log compacted by their key (those of
/// the sources in `logs`) are answered by merging its sorted files ([`crate::merge`]); the others
/// from their events loaded in memory. Both give the same answers.
async fn answer_spine_columns(
    project: &Project,
    views: &[ServiceView],
    logs: Vec<MergedSource>,
    spine: &Spine,
    times: &[i64],
    options: &TrainingOptions,
    name: &impl Fn(&ServiceView, usize) -> String,
) -> Result<SpineColumns, TrainingError> {
    let hindsight = options.hindsight;
    let mut answered: Vec<Option<ViewColumns>> = views.iter().map(|_| None).collect();
    let mut read = 0;
    let mut merged = Vec::new();
    let mut tail_events = 0;
    let mut warnings = Vec::new();
    for MergedSource {
        name: source,
        views: mine,
        log,
    } in &logs
    {
        let source = source.as_str();
        let refs: Vec<&ServiceView> = mine.iter().map(|&i| &views[i]).collect();
        let (key, data_type) = &refs[0].join_keys[0];
        let keys = spine.keys_as(key, *data_type, crate::merge::MergeKey::Int, |s| {
            crate::merge::MergeKey::Text(s.as_bytes().into())
        })?;
        let queries = crate::merge::SortedQueries {
            keys: &keys,
            times,
            hindsight,
        };
        let (sinks, events) = match log.answer(&refs, &queries, options.threads.max(1)) {
            Ok(answered) => answered,
            // The merge relies on the files' order; without it the in-memory path still answers.
            Err(TrainingError::Log(e @ crate::log::LogError::MisSorted { .. })) => {
                warnings.push(e.to_string());
                continue;
            }
            Err(e) => return Err(e),
        };
        read += events;
        tracing::debug!(source, events, "training set: log merged by key");
        merged.push(source.to_owned());
        tail_events += log.tail_events();
        let started = std::time::Instant::now();
        for ((&i, view), view_sinks) in mine.iter().zip(&refs).zip(sinks) {
            answered[i] = Some(crate::answers::assemble(
                view,
                view_sinks,
                times.len(),
                |f| name(view, f),
            )?);
        }
        tracing::debug!(elapsed = ?started.elapsed(), "training set: answers assembled");
    }
    let rest: Vec<ServiceView> = (0..views.len())
        .filter(|&i| answered[i].is_none())
        .map(|i| views[i].clone())
        .collect();
    if !rest.is_empty() {
        let (events, events_read) = load_events(project, &rest, options.threads).await?;
        read += events_read;
        let loaded = loaded_columns(rest.iter(), events, spine, times, hindsight, name)?;
        for (slot, columns) in answered.iter_mut().filter(|a| a.is_none()).zip(loaded) {
            *slot = Some(columns);
        }
    }
    let views = answered
        .into_iter()
        .map(|a| a.ok_or_else(|| TrainingError::Internal("a view was left unanswered".to_owned())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SpineColumns {
        views,
        events: read,
        merged,
        tail_events,
        warnings,
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

/// Per view, every spine row's answer.
fn answer_rows(
    views: &[ServiceView],
    events: Vec<ViewEvents>,
    spine: &Spine,
    times: &[i64],
    hindsight: bool,
) -> Result<Vec<Vec<ViewRow>>, TrainingError> {
    views
        .iter()
        .zip(events)
        .map(|(view, view_events)| {
            let queries = spine_queries(spine, view, times, hindsight)?;
            crate::answers::answer_rows(view, view_events, queries)
        })
        .collect()
}

/// One query per spine row for `view`: the row's entity as of its time, knowing what was known then
/// (or everything, in hindsight).
fn spine_queries(
    spine: &Spine,
    view: &ServiceView,
    times: &[i64],
    hindsight: bool,
) -> Result<Vec<Query>, TrainingError> {
    Ok(spine_keys(spine, view)?
        .into_iter()
        .zip(times)
        .map(|(key, &t)| Query {
            key,
            t,
            k: if hindsight { i64::MAX } else { t },
        })
        .collect())
}

/// The timestamp column of an `--at` spine.
const AT_COLUMN: &str = "event_timestamp";

/// The spine of `--at`: every entity with an event at or before `at`, one row each, sorted by key.
fn every_entity(
    views: &[ServiceView],
    events: &[ViewEvents],
    at: i64,
) -> Result<Spine, TrainingError> {
    let join_keys = &views[0].join_keys;
    if let Some(other) = views.iter().find(|v| &v.join_keys != join_keys) {
        return Err(TrainingError::MixedEntities {
            first: views[0].name.clone(),
            other: other.name.clone(),
        });
    }
    let mut keys: Vec<EntityKey> = events
        .iter()
        .flatten()
        .flatten()
        .flat_map(|batch| batch.keys().zip(batch.orders()))
        .filter(|(_, order)| order.event_time <= at)
        .map(|(key, _)| key)
        .collect();
    keys.sort();
    keys.dedup();
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, (name, data_type)) in join_keys.iter().enumerate() {
        let values: Vec<freshet_engine::Value> = keys
            .iter()
            .map(|k| match k.parts().get(i) {
                Some(KeyPart::Int(x)) => freshet_engine::Value::Int64(*x),
                Some(KeyPart::Str(s)) => freshet_engine::Value::String(s.clone()),
                None => freshet_engine::Value::Null,
            })
            .collect();
        fields.push(Field::new(
            name,
            crate::columns::arrow_type(*data_type),
            false,
        ));
        arrays.push(crate::columns::scalar_array(*data_type, values.iter()));
    }
    let times = vec![freshet_engine::Value::Timestamp(freshet_engine::Timestamp(at)); keys.len()];
    fields.push(Field::new(
        AT_COLUMN,
        crate::columns::arrow_type(freshet_engine::DataType::Timestamp),
        false,
    ));
    arrays.push(crate::columns::scalar_array(
        freshet_engine::DataType::Timestamp,
        times.iter(),
    ));
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| TrainingError::Write {
        path: PathBuf::from("--at"),
        reason: e.to_string(),
    })?;
    Ok(Spine {
        path: PathBuf::from("--at"),
        batches: vec![batch],
        schema,
    })
}

/// Each spine row's key for `view`.
fn spine_keys(spine: &Spine, view: &ServiceView) -> Result<Vec<EntityKey>, SpineError> {
    let mut columns = Vec::with_capacity(view.join_keys.len());
    for (name, data_type) in &view.join_keys {
        columns.push(spine.key_parts(name, *data_type)?);
    }
    if columns.len() == 1 {
        return Ok(columns
            .pop()
            .unwrap_or_default()
            .into_iter()
            .map(EntityKey::Single)
            .collect());
    }
    let rows = spine.rows();
    Ok((0..rows)
        .map(|r| EntityKey::from_parts(columns.iter().map(|c| c[r].clone()).collect()))
        .collect())
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
