//! How one source row is read against its view: each cell checked against its declared type, the
//! join key and times taken out, derived columns computed and the filter applied. Every refusal is an
//! [`EventError`] naming the column, built off the hot path (`#[cold]`).

use super::{EventError, EventOrder, ViewDef};
use crate::key::{EntityKey, KeyPart};
use crate::types::{DataType, Timestamp};
use crate::value::{Cell, Value};

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
    fn name(&self, index: usize) -> String {
        self.columns
            .get(index)
            .map_or_else(|| format!("column {index}"), |c| c.0.clone())
    }

    /// Column `index` may hold `cell`. Checked for every cell of every event, so kept inline; the
    /// error is built out of line.
    #[inline]
    pub(super) fn check_type(&self, index: usize, cell: Cell<'_>) -> Result<(), EventError> {
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
    pub(super) fn time_of(&self, index: usize, cell: Option<Cell<'_>>) -> Result<i64, EventError> {
        match cell {
            Some(Cell::Timestamp(t)) => Ok(t),
            other => Err(EventError::BadTime {
                field: self.name(index),
                found: other.map_or_else(|| "nothing".to_owned(), |c| describe(&c.to_value())),
            }),
        }
    }

    pub(super) fn key_part(&self, row: &[Value], index: usize) -> Result<KeyPart, EventError> {
        match row.get(index) {
            // The row's text is shared, not copied.
            Some(Value::String(s)) => Ok(KeyPart::Str(s.clone())),
            other => self.key_part_of(index, other.map_or(Cell::Null, Value::as_cell)),
        }
    }

    /// A join key part from column `index`'s cell.
    #[inline]
    pub(super) fn key_part_of(&self, index: usize, cell: Cell<'_>) -> Result<KeyPart, EventError> {
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

    /// The key, event time, ingest time and id of a row, or why it cannot be an event.
    pub(super) fn header(
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
    pub(super) fn prepare_header<'r>(
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
