//! A spine's answers, view by view. Views over a log compacted by their key are answered by merging
//! its sorted files ([`crate::merge`]); the others, and any whose files turn out not to be sorted, from
//! their events loaded in memory. Both paths give the same answers: each spine row's entity as of the
//! row's time, knowing what was known then (or everything, in hindsight).

use super::{TrainingError, TrainingOptions};
use crate::answers::answer_columns;
use crate::merge::SortedLog;
use crate::output::OutputColumn;
use crate::spine::{Spine, SpineError};
use crate::views::{ServiceView, ViewEvents, load_events};
use freshet_engine::{EntityKey, Query, ViewRow};
use freshet_project::Project;

/// A view's output columns and how many rows found the entity.
pub(super) type ViewColumns = (Vec<OutputColumn>, usize);

/// Every view's answers to a spine, and how they were read.
pub(super) struct SpineColumns {
    /// Per view, in view order, its output columns.
    pub(super) views: Vec<ViewColumns>,
    /// Events read from the log.
    pub(super) events: u64,
    /// Sources merged by key.
    pub(super) merged: Vec<String>,
    /// Events of the merged logs' unsorted tails.
    pub(super) tail_events: u64,
    /// What the user should know.
    pub(super) warnings: Vec<String>,
}

/// The output columns of `views`, each answered from its events loaded in memory.
pub(super) fn loaded_columns<'v>(
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
pub(super) struct MergedSource {
    name: String,
    views: Vec<usize>,
    log: SortedLog,
}

/// The sources of `views` whose logs are ready to merge by key, where a merge answers all of that
/// source's views ([`crate::merge::sorted_log`]); in name order.
pub(super) async fn sorted_logs(
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
pub(super) async fn answer_spine_columns(
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

/// Per view, every spine row's answer.
pub(super) fn answer_rows(
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
