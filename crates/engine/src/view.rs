//! The engine's definition of a feature view, and the preparation of a source row into an event.
//!
//! A [`ViewDef`] is what the engine needs and nothing more: where the key, time and id columns sit in a
//! source row, the compiled derived columns and filter, and the features. The project crate builds it from
//! a validated `freshet.yaml`; tests build it directly. [`ViewDef::prepare`] is the single place a row
//! becomes an event: keys and times are checked (bad rows are rejected with a typed error naming the
//! field), derived columns are computed, and the filter decides whether the event counts at all.

use crate::aggregation::Aggregation;
use crate::batch::EventBatch;
use crate::expr::Expr;
use crate::key::{EntityKey, KeyPart};
use crate::types::{DataType, Timestamp};
use crate::value::{Cell, Value};

/// One feature: an aggregation over a column of the extended row, in an optional window.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureDef {
    /// Feature name, for messages.
    pub name: String,
    /// How values combine.
    pub aggregation: Aggregation,
    /// Index in the extended row (source columns then derived columns); `None` for a row count.
    pub column: Option<usize>,
    /// Window length in microseconds; `None` means all history.
    pub window: Option<i64>,
    /// List length for `last_n`.
    pub n: Option<usize>,
}

/// A feature view as the engine sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewDef {
    /// View name, for messages.
    pub name: String,
    /// Name and type of each source column (index = position in the row).
    pub columns: Vec<(String, DataType)>,
    /// Source-row indexes of the join keys, in key order.
    pub key_columns: Vec<usize>,
    /// Source-row index of the event time.
    pub timestamp_column: usize,
    /// Source-row index of an explicit ingest time (historical data), if the source has one.
    pub ingest_time_column: Option<usize>,
    /// Source-row index of the event id, if the source declares one.
    pub event_id_column: Option<usize>,
    /// Derived columns, appended to the row in order.
    pub derived: Vec<Expr>,
    /// Rows for which this is not `true` do not count.
    pub filter: Option<Expr>,
    /// Maximum age of the newest event, in microseconds.
    pub ttl: Option<i64>,
    /// The features.
    pub features: Vec<FeatureDef>,
}

/// Where an event sits in the canonical order and in knowledge time.
///
/// Canonical order (used by `first`, `last`, `last_n` and by every fold) is by event time, then ingest
/// time, then source position; so results never depend on arrival order.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct EventOrder {
    /// When it happened (microseconds since the epoch).
    pub event_time: i64,
    /// When freshet durably accepted it.
    pub ingest_time: i64,
    /// Position in its source (offset, row number): the final tie-breaker.
    pub position: u64,
}

/// A row that passed the filter, reduced to what the view's features read.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedEvent {
    /// The entity.
    pub key: EntityKey,
    /// Its place in time.
    pub order: EventOrder,
    /// The event id, for de-duplication.
    pub id: Option<KeyPart>,
    /// One value per feature input (see [`ViewDef::inputs`]).
    pub values: Vec<Value>,
}

/// Prepares many rows of one view, reusing what does not change between rows.
#[derive(Debug)]
pub struct Preparer<'v> {
    pub(crate) def: &'v ViewDef,
    pub(crate) inputs: Vec<usize>,
    scratch: Vec<Value>,
    /// [`Preparer::takes_cells`], worked out once.
    takes_cells: bool,
}

impl Preparer<'_> {
    /// [`ViewDef::prepare`] for one row.
    pub fn prepare(
        &mut self,
        row: &[Value],
        ingest_time: Timestamp,
        position: u64,
    ) -> Result<Option<PreparedEvent>, EventError> {
        let mut values = Vec::with_capacity(self.inputs.len());
        let header = self.def.prepare_inputs(
            row,
            ingest_time,
            position,
            &mut self.scratch,
            &self.inputs,
            &mut values,
        )?;
        Ok(header.map(|(key, order, id)| PreparedEvent {
            key,
            order,
            id,
            values,
        }))
    }
}

impl Preparer<'_> {
    /// [`Preparer::prepare`] straight into a batch, without a vector per event; returns whether the row
    /// became an event (`false`: the filter rejected it).
    pub fn prepare_into(
        &mut self,
        batch: &mut EventBatch,
        row: &[Value],
        ingest_time: Timestamp,
        position: u64,
    ) -> Result<bool, EventError> {
        let prepared = self
            .def
            .prepare_header(row, ingest_time, position, &mut self.scratch)?;
        Ok(prepared.is_some_and(|(key, order, id, extended)| {
            batch.push_values(
                self.inputs
                    .iter()
                    .map(|c| extended.get(*c).unwrap_or(&Value::Null)),
            );
            batch.push_header(key, order, id);
            true
        }))
    }
}

impl Preparer<'_> {
    /// [`Preparer::prepare_into`] with the batch chosen by the event's entity: into
    /// `batches[route(key) % batches.len()]`. A caller that will answer entity groups separately (on
    /// separate threads) prepares straight into its groups, with no later pass to split them.
    pub fn prepare_routed(
        &mut self,
        batches: &mut [EventBatch],
        route: impl Fn(&EntityKey) -> usize,
        row: &[Value],
        ingest_time: Timestamp,
        position: u64,
    ) -> Result<bool, EventError> {
        let prepared = self
            .def
            .prepare_header(row, ingest_time, position, &mut self.scratch)?;
        let parts = batches.len();
        match prepared {
            Some((key, order, id, extended)) if parts > 0 => {
                let batch = &mut batches[route(&key) % parts];
                // Inputs are read where they are, in the row: nothing is cloned on the way to the
                // batch's typed columns.
                batch.push_values(
                    self.inputs
                        .iter()
                        .map(|c| extended.get(*c).unwrap_or(&Value::Null)),
                );
                batch.push_header(key, order, id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether [`Preparer::prepare_cells_routed`] reads this view's rows without building them: its
    /// inputs are source columns as they are (no derived column, no filter), it has one join key and
    /// no event id, and the caller gives the ingest time.
    pub fn takes_cells(&self) -> bool {
        self.takes_cells
    }

    /// [`Preparer::prepare_routed`] with source column `c` read as `cell(c)` where a columnar reader
    /// decoded it, instead of from a row of [`Value`]s: the same event into the same batch, refused
    /// for the same reasons, without a value (and a string) built per cell. A view that does not
    /// [`Preparer::takes_cells`] gets its row built and prepared as usual.
    pub fn prepare_cells_routed<'c>(
        &mut self,
        batches: &mut [EventBatch],
        route: impl Fn(&EntityKey) -> usize,
        cell: impl Fn(usize) -> Cell<'c>,
        ingest_time: Timestamp,
        position: u64,
    ) -> Result<bool, EventError> {
        if !self.takes_cells() {
            let row: Vec<Value> = (0..self.def.columns.len())
                .map(|c| cell(c).to_value())
                .collect();
            return self.prepare_routed(batches, route, &row, ingest_time, position);
        }
        // The checks of `ViewDef::header`, in its order.
        for c in 0..self.def.columns.len() {
            self.def.check_type(c, cell(c))?;
        }
        self.place_cells(batches, route, cell, ingest_time, position)
    }

    /// [`Preparer::prepare_cells_routed`] into one batch, for a caller that guarantees every cell is
    /// null or of its column's declared type: a columnar reader that checked each column's type once
    /// per batch. The per-cell type checks (which could not fail) are skipped; a missing key or time
    /// is still refused, and the event is the one `prepare_cells_routed` would prepare.
    pub fn prepare_typed_cells<'c>(
        &mut self,
        batch: &mut EventBatch,
        cell: impl Fn(usize) -> Cell<'c>,
        ingest_time: Timestamp,
        position: u64,
    ) -> Result<bool, EventError> {
        let batches = std::slice::from_mut(batch);
        if !self.takes_cells() {
            return self.prepare_cells_routed(batches, |_| 0, cell, ingest_time, position);
        }
        self.place_cells(batches, |_| 0, cell, ingest_time, position)
    }

    /// The event of a row whose cells passed the type checks, into `batches[route(key)]`.
    #[inline]
    fn place_cells<'c>(
        &self,
        batches: &mut [EventBatch],
        route: impl Fn(&EntityKey) -> usize,
        cell: impl Fn(usize) -> Cell<'c>,
        ingest_time: Timestamp,
        position: u64,
    ) -> Result<bool, EventError> {
        let def = self.def;
        let event_time = def.time_of(def.timestamp_column, Some(cell(def.timestamp_column)))?;
        let key_column = def.key_columns.first().copied().unwrap_or(0);
        let key = EntityKey::Single(def.key_part_of(key_column, cell(key_column))?);
        let order = EventOrder {
            event_time,
            ingest_time: ingest_time.micros(),
            position,
        };
        let parts = batches.len();
        if parts == 0 {
            return Ok(false);
        }
        let batch = &mut batches[route(&key) % parts];
        batch.push_cells(self.inputs.iter().map(|&c| cell(c)));
        batch.push_header(key, order, None);
        Ok(true)
    }
}

/// Why a row cannot become an event. Each names the offending field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A join key is null.
    #[error("join key `{field}` is missing")]
    MissingKey {
        /// The column.
        field: String,
    },
    /// A join key is not an int64 or string.
    #[error("join key `{field}` must be int64 or string, found {found}")]
    BadKey {
        /// The column.
        field: String,
        /// What was there.
        found: String,
    },
    /// The event time (or ingest time) is null or not a timestamp.
    #[error("`{field}` must be a timestamp, found {found}")]
    BadTime {
        /// The column.
        field: String,
        /// What was there.
        found: String,
    },
    /// A value does not match its declared column type.
    #[error("`{field}` must be {expected}, found {found}")]
    WrongType {
        /// The column.
        field: String,
        /// The declared type.
        expected: String,
        /// What was there.
        found: String,
    },
    /// The row has fewer columns than the schema.
    #[error("the row has {found} columns, the schema {expected}")]
    ShortRow {
        /// Columns expected.
        expected: usize,
        /// Columns found.
        found: usize,
    },
}

#[cold]
fn wrong_type(name: &str, data_type: DataType, cell: Cell<'_>) -> EventError {
    EventError::WrongType {
        field: name.to_owned(),
        expected: data_type.to_string(),
        found: describe(&cell.to_value()),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        other => format!("{other:?}"),
    }
}

impl ViewDef {
    /// The distinct extended-row columns the features read, in first-use order; an event stores only these.
    pub fn inputs(&self) -> Vec<usize> {
        let mut inputs = Vec::new();
        for c in self.features.iter().filter_map(|f| f.column) {
            if !inputs.contains(&c) {
                inputs.push(c);
            }
        }
        inputs
    }

    /// For each feature, the index of its input in [`PreparedEvent::values`].
    pub fn input_slots(&self) -> Vec<Option<usize>> {
        let inputs = self.inputs();
        self.features
            .iter()
            .map(|f| f.column.and_then(|c| inputs.iter().position(|i| *i == c)))
            .collect()
    }

    /// Which source columns preparing an event reads (keys, times, id, feature inputs, and what derived
    /// columns and the filter refer to): a reader may leave the others null.
    pub fn source_columns_read(&self) -> Vec<bool> {
        let mut read = vec![false; self.columns.len()];
        let mut mark = |c: usize| {
            if let Some(r) = read.get_mut(c) {
                *r = true;
            }
        };
        self.key_columns.iter().for_each(|&c| mark(c));
        mark(self.timestamp_column);
        self.ingest_time_column.into_iter().for_each(&mut mark);
        self.event_id_column.into_iter().for_each(&mut mark);
        self.inputs().into_iter().for_each(&mut mark);
        for expr in self.derived.iter().chain(&self.filter) {
            expr.columns().into_iter().for_each(&mut mark);
        }
        read
    }

    /// Longest window; `None` if any feature is unbounded.
    pub fn longest_window(&self) -> Option<i64> {
        self.features
            .iter()
            .try_fold(0, |longest, f| f.window.map(|w| longest.max(w)))
    }

    fn name(&self, index: usize) -> String {
        self.columns
            .get(index)
            .map_or_else(|| format!("column {index}"), |c| c.0.clone())
    }

    /// Column `index` may hold `cell`. Checked for every cell of every event, so kept inline; the
    /// error is built out of line.
    #[inline]
    fn check_type(&self, index: usize, cell: Cell<'_>) -> Result<(), EventError> {
        match self.columns.get(index) {
            Some((name, data_type)) if !cell.fits(*data_type) => {
                Err(wrong_type(name, *data_type, cell))
            }
            _ => Ok(()),
        }
    }

    fn time(&self, row: &[Value], index: usize) -> Result<i64, EventError> {
        self.time_of(index, row.get(index).map(Value::as_cell))
    }

    /// Column `index`'s time, from its cell (`None`: the row has no such column).
    #[inline]
    fn time_of(&self, index: usize, cell: Option<Cell<'_>>) -> Result<i64, EventError> {
        match cell {
            Some(Cell::Timestamp(t)) => Ok(t),
            other => Err(EventError::BadTime {
                field: self.name(index),
                found: other.map_or_else(|| "nothing".to_owned(), |c| describe(&c.to_value())),
            }),
        }
    }

    fn key_part(&self, row: &[Value], index: usize) -> Result<KeyPart, EventError> {
        match row.get(index) {
            // The row's text is shared, not copied.
            Some(Value::String(s)) => Ok(KeyPart::Str(s.clone())),
            other => self.key_part_of(index, other.map_or(Cell::Null, Value::as_cell)),
        }
    }

    /// A join key part from column `index`'s cell.
    #[inline]
    fn key_part_of(&self, index: usize, cell: Cell<'_>) -> Result<KeyPart, EventError> {
        match cell {
            Cell::Int64(i) => Ok(KeyPart::Int(i)),
            Cell::Str(s) => Ok(KeyPart::Str(s.into())),
            Cell::Null => Err(EventError::MissingKey {
                field: self.name(index),
            }),
            other => Err(EventError::BadKey {
                field: self.name(index),
                found: describe(&other.to_value()),
            }),
        }
    }

    /// A [`Preparer`] for many rows: the view's inputs are worked out once, not per row.
    pub fn preparer(&self) -> Preparer<'_> {
        Preparer {
            def: self,
            inputs: self.inputs(),
            scratch: Vec::new(),
            takes_cells: self.derived.is_empty()
                && self.filter.is_none()
                && self.ingest_time_column.is_none()
                && self.event_id_column.is_none()
                && self.key_columns.len() == 1,
        }
    }

    /// Turns a source row into an event, or `Ok(None)` when the filter rejects it. For many rows, use
    /// [`ViewDef::preparer`].
    ///
    /// `ingest_time` is when freshet accepted the row; a source's explicit ingest-time column overrides it.
    /// `scratch` is reused between calls to hold the extended row without allocating per event.
    pub fn prepare(
        &self,
        row: &[Value],
        ingest_time: Timestamp,
        position: u64,
        scratch: &mut Vec<Value>,
    ) -> Result<Option<PreparedEvent>, EventError> {
        let mut values = Vec::new();
        let header = self.prepare_inputs(
            row,
            ingest_time,
            position,
            scratch,
            &self.inputs(),
            &mut values,
        )?;
        Ok(header.map(|(key, order, id)| PreparedEvent {
            key,
            order,
            id,
            values,
        }))
    }

    /// The entity a row belongs to, or why it has none.
    pub fn key(&self, row: &[Value]) -> Result<EntityKey, EventError> {
        match self.key_columns.as_slice() {
            // The common case, one join key, allocates nothing.
            [only] => Ok(EntityKey::Single(self.key_part(row, *only)?)),
            many => Ok(EntityKey::from_parts(
                many.iter()
                    .map(|c| self.key_part(row, *c))
                    .collect::<Result<_, _>>()?,
            )),
        }
    }

    /// Checks that `row` can be an event of this view (schema types, join keys, times, event id) without
    /// evaluating derived columns or the filter: what a source checks before accepting an event.
    pub fn check(&self, row: &[Value]) -> Result<(), EventError> {
        self.header(row, Timestamp(0)).map(|_| ())
    }

    /// The key, event time, ingest time and id of a row, or why it cannot be an event.
    fn header(
        &self,
        row: &[Value],
        ingest_time: Timestamp,
    ) -> Result<(EntityKey, i64, i64, Option<KeyPart>), EventError> {
        if row.len() < self.columns.len() {
            return Err(EventError::ShortRow {
                expected: self.columns.len(),
                found: row.len(),
            });
        }
        for (c, value) in row.iter().enumerate().take(self.columns.len()) {
            self.check_type(c, value.as_cell())?;
        }
        let event_time = self.time(row, self.timestamp_column)?;
        let ingest_time = match self.ingest_time_column {
            Some(c) => self.time(row, c)?,
            None => ingest_time.micros(),
        };
        let key = self.key(row)?;
        let id = match self.event_id_column {
            Some(c) => match row.get(c) {
                Some(Value::Null) | None => None,
                _ => Some(self.key_part(row, c)?),
            },
            None => None,
        };
        Ok((key, event_time, ingest_time, id))
    }

    /// [`ViewDef::prepare`] with the view's inputs computed once by the caller.
    pub(crate) fn prepare_inputs(
        &self,
        row: &[Value],
        ingest_time: Timestamp,
        position: u64,
        scratch: &mut Vec<Value>,
        inputs: &[usize],
        values: &mut Vec<Value>,
    ) -> Result<Option<(EntityKey, EventOrder, Option<KeyPart>)>, EventError> {
        let prepared = self.prepare_header(row, ingest_time, position, scratch)?;
        Ok(prepared.map(|(key, order, id, extended)| {
            values.extend(
                inputs
                    .iter()
                    .map(|c| extended.get(*c).cloned().unwrap_or(Value::Null)),
            );
            (key, order, id)
        }))
    }

    /// A row's key, place in time and id, and its extended row (the source row itself when the view
    /// derives nothing and filters nothing, else `scratch` with the derived columns appended), or
    /// `None` when the filter rejects it.
    #[allow(clippy::type_complexity)]
    fn prepare_header<'r>(
        &self,
        row: &'r [Value],
        ingest_time: Timestamp,
        position: u64,
        scratch: &'r mut Vec<Value>,
    ) -> Result<Option<(EntityKey, EventOrder, Option<KeyPart>, &'r [Value])>, EventError> {
        let (key, event_time, ingest_time, id) = self.header(row, ingest_time)?;
        // Views without derived columns or a filter read their inputs straight from the source row.
        let extended: &[Value] = if self.derived.is_empty() && self.filter.is_none() {
            row
        } else {
            scratch.clear();
            scratch.extend_from_slice(row);
            for expr in &self.derived {
                let v = expr.eval(scratch);
                scratch.push(v);
            }
            if let Some(filter) = &self.filter
                && !filter.eval_predicate(scratch)
            {
                return Ok(None);
            }
            scratch
        };
        let order = EventOrder {
            event_time,
            ingest_time,
            position,
        };
        Ok(Some((key, order, id, extended)))
    }
}
