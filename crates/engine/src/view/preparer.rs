//! [`Preparer`]: many rows of one view turned into events, with what does not change between rows
//! (the view's inputs, a scratch row, whether cells can be read in place) worked out once. The checks
//! each row must pass are [`ViewDef`]'s (see the `row` module); this module only decides where the
//! event goes: a vector of its own, one batch, or the batch of the entity's group.

use super::{EventError, EventOrder, PreparedEvent, ViewDef};
use crate::batch::EventBatch;
use crate::key::EntityKey;
use crate::types::Timestamp;
use crate::value::{Cell, Value};

/// Prepares many rows of one view, reusing what does not change between rows.
#[derive(Debug)]
pub struct Preparer<'v> {
    pub(crate) def: &'v ViewDef,
    pub(crate) inputs: Vec<usize>,
    pub(super) scratch: Vec<Value>,
    /// [`Preparer::takes_cells`], worked out once.
    pub(super) takes_cells: bool,
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
