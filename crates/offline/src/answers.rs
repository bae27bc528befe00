//! Answering a spine's queries with the engine's batch entry point, one thread per entity group.
//!
//! Events were prepared into groups by entity ([`entity_group`]); queries are split the same way and
//! each group is answered on its own thread by [`answer_batch_each`]. The engine stays
//! single-threaded and pure; this module only divides its work and puts the answers back in spine
//! order.
//!
//! Two ways to receive them:
//! - [`answer_rows`]: one [`ViewRow`] per query, for callers that learn from the rows directly;
//! - [`answer_columns`]: the output columns of a training set. Each answer is written into typed Arrow
//!   builders as soon as it is computed and then dropped, so a million answers never exist as rows at
//!   once: the memory of one answer is reused by the next instead of a fresh gigabyte being touched
//!   (on the hosts freshet is sized for, the kernel zeroing fresh pages was a third of a training
//!   set's time). Each thread fills its own columns in the order it answers; each column is put in
//!   spine order (one interleave) by the thread that then encodes it ([`crate::output`]).

use crate::columns::FeatureBuilder;
use crate::output::{OutputColumn, stored_type};
use crate::views::{ServiceView, TrainingError, ViewEvents, ViewStatus, entity_group};
use arrow_array::ArrayRef;
use arrow_array::builder::StringViewBuilder;
use arrow_schema::Field;
use freshet_engine::in_place::{PickedRow, RowSource};
use freshet_engine::{Query, QueryError, ViewDef, ViewRow, answer_batch_each};
use std::sync::Arc;

/// What one thread made of its group: the spine index of each of its queries (in the order the thread
/// was given them) and its sink.
type Part<S> = (Vec<usize>, S);

/// Answers `queries` over the view's event groups (each in the batches the reading threads left), one
/// thread per group. Each thread starts a sink with `init(queries of its group)` and feeds it every
/// answer as `each(sink, query within the group, answer)`; the sinks come back in group order, each
/// with the spine index of its queries.
fn answer_groups<S: Send>(
    def: &ViewDef,
    event_groups: ViewEvents,
    queries: Vec<Query>,
    init: impl Fn(usize) -> S + Sync,
    each: impl Fn(&mut S, usize, Result<ViewRow, QueryError>) + Sync,
) -> Result<Vec<Part<S>>, TrainingError> {
    let groups = event_groups.len().max(1);
    let mut query_parts: Vec<(Vec<usize>, Vec<Query>)> = vec![(Vec::new(), Vec::new()); groups];
    for (i, query) in queries.into_iter().enumerate() {
        let part = &mut query_parts[entity_group(&query.key, groups)];
        part.0.push(i);
        part.1.push(query);
    }
    let (init, each) = (&init, &each);
    let answered: Vec<Option<Part<S>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = event_groups
            .into_iter()
            .zip(query_parts)
            .map(|(events, (indexes, queries))| {
                scope.spawn(move || {
                    let mut sink = init(queries.len());
                    answer_batch_each(def, events, &queries, |q, answer| {
                        each(&mut sink, q, answer)
                    });
                    (indexes, sink)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().ok()).collect()
    });
    answered
        .into_iter()
        .map(|part| {
            part.ok_or_else(|| {
                TrainingError::Internal(format!("a thread answering view `{}` stopped", def.name))
            })
        })
        .collect()
}

/// Every query's answer, in query order.
pub(crate) fn answer_rows(
    view: &ServiceView,
    event_groups: ViewEvents,
    queries: Vec<Query>,
) -> Result<Vec<ViewRow>, TrainingError> {
    let total = queries.len();
    let parts = answer_groups(
        &view.def,
        event_groups,
        queries,
        |n| -> Vec<Option<Result<ViewRow, QueryError>>> { vec![None; n] },
        |rows, q, answer| rows[q] = Some(answer),
    )?;
    let mut results: Vec<Option<ViewRow>> = vec![None; total];
    for (indexes, answers) in parts {
        for (i, answer) in indexes.into_iter().zip(answers) {
            results[i] = answer.transpose().map_err(|e| query_failed(view, e))?;
        }
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| TrainingError::Internal("a query was left unanswered".to_owned())))
        .collect()
}

/// The batch path holds all history, so no query can fall before retained data; an error is reported
/// as a bug, not hidden.
fn query_failed(view: &ServiceView, error: QueryError) -> TrainingError {
    TrainingError::Internal(format!("view `{}`: {error}", view.name))
}

/// One thread's columns: a builder per picked feature, a status per answer, and which query (its
/// index in the spine) each answer was.
pub(crate) struct ColumnSink {
    features: Vec<FeatureBuilder>,
    statuses: Vec<ViewStatus>,
    answered: Vec<usize>,
    error: Option<QueryError>,
}

impl ColumnSink {
    /// Room for `n` answers of `view`'s picked features.
    pub(crate) fn new(view: &ServiceView, n: usize) -> ColumnSink {
        ColumnSink {
            features: view
                .features
                .iter()
                .map(|&(_, output)| FeatureBuilder::new(output, n))
                .collect(),
            statuses: Vec::with_capacity(n),
            answered: Vec::with_capacity(n),
            error: None,
        }
    }

    /// Writes the answer to query `q` (or keeps the first error, reported by [`assemble`]).
    pub(crate) fn push(
        &mut self,
        view: &ServiceView,
        q: usize,
        answer: Result<&ViewRow, QueryError>,
    ) {
        match answer {
            Ok(row) => {
                for (builder, &(feature, _)) in self.features.iter_mut().zip(&view.features) {
                    builder.push(&row.values[feature]);
                }
                self.statuses.push(ViewStatus::of(row));
                self.answered.push(q);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }

    /// Writes the answer to query `q` given as the events it picked ([`ColumnSink::push`]'s columns
    /// for the same answer), reading each value where the reader left it.
    pub(crate) fn push_picked<R: RowSource>(
        &mut self,
        view: &ServiceView,
        q: usize,
        answer: Result<PickedRow<'_, R>, QueryError>,
    ) {
        match answer {
            Ok(row) => {
                for (builder, &(feature, _)) in self.features.iter_mut().zip(&view.features) {
                    builder.push_cell(row.cell(feature));
                }
                self.statuses
                    .push(ViewStatus::of_entity(row.status(), row.newest_event_time()));
                self.answered.push(q);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }
}

/// A view's output columns for every query, in query order: per picked feature (in service order) its
/// name and column, then `view__status`; and how many rows found the entity. `name` gives a feature's
/// column name from its index in the view.
pub(crate) fn answer_columns(
    view: &ServiceView,
    event_groups: ViewEvents,
    queries: Vec<Query>,
    name: impl Fn(usize) -> String,
) -> Result<(Vec<OutputColumn>, usize), TrainingError> {
    let total = queries.len();
    let parts = answer_groups(
        &view.def,
        event_groups,
        queries,
        |n| ColumnSink::new(view, n),
        |sink, q, answer| sink.push(view, q, answer.as_ref().map_err(Clone::clone)),
    )?;
    // Each thread numbered its queries within its group; name them by their spine index.
    let sinks = parts
        .into_iter()
        .map(|(indexes, mut sink)| {
            for q in &mut sink.answered {
                *q = indexes[*q];
            }
            sink
        })
        .collect();
    assemble(view, sinks, total, name)
}

/// The columns of [`answer_columns`] from the sinks of the threads that answered `total` queries
/// between them, each query exactly once.
pub(crate) fn assemble(
    view: &ServiceView,
    sinks: Vec<ColumnSink>,
    total: usize,
    name: impl Fn(usize) -> String,
) -> Result<(Vec<OutputColumn>, usize), TrainingError> {
    // Where each query's answer is: (thread, row within the thread's columns).
    let mut at: Vec<(usize, usize)> = vec![(usize::MAX, 0); total];
    let mut columns: Vec<Vec<ArrayRef>> =
        vec![Vec::with_capacity(sinks.len()); view.features.len()];
    let mut statuses: Vec<Vec<ViewStatus>> = Vec::with_capacity(sinks.len());
    for (thread, sink) in sinks.into_iter().enumerate() {
        if let Some(e) = sink.error {
            return Err(query_failed(view, e));
        }
        for (row, &q) in sink.answered.iter().enumerate() {
            match at.get_mut(q) {
                Some(slot) if slot.0 == usize::MAX => *slot = (thread, row),
                _ => {
                    return Err(TrainingError::Internal(format!(
                        "query {q} was answered twice or does not exist"
                    )));
                }
            }
        }
        for (column, builder) in columns.iter_mut().zip(sink.features) {
            column.push(builder.finish());
        }
        statuses.push(sink.statuses);
    }
    if at.iter().any(|&(thread, _)| thread == usize::MAX) {
        return Err(TrainingError::Internal(
            "a query was left unanswered".to_owned(),
        ));
    }
    let found = statuses
        .iter()
        .flatten()
        .filter(|&&s| s == ViewStatus::Present)
        .count();
    // Nothing is put in spine order here: each column is, a row group at a time, by the thread that
    // then encodes it ([`crate::output`]).
    let at = Arc::new(at);
    let mut out = Vec::with_capacity(view.features.len() + 1);
    for (parts, &(feature, _)) in columns.into_iter().zip(&view.features) {
        let Some(data_type) = parts.first().map(|a| stored_type(a.data_type())) else {
            return Err(TrainingError::Internal(format!(
                "view `{}` has no thread's answers",
                view.name
            )));
        };
        let size = parts.iter().map(|a| a.get_array_memory_size()).sum();
        let (at, view_name) = (at.clone(), view.name.clone());
        let make = move |rows: std::ops::Range<usize>| {
            let refs: Vec<&dyn arrow_array::Array> = parts.iter().map(|a| a.as_ref()).collect();
            arrow_select::interleave::interleave(&refs, &at[rows])
                .map_err(|e| format!("ordering view `{view_name}`'s answers: {e}"))
        };
        out.push(OutputColumn::deferred(
            Field::new(name(feature), data_type, true),
            total,
            size,
            Box::new(make),
        ));
    }
    let make_status = move |rows: std::ops::Range<usize>| -> Result<ArrayRef, String> {
        let mut status = StringViewBuilder::with_capacity(rows.len());
        for &(thread, row) in &at[rows] {
            status.append_value(statuses[thread][row].name());
        }
        Ok(Arc::new(status.finish()))
    };
    out.push(OutputColumn::deferred(
        Field::new(
            format!("{}__status", view.name),
            arrow_schema::DataType::Utf8,
            false,
        ),
        total,
        total * 8,
        Box::new(make_status),
    ));
    Ok((out, found))
}
