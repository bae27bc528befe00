//! The engine's definition of a feature view, and the preparation of a source row into an event.
//!
//! A [`ViewDef`] is what the engine needs and nothing more: where the key, time and id columns sit in a
//! source row, the compiled derived columns and filter, and the features. The project crate builds it from
//! a validated `freshet.yaml`; tests build it directly. [`ViewDef::prepare`] is the single place a row
//! becomes an event: keys and times are checked (bad rows are rejected with a typed error naming the
//! field), derived columns are computed, and the filter decides whether the event counts at all.

mod preparer;
mod row;

pub use preparer::Preparer;

use crate::aggregation::Aggregation;
use crate::expr::Expr;
use crate::key::{EntityKey, KeyPart};
use crate::types::{DataType, Timestamp};
use crate::value::Value;

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
}
