//! Where an entity's values live, as the as-of query ([`crate::query`]) reads them.
//!
//! Incremental state keeps each entity's values in its own flat vector ([`Flat`]); the batch path
//! leaves them where they were prepared, in one large batch, and reaches them through the entity's
//! sorted event indexes ([`Indexed`]), so answering a training set never copies an event's values;
//! a view answered in place reads them from a columnar reader's rows (`crate::in_place`). All are
//! read through [`EventValues`], so one generic query serves them all. Where an entity's events lie
//! side by side in one batch (a merge by key prepares them so), a window's float inputs are read as
//! one slice instead of event by event.

use crate::answer::Parts;
use crate::batch::EventBatch;
use crate::column::InputColumn;
use crate::value::Value;
use std::borrow::Cow;
use std::ops::Range;

/// Where the values of an entity's events are: `get(event, slot)` is the `slot`-th input of its
/// `event`-th retained event (in canonical order), borrowed where it is stored as a [`Value`] and
/// rebuilt where it is stored by type.
pub(crate) trait EventValues {
    fn get(&self, event: usize, slot: usize) -> Cow<'_, Value>;

    /// Whether that input would be counted (not null, not NaN), without building it.
    fn is_counted(&self, event: usize, slot: usize) -> bool {
        let value = self.get(event, slot);
        !value.is_null() && !matches!(*value, Value::Float64(f) if f.is_nan())
    }

    /// That input if it would be counted: [`EventValues::is_counted`] and [`EventValues::get`] in
    /// one lookup where the values are found by a search.
    fn counted(&self, event: usize, slot: usize) -> Option<Value> {
        self.is_counted(event, slot)
            .then(|| self.get(event, slot).into_owned())
    }

    /// That input as a float without building a [`Value`] (`Some(None)`: null), where it is stored
    /// as one; `None` otherwise, and the caller reads it through [`EventValues::get`].
    fn float(&self, event: usize, slot: usize) -> Option<Option<f64>> {
        match &*self.get(event, slot) {
            Value::Float64(f) => Some(Some(*f)),
            Value::Null => Some(None),
            _ => None,
        }
    }

    /// Input `slot` of events `events` as floats and their null flags, where they lie side by side
    /// as floats; `None` otherwise, and the caller reads them one by one.
    fn float_run(&self, _slot: usize, _events: Range<usize>) -> Option<(&[f64], Option<&[bool]>)> {
        None
    }
}

/// Values in one flat vector, `stride` per event: incremental state.
pub(crate) struct Flat<'a> {
    pub(crate) values: &'a [Value],
    pub(crate) stride: usize,
}

impl EventValues for Flat<'_> {
    fn get(&self, event: usize, slot: usize) -> Cow<'_, Value> {
        self.values
            .get(event * self.stride + slot)
            .map_or(Cow::Owned(Value::Null), Cow::Borrowed)
    }
}

/// Values left in the typed columns of the batches they were prepared in: event `e` of the entity is
/// the batch event `index[e]` addresses ([`Parts::locate`]).
pub(crate) struct Indexed<'a> {
    parts: &'a [EventBatch],
    index: &'a [usize],
    /// `index` is consecutive events of one batch, as a merge by key prepares an entity: a window's
    /// values can then be read as one slice.
    contiguous: bool,
}

impl<'a> Indexed<'a> {
    pub(crate) fn new(parts: &'a [EventBatch], index: &'a [usize]) -> Indexed<'a> {
        // Consecutive packed indexes never cross batches: an event's local part is below 2^48.
        let contiguous = index
            .first()
            .is_some_and(|&first| index.iter().zip(first..).all(|(&i, next)| i == next));
        Indexed {
            parts,
            index,
            contiguous,
        }
    }
}

impl Indexed<'_> {
    fn column(&self, event: usize, slot: usize) -> Option<(&InputColumn, usize)> {
        let (part, local) = Parts::locate(*self.index.get(event)?);
        Some((self.parts.get(part)?.columns.get(slot)?, local))
    }
}

impl EventValues for Indexed<'_> {
    fn get(&self, event: usize, slot: usize) -> Cow<'_, Value> {
        match self.column(event, slot) {
            Some((column, i)) => column.get(i),
            None => Cow::Owned(Value::Null),
        }
    }

    fn is_counted(&self, event: usize, slot: usize) -> bool {
        self.column(event, slot)
            .is_some_and(|(column, i)| column.is_counted(i))
    }

    fn float(&self, event: usize, slot: usize) -> Option<Option<f64>> {
        match self.column(event, slot) {
            Some((column, i)) => column.float(i),
            None => Some(None),
        }
    }

    fn float_run(&self, slot: usize, events: Range<usize>) -> Option<(&[f64], Option<&[bool]>)> {
        if events.is_empty() || !self.contiguous {
            return None;
        }
        let (column, first) = self.column(events.start, slot)?;
        column.float_slice(first..first + events.len())
    }
}
