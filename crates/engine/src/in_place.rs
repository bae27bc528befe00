//! Answering an entity's queries from values left where a columnar reader decoded them.
//!
//! A merge by key prepares each entity's events into a batch before answering its queries: every
//! input of every event is copied, and for a text input (an id per event) every string. A view whose
//! features each pick one value (`last`, `first`) then reads back at most a few of those events per
//! query: on B3, ten million events copied to answer a million queries, a fifth of its time. Here the
//! entity's events stay in the reader's columns as runs of rows; only their orders (times, ingest
//! times, positions) are gathered, since every query searches them, and a query reads the one cell
//! it picks from where the reader left it.
//!
//! It is the same query ([`crate::query::History`]) over another place for the values, so the
//! answers are those of [`EntityAnswerer::answer`] for the same events; a property test in the
//! training-set tests holds the two paths together.

use crate::aggregation::Aggregation;
use crate::answer::{EntityAnswerer, answer_each};
use crate::entity::{QueryError, ViewRow};
use crate::query::{EventValues, History};
use crate::value::{Cell, Value};
use crate::view::{EventOrder, ViewDef};
use std::borrow::Cow;
use std::ops::Range;

/// Rows a columnar reader decoded, read one cell at a time by source column.
pub trait RowSource {
    /// Source column `column`'s cell at row `row`: null, or of the column's declared type (the
    /// reader checked the types, as for [`crate::Preparer::prepare_run`]).
    fn cell(&self, column: usize, row: usize) -> Cell<'_>;
}

impl<T: RowSource + ?Sized> RowSource for std::sync::Arc<T> {
    fn cell(&self, column: usize, row: usize) -> Cell<'_> {
        (**self).cell(column, row)
    }
}

/// Whether `def`'s events can be answered in place: every feature picks one value, so a query reads
/// few events, and the view takes its inputs as the source has them (no derived column, no filter),
/// so a cell is the event's input.
pub fn answers_in_place(def: &ViewDef) -> bool {
    def.preparer().takes_cells()
        && def
            .features
            .iter()
            .all(|f| matches!(f.aggregation, Aggregation::Last | Aggregation::First))
}

/// The values of an entity's events in runs of rows: event `e` is row `rows.start + e - start` of the
/// run whose first event `start` is the greatest at or below `e`.
struct InRuns<'a, R> {
    runs: &'a [(R, Range<usize>)],
    /// The entity's index of each run's first event.
    starts: &'a [usize],
    /// The source column of each input slot.
    inputs: &'a [usize],
}

impl<R: RowSource> InRuns<'_, R> {
    fn cell(&self, event: usize, slot: usize) -> Cell<'_> {
        let run = self.starts.partition_point(|&s| s <= event).wrapping_sub(1);
        match (
            self.runs.get(run),
            self.starts.get(run),
            self.inputs.get(slot),
        ) {
            (Some((source, rows)), Some(&start), Some(&column)) => {
                source.cell(column, rows.start + (event - start))
            }
            _ => Cell::Null,
        }
    }
}

impl<R: RowSource> EventValues for InRuns<'_, R> {
    fn get(&self, event: usize, slot: usize) -> Cow<'_, Value> {
        Cow::Owned(self.cell(event, slot).to_value())
    }

    fn counted(&self, event: usize, slot: usize) -> Option<Value> {
        match self.cell(event, slot) {
            Cell::Null => None,
            Cell::Float64(f) if f.is_nan() => None,
            cell => Some(cell.to_value()),
        }
    }

    fn float(&self, event: usize, slot: usize) -> Option<Option<f64>> {
        match self.cell(event, slot) {
            Cell::Float64(f) => Some(Some(f)),
            Cell::Null => Some(None),
            _ => None,
        }
    }
}

impl EntityAnswerer {
    /// [`EntityAnswerer::answer`] for one entity whose events are `orders` (in canonical order) with
    /// their inputs left in `runs`, the rows of each run being the next events' in order. Only for a
    /// view that [`answers_in_place`].
    ///
    /// Returns `false`, answering nothing, unless the orders strictly increase (each event once, in
    /// canonical order) and the runs hold exactly as many rows: the caller then prepares the events
    /// into a batch and calls [`EntityAnswerer::answer`], which sorts and deduplicates.
    pub fn answer_in_place<R: RowSource>(
        &mut self,
        orders: &[EventOrder],
        runs: &[(R, Range<usize>)],
        queries: impl IntoIterator<Item = (i64, i64)>,
        each: impl FnMut(Result<&ViewRow, QueryError>),
    ) -> bool {
        let rows: usize = runs.iter().map(|(_, r)| r.len()).sum();
        if orders.is_empty()
            || rows != orders.len()
            || !orders.windows(2).all(|pair| pair[0] < pair[1])
        {
            return false;
        }
        self.starts.clear();
        let mut next = 0;
        for (_, r) in runs {
            self.starts.push(next);
            next += r.len();
        }
        let history = History {
            orders,
            values: InRuns {
                runs,
                starts: &self.starts,
                inputs: &self.inputs,
            },
            prefix: None,
        };
        answer_each(&history, &self.specs, &mut self.row, queries, each);
        true
    }
}
