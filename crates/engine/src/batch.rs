//! Prepared events stored column by column: the input of the batch entry point, [`crate::answer_batch`].
//!
//! A training set or backfill prepares millions of events before answering anything. Held as one
//! [`PreparedEvent`] each, every event would own a small vector of values: millions of allocations,
//! and memory that grows by copying. An [`EventBatch`] keeps the same fields in a few flat columns,
//! each input stored by its type (`InputColumn`) and integer keys as plain integers, filled in place
//! by [`crate::Preparer::prepare_into`]; batches prepared in parallel are joined by
//! [`EventBatch::append`].

use crate::column::InputColumn;
use crate::key::{EntityKey, KeyPart};
use crate::value::{Cell, Value};
use crate::view::{EventOrder, PreparedEvent, ViewDef};

/// Prepared events of one view, column by column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventBatch {
    pub(crate) keys: BatchKeys,
    pub(crate) orders: Vec<EventOrder>,
    pub(crate) ids: Vec<Option<KeyPart>>,
    /// One column per view input ([`ViewDef::inputs`]).
    pub(crate) columns: Vec<InputColumn>,
}

/// The entity of each event: single integer keys (the common case) as integers, 8 bytes each.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum BatchKeys {
    Ints(Vec<i64>),
    Any(Vec<EntityKey>),
}

impl Default for BatchKeys {
    fn default() -> Self {
        BatchKeys::Ints(Vec::new())
    }
}

impl BatchKeys {
    fn len(&self) -> usize {
        match self {
            BatchKeys::Ints(k) => k.len(),
            BatchKeys::Any(k) => k.len(),
        }
    }

    fn get(&self, i: usize) -> Option<EntityKey> {
        match self {
            BatchKeys::Ints(k) => k.get(i).map(|&x| EntityKey::int(x)),
            BatchKeys::Any(k) => k.get(i).cloned(),
        }
    }

    fn push(&mut self, key: EntityKey) {
        match (&mut *self, key) {
            (BatchKeys::Ints(k), EntityKey::Single(KeyPart::Int(x))) => k.push(x),
            (BatchKeys::Any(k), key) => k.push(key),
            (BatchKeys::Ints(_), key) => {
                self.make_any();
                if let BatchKeys::Any(k) = self {
                    k.push(key);
                }
            }
        }
    }

    fn make_any(&mut self) {
        if let BatchKeys::Ints(k) = self {
            let mut any = Vec::with_capacity(k.capacity().max(k.len() + 1));
            any.extend(k.iter().map(|&x| EntityKey::int(x)));
            *self = BatchKeys::Any(any);
        }
    }

    fn append(&mut self, other: &mut BatchKeys) {
        match (&mut *self, &mut *other) {
            (BatchKeys::Ints(a), BatchKeys::Ints(b)) => a.append(b),
            (BatchKeys::Any(a), BatchKeys::Any(b)) => a.append(b),
            (BatchKeys::Any(_), BatchKeys::Ints(_)) => {
                other.make_any();
                self.append(other);
            }
            (BatchKeys::Ints(_), BatchKeys::Any(_)) => {
                self.make_any();
                self.append(other);
            }
        }
    }
}

impl EventBatch {
    /// An empty batch for `def`'s events, with room for `capacity` of them.
    pub fn with_capacity(def: &ViewDef, capacity: usize) -> EventBatch {
        EventBatch {
            keys: BatchKeys::Ints(Vec::with_capacity(capacity)),
            orders: Vec::with_capacity(capacity),
            ids: Vec::with_capacity(if def.event_id_column.is_some() {
                capacity
            } else {
                0
            }),
            columns: (0..def.inputs().len())
                .map(|_| InputColumn::with_capacity(capacity))
                .collect(),
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// No events.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// The entity of each event, in batch order.
    pub fn keys(&self) -> impl Iterator<Item = EntityKey> + '_ {
        (0..self.keys.len()).filter_map(|i| self.keys.get(i))
    }

    /// The place in time of each event.
    pub fn orders(&self) -> &[EventOrder] {
        &self.orders
    }

    /// Adds one event (its values must number the view's inputs).
    pub fn push(&mut self, event: PreparedEvent) {
        if self.is_empty() && self.columns.is_empty() {
            self.columns = (0..event.values.len())
                .map(|_| InputColumn::default())
                .collect();
        }
        self.push_values(event.values.iter());
        self.push_header(event.key, event.order, event.id);
    }

    /// Appends one event's input values, one per column (missing ones null).
    pub(crate) fn push_values<'v>(&mut self, values: impl IntoIterator<Item = &'v Value>) {
        self.push_cells(values.into_iter().map(Value::as_cell));
    }

    /// Appends one event's input values as borrowed cells, one per column (missing ones null).
    pub(crate) fn push_cells<'c>(&mut self, cells: impl IntoIterator<Item = Cell<'c>>) {
        let mut cells = cells.into_iter();
        for column in &mut self.columns {
            column.push_cell(cells.next().unwrap_or(Cell::Null));
        }
    }

    /// Adds an event whose values were just pushed by [`EventBatch::push_values`].
    pub(crate) fn push_header(&mut self, key: EntityKey, order: EventOrder, id: Option<KeyPart>) {
        // Ids are stored only once one is seen; until then every event's id is `None`.
        if id.is_some() && self.ids.len() < self.orders.len() {
            self.ids.resize(self.orders.len(), None);
        }
        if id.is_some() || !self.ids.is_empty() {
            self.ids.push(id);
        }
        self.keys.push(key);
        self.orders.push(order);
    }

    /// Moves every event of `other` to the end of this batch.
    pub fn append(&mut self, other: &mut EventBatch) {
        if self.is_empty() {
            // Take the other batch's buffers whole: nothing is copied.
            let capacity = self.orders.capacity();
            if other.orders.capacity() >= capacity {
                std::mem::swap(self, other);
                return;
            }
            if self.columns.is_empty() {
                self.columns = (0..other.columns.len())
                    .map(|_| InputColumn::default())
                    .collect();
            }
        }
        if !other.ids.is_empty() || !self.ids.is_empty() {
            self.ids.resize(self.orders.len(), None);
            other.ids.resize(other.orders.len(), None);
        }
        self.keys.append(&mut other.keys);
        self.orders.append(&mut other.orders);
        self.ids.append(&mut other.ids);
        for (column, theirs) in self.columns.iter_mut().zip(&mut other.columns) {
            column.append(theirs);
        }
    }

    /// Removes every event, keeping the memory: a reader that fills a batch per entity reuses one.
    pub fn clear(&mut self) {
        match &mut self.keys {
            BatchKeys::Ints(k) => k.clear(),
            BatchKeys::Any(k) => k.clear(),
        }
        self.orders.clear();
        self.ids.clear();
        for column in &mut self.columns {
            column.clear();
        }
    }

    /// The id of event `i`.
    pub(crate) fn id(&self, i: usize) -> Option<&KeyPart> {
        self.ids.get(i).and_then(Option::as_ref)
    }
}

impl FromIterator<PreparedEvent> for EventBatch {
    fn from_iter<I: IntoIterator<Item = PreparedEvent>>(events: I) -> EventBatch {
        let mut batch = EventBatch::default();
        for event in events {
            batch.push(event);
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: i64, id: Option<i64>) -> PreparedEvent {
        PreparedEvent {
            key: EntityKey::int(key),
            order: EventOrder {
                event_time: key,
                ingest_time: key,
                position: key as u64,
            },
            id: id.map(KeyPart::Int),
            values: vec![Value::Int64(key), Value::Null],
        }
    }

    #[test]
    fn ids_appear_lazily_and_stay_aligned() {
        let mut batch: EventBatch = [event(1, None), event(2, Some(9))].into_iter().collect();
        assert_eq!(batch.id(0), None);
        assert_eq!(batch.id(1), Some(&KeyPart::Int(9)));
        let mut other: EventBatch = [event(3, None)].into_iter().collect();
        batch.append(&mut other);
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.id(2), None);
        assert_eq!(*batch.columns[0].get(2), Value::Int64(3));
        assert_eq!(*batch.columns[1].get(2), Value::Null);
        assert_eq!(
            batch.keys().collect::<Vec<_>>(),
            [1, 2, 3].map(EntityKey::int)
        );
    }
}
