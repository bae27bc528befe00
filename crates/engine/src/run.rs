//! Preparing a run of consecutive rows at once, from a columnar reader's typed columns.
//!
//! Row by row, a reader hands the engine one cell per column per event through a closure: a dozen
//! dynamic accesses per event, most of a training set's reading time once files are read in key
//! order. A [`ColumnRun`] hands over a whole column of a run instead; where the values are plain
//! numbers with no null (the common case for keys, times and amounts) they are copied in as slices,
//! and anything else falls back to the cell-by-cell path. The events are exactly those
//! [`Preparer::prepare_typed_cells`] prepares row by row; a property test holds the two together.

use crate::batch::{BatchKeys, EventBatch};
use crate::column::InputColumn;
use crate::key::EntityKey;
use crate::types::Timestamp;
use crate::value::Cell;
use crate::view::{EventOrder, Preparer};

/// A column a reader decoded, read one cell at a time.
pub trait CellColumn {
    /// Row `row`'s cell, null or of the column's declared type.
    fn cell(&self, row: usize) -> Cell<'_>;
}

/// The values of one source column over a run of rows.
#[derive(Clone, Copy)]
pub enum ColumnRun<'a> {
    /// The column was not read: every value is null.
    Absent,
    /// Integers, none null.
    Int64(&'a [i64]),
    /// Floats, none null.
    Float64(&'a [f64]),
    /// Timestamps (microseconds), none null.
    Timestamp(&'a [i64]),
    /// Text as keys into a dictionary of values, no key null: row `i` is `values.cell(keys[i])`.
    /// `id` names the dictionary's content: the same id must always come with the same values (a
    /// reader numbers each dictionary it decodes), so a column translates each one once.
    Dictionary {
        /// Each row's key.
        keys: &'a [i32],
        /// The dictionary's values.
        values: &'a dyn CellColumn,
        /// The dictionary's id.
        id: u64,
    },
    /// Any column, read cell by cell from row `start` of `column`.
    Cells {
        /// The decoded column.
        column: &'a dyn CellColumn,
        /// Its row holding the run's first value.
        start: usize,
    },
}

impl std::fmt::Debug for ColumnRun<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnRun::Absent => f.write_str("Absent"),
            ColumnRun::Int64(v) => f.debug_tuple("Int64").field(v).finish(),
            ColumnRun::Float64(v) => f.debug_tuple("Float64").field(v).finish(),
            ColumnRun::Timestamp(v) => f.debug_tuple("Timestamp").field(v).finish(),
            ColumnRun::Dictionary { keys, id, .. } => f
                .debug_struct("Dictionary")
                .field("keys", keys)
                .field("id", id)
                .finish(),
            ColumnRun::Cells { start, .. } => {
                f.debug_struct("Cells").field("start", start).finish()
            }
        }
    }
}

impl<'a> ColumnRun<'a> {
    /// The run's `i`-th cell.
    #[inline]
    pub fn cell(&self, i: usize) -> Cell<'a> {
        match *self {
            ColumnRun::Absent => Cell::Null,
            ColumnRun::Int64(v) => v.get(i).map_or(Cell::Null, |&x| Cell::Int64(x)),
            ColumnRun::Float64(v) => v.get(i).map_or(Cell::Null, |&x| Cell::Float64(x)),
            ColumnRun::Timestamp(v) => v.get(i).map_or(Cell::Null, |&x| Cell::Timestamp(x)),
            ColumnRun::Dictionary { keys, values, .. } => keys
                .get(i)
                .and_then(|&k| usize::try_from(k).ok())
                .map_or(Cell::Null, |k| values.cell(k)),
            ColumnRun::Cells { column, start } => column.cell(start + i),
        }
    }
}

impl Preparer<'_> {
    /// Prepares `rows` consecutive rows into `batch` and returns how many were accepted: source column
    /// `c` is `column(c)`, each row's ingest time and position are in `ingest_times` and `positions`.
    /// As for [`Preparer::prepare_typed_cells`], every cell must be null or of its column's declared
    /// type; the events are the ones it prepares row by row, refused rows left out.
    pub fn prepare_run<'c>(
        &mut self,
        batch: &mut EventBatch,
        rows: usize,
        column: impl Fn(usize) -> ColumnRun<'c>,
        ingest_times: &[i64],
        positions: &[i64],
    ) -> usize {
        let def = self.def;
        let key_column = def.key_columns.first().copied().unwrap_or(0);
        let whole = (ingest_times.len(), positions.len()) == (rows, rows);
        if let (true, true, ColumnRun::Int64(keys), ColumnRun::Timestamp(times)) = (
            whole,
            self.takes_cells(),
            column(key_column),
            column(def.timestamp_column),
        ) && (keys.len(), times.len()) == (rows, rows)
        {
            // No key or time is missing, and the view takes its inputs as they are: nothing can be
            // refused.
            let inputs = self.inputs.iter().map(|&c| column(c));
            batch.extend_run(keys, times, ingest_times, positions, inputs);
            return rows;
        }
        let mut accepted = 0;
        for r in 0..rows.min(ingest_times.len()).min(positions.len()) {
            let prepared = self.prepare_typed_cells(
                batch,
                |c| column(c).cell(r),
                Timestamp(ingest_times[r]),
                positions[r] as u64,
            );
            accepted += usize::from(prepared == Ok(true));
        }
        accepted
    }
}

impl EventBatch {
    /// Appends events whose keys, times, ingest times, positions and inputs are given column by
    /// column (all of one length, none of the first four null).
    fn extend_run<'c>(
        &mut self,
        keys: &[i64],
        times: &[i64],
        ingest_times: &[i64],
        positions: &[i64],
        inputs: impl Iterator<Item = ColumnRun<'c>>,
    ) {
        for (column, run) in self.columns.iter_mut().zip(inputs) {
            column.extend_run(run, keys.len());
        }
        match &mut self.keys {
            BatchKeys::Ints(k) => crate::column::push_slice(k, keys),
            BatchKeys::Any(k) => k.extend(keys.iter().map(|&x| EntityKey::int(x))),
        }
        if !self.ids.is_empty() {
            self.ids.resize(self.orders.len() + keys.len(), None);
        }
        self.orders
            .extend(times.iter().zip(ingest_times).zip(positions).map(
                |((&event_time, &ingest_time), &position)| EventOrder {
                    event_time,
                    ingest_time,
                    position: position as u64,
                },
            ));
    }
}

impl InputColumn {
    /// Appends the `rows` values of `run`: copied as a slice where the column already holds that type
    /// and the run has no null, translated as codes for a dictionary of words, cell by cell otherwise.
    fn extend_run(&mut self, run: ColumnRun<'_>, rows: usize) {
        let whole = match run {
            ColumnRun::Dictionary { keys, values, id } => {
                keys.len() == rows && self.extend_dictionary(keys, values, id)
            }
            _ => self.extend_slice(run),
        };
        if !whole {
            for i in 0..rows {
                self.push_cell(run.cell(i));
            }
        }
    }
}
