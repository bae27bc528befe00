//! One thread's merge state: the current entity's events, and its queries answered view by view.
//!
//! The merge hands over an entity's events as runs of rows of the files' decoded batches. A view
//! whose features each pick one value ([`freshet_engine::in_place::answers_in_place`]) is answered
//! from those rows where they lie: the batches are held (shared, not copied) until the entity is
//! answered, and a query reads only the cells it picks. Any other view (sums and counts fold every
//! event of a window, and read them fastest from one prepared slice) gets the events prepared into
//! its batch, as does an in-place view whose events are not each once in canonical order (the engine
//! says so, and the batch path sorts and deduplicates them).

use super::Asked;
use crate::answers::ColumnSink;
use crate::scan::{Cells, DecodedBatch};
use crate::views::ServiceView;
use arrow_array::Array;
use freshet_engine::in_place::{RowSource, answers_in_place};
use freshet_engine::run::ColumnRun;
use freshet_engine::{Cell, EntityAnswerer, EventBatch, EventOrder, Preparer, ViewRow};
use std::ops::Range;
use std::sync::Arc;

impl RowSource for DecodedBatch {
    fn cell(&self, column: usize, row: usize) -> Cell<'_> {
        match self.columns.get(column) {
            Some(Some(cells)) => freshet_engine::run::CellColumn::cell(cells, row),
            _ => Cell::Null,
        }
    }
}

/// Per view, its preparer, the current entity's events (held in place or prepared), its answerer
/// and its output columns.
pub(super) struct Merge<'v> {
    views: &'v [&'v ServiceView],
    preparers: Vec<Preparer<'v>>,
    /// Per view, whether it is answered in place.
    in_place: Vec<bool>,
    batches: Vec<EventBatch>,
    /// The current entity's runs, held for the views answered in place.
    runs: Vec<(Arc<DecodedBatch>, Range<usize>)>,
    /// Scratch: the current entity's orders, for the views answered in place, and the time column
    /// they were gathered by with whether every time was there (`None`: not gathered yet). Views
    /// of one source share its time column, so the orders are gathered once per entity.
    orders: Vec<EventOrder>,
    orders_by: Option<(usize, bool)>,
    answerers: Vec<EntityAnswerer>,
    pub(super) sinks: Vec<ColumnSink>,
}

impl<'v> Merge<'v> {
    pub(super) fn new(views: &'v [&'v ServiceView], queries: usize) -> Merge<'v> {
        Merge {
            views,
            preparers: views.iter().map(|v| v.def.preparer()).collect(),
            in_place: views.iter().map(|v| answers_in_place(&v.def)).collect(),
            batches: views
                .iter()
                .map(|v| EventBatch::with_capacity(&v.def, 1024))
                .collect(),
            runs: Vec::new(),
            orders: Vec::new(),
            orders_by: None,
            answerers: views.iter().map(|v| EntityAnswerer::new(&v.def)).collect(),
            sinks: views.iter().map(|v| ColumnSink::new(v, queries)).collect(),
        }
    }

    /// Takes rows `rows` of `decoded` (all of the current entity): held for the views answered in
    /// place, prepared into the batch of every other view.
    pub(super) fn take(&mut self, decoded: &Arc<DecodedBatch>, rows: Range<usize>) {
        if self.in_place.iter().any(|&p| p) {
            self.runs.push((decoded.clone(), rows.clone()));
        }
        for v in 0..self.views.len() {
            if !self.in_place[v] {
                prepare(
                    &mut self.preparers[v],
                    &mut self.batches[v],
                    decoded,
                    rows.clone(),
                );
            }
        }
    }

    /// Answers `asked` (queries of the current entity) from its events, with knowledge cutoff
    /// +infinity under `hindsight`, and starts the next entity.
    pub(super) fn answer(&mut self, asked: &[Asked], hindsight: bool) {
        if asked.is_empty() {
            // An entity no one asked about: its events are dropped unread.
            self.batches.iter_mut().for_each(EventBatch::clear);
            self.runs.clear();
            return;
        }
        let cutoff = |t: i64| if hindsight { i64::MAX } else { t };
        for v in 0..self.views.len() {
            let view = self.views[v];
            let time = view.def.timestamp_column;
            let in_place = self.in_place[v]
                && match self.orders_by {
                    Some((by, complete)) if by == time => complete,
                    _ => {
                        let complete = orders_of(&self.runs, time, &mut self.orders);
                        self.orders_by = Some((time, complete));
                        complete
                    }
                };
            let sink = &mut self.sinks[v];
            let queries = asked.iter().map(|a| (a.t, cutoff(a.t)));
            let answerer = &mut self.answerers[v];
            // The answers come in the order of `asked`.
            let mut answered = asked.iter();
            // Nothing is answered when this returns false.
            let done = in_place
                && answerer.answer_in_place(&self.orders, &self.runs, queries.clone(), |answer| {
                    if let Some(a) = answered.next() {
                        sink.push_picked(view, a.q, answer);
                    }
                });
            if !done {
                let batch = &mut self.batches[v];
                if self.in_place[v] {
                    for (decoded, rows) in &self.runs {
                        prepare(&mut self.preparers[v], batch, decoded, rows.clone());
                    }
                }
                let mut answered = asked.iter();
                answerer.answer(batch, queries, |answer| {
                    if let Some(a) = answered.next() {
                        sink.push(view, a.q, answer);
                    }
                });
                batch.clear();
            }
        }
        self.runs.clear();
        self.orders_by = None;
    }

    /// Answers `asked` as entities with no event.
    pub(super) fn not_found(&mut self, asked: &[Asked]) {
        for (view, sink) in self.views.iter().zip(&mut self.sinks) {
            let row = ViewRow::not_found(view.def.features.len());
            for a in asked {
                sink.push(view, a.q, Ok(&row));
            }
        }
    }
}

/// Adds rows `rows` of `decoded` to `batch`.
fn prepare(
    preparer: &mut Preparer<'_>,
    batch: &mut EventBatch,
    decoded: &DecodedBatch,
    rows: Range<usize>,
) {
    let column = |c: usize| match decoded.columns.get(c) {
        Some(Some(cells)) => cells.run(rows.start, rows.end),
        _ => ColumnRun::Absent,
    };
    let ingest = &decoded.ingest.values()[rows.clone()];
    let positions = &decoded.position.values()[rows.clone()];
    // Every decoded column was checked to have its field's type ([`DecodedBatch::of`]), so the
    // cells are typed as the preparer requires. The log holds only rows every view accepted at
    // ingest; a row refused now (the project changed since) does not count, as it would not
    // when streaming.
    preparer.prepare_run(batch, rows.len(), column, ingest, positions);
}

/// Fills `orders` with the orders of the events of `runs`, their time in source column `time`;
/// `false` if a time is missing (the batch path then refuses that event, as preparing does).
fn orders_of(
    runs: &[(Arc<DecodedBatch>, Range<usize>)],
    time: usize,
    orders: &mut Vec<EventOrder>,
) -> bool {
    orders.clear();
    for (decoded, rows) in runs {
        let Some(Some(Cells::Time(times))) = decoded.columns.get(time) else {
            return false;
        };
        if times.null_count() > 0 {
            return false;
        }
        let times = &times.values()[rows.clone()];
        let ingest = &decoded.ingest.values()[rows.clone()];
        let positions = &decoded.position.values()[rows.clone()];
        orders.extend(times.iter().zip(ingest).zip(positions).map(
            |((&event_time, &ingest_time), &position)| EventOrder {
                event_time,
                ingest_time,
                position: position as u64,
            },
        ));
    }
    true
}
