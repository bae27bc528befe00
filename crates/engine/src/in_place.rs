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
//! The answer is not even built: a query names, per feature, the event it picked ([`PickedRow`]),
//! and the caller copies each value from the reader's column straight into its own. Building a
//! [`crate::Value`] per feature (a text value allocated, then copied again and dropped) was a
//! tenth of B3's time.
//!
//! It is the same query (`crate::query::History`: the same search, the same picks) over another
//! place for the values, so the answers are those of [`EntityAnswerer::answer`] for the same events
//! ([`PickedRow::to_row`] shows it); a property test in the training-set tests holds the two paths
//! together.

use crate::accumulate::FeatureValue;
use crate::aggregation::Aggregation;
use crate::answer::EntityAnswerer;
use crate::entity::{FeatureStatus, QueryError, ViewRow};
use crate::query::{History, Located};
use crate::value::{Cell, Value};
use crate::values::EventValues;
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

    fn is_counted(&self, event: usize, slot: usize) -> bool {
        match self.cell(event, slot) {
            Cell::Null => false,
            Cell::Float64(f) => !f.is_nan(),
            _ => true,
        }
    }
}

/// One query's answer as the events it picked: per feature, the event whose input is its value, read
/// by the caller where it lies ([`PickedRow::cell`]) instead of built into a [`ViewRow`]: a value is
/// then copied once, from the reader's column into the caller's, and a text value is never
/// allocated on the way.
pub struct PickedRow<'a, R> {
    located: Located,
    /// Per feature, the event it picked (`None`: null).
    events: &'a [Option<usize>],
    values: &'a InRuns<'a, R>,
    slots: &'a [Option<usize>],
}

impl<R> std::fmt::Debug for PickedRow<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PickedRow")
            .field("located", &self.located)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl<'a, R: RowSource> PickedRow<'a, R> {
    /// The entity's status: `NotFound`, `OutsideMaxAge`, or `Present` when its features were
    /// computed (each may still be null).
    pub fn status(&self) -> FeatureStatus {
        match self.located {
            Located::NotFound => FeatureStatus::NotFound,
            Located::OutsideMaxAge(_) => FeatureStatus::OutsideMaxAge,
            Located::Found { .. } => FeatureStatus::Present,
        }
    }

    /// Event time of the newest event counted (microseconds), if any.
    pub fn newest_event_time(&self) -> Option<i64> {
        match self.located {
            Located::NotFound => None,
            Located::OutsideMaxAge(newest) | Located::Found { newest, .. } => Some(newest),
        }
    }

    /// Feature `feature`'s value: the input of the event it picked, or null.
    pub fn cell(&self, feature: usize) -> Cell<'a> {
        match (self.events.get(feature), self.slots.get(feature)) {
            (Some(Some(e)), Some(Some(slot))) => self.values.cell(*e, *slot),
            _ => Cell::Null,
        }
    }

    /// The answer as [`EntityAnswerer::answer`] gives it for the same events.
    pub fn to_row(&self) -> ViewRow {
        let features = self.slots.len();
        match self.status() {
            FeatureStatus::Present => {
                let values: Vec<FeatureValue> = (0..features)
                    .map(|f| FeatureValue::Scalar(self.cell(f).to_value()))
                    .collect();
                ViewRow {
                    statuses: values.iter().map(FeatureStatus::of_value).collect(),
                    values,
                    newest_event_time: self.newest_event_time(),
                }
            }
            status => ViewRow::all_null(features, status, self.newest_event_time()),
        }
    }
}

impl EntityAnswerer {
    /// [`EntityAnswerer::answer`] for one entity whose events are `orders` (in canonical order) with
    /// their inputs left in `runs`, the rows of each run being the next events' in order, each
    /// answer lent as the events it picked. Only for a view that [`answers_in_place`].
    ///
    /// Returns `false`, answering nothing, unless the orders strictly increase (each event once, in
    /// canonical order) and the runs hold exactly as many rows: the caller then prepares the events
    /// into a batch and calls [`EntityAnswerer::answer`], which sorts and deduplicates.
    pub fn answer_in_place<R: RowSource>(
        &mut self,
        orders: &[EventOrder],
        runs: &[(R, Range<usize>)],
        queries: impl IntoIterator<Item = (i64, i64)>,
        mut each: impl FnMut(Result<PickedRow<'_, R>, QueryError>),
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
        for (t, k) in queries {
            match history.pick_into(&self.specs, t, k, &mut self.picks) {
                Ok(located) => each(Ok(PickedRow {
                    located,
                    events: &self.picks,
                    values: &history.values,
                    slots: &self.specs.slots,
                })),
                Err(e) => each(Err(e)),
            }
        }
        true
    }
}
