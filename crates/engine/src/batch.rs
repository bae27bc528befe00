//! Prepared events stored column by column: the input of the batch entry point, [`crate::answer_batch`].
//!
//! A training set or backfill prepares millions of events before answering anything. Held as one
//! [`PreparedEvent`] each, every event would own a small vector of values: millions of allocations,
//! and memory that grows by copying. An [`EventBatch`] keeps the same fields in a few flat vectors
//! (the values of event `i` are `values[i * stride..(i + 1) * stride]`), filled in place by
//! [`crate::Preparer::prepare_into`], and batches prepared in parallel are joined by [`EventBatch::append`].

use crate::key::{EntityKey, KeyPart};
use crate::value::Value;
use crate::view::{EventOrder, PreparedEvent, ViewDef};

/// Prepared events of one view, column by column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventBatch {
    pub(crate) stride: usize,
    pub(crate) keys: Vec<EntityKey>,
    pub(crate) orders: Vec<EventOrder>,
    pub(crate) ids: Vec<Option<KeyPart>>,
    pub(crate) values: Vec<Value>,
}

impl EventBatch {
    /// An empty batch for `def`'s events, with room for `capacity` of them.
    pub fn with_capacity(def: &ViewDef, capacity: usize) -> EventBatch {
        let stride = def.inputs().len();
        EventBatch {
            stride,
            keys: Vec::with_capacity(capacity),
            orders: Vec::with_capacity(capacity),
            ids: Vec::with_capacity(if def.event_id_column.is_some() {
                capacity
            } else {
                0
            }),
            values: Vec::with_capacity(capacity * stride),
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// No events.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The entity of each event.
    pub fn keys(&self) -> &[EntityKey] {
        &self.keys
    }

    /// The place in time of each event.
    pub fn orders(&self) -> &[EventOrder] {
        &self.orders
    }

    /// Adds one event (its values must number the view's inputs).
    pub fn push(&mut self, event: PreparedEvent) {
        if self.is_empty() && self.values.is_empty() {
            self.stride = event.values.len();
        }
        self.push_parts(event.key, event.order, event.id, event.values);
    }

    fn push_parts(
        &mut self,
        key: EntityKey,
        order: EventOrder,
        id: Option<KeyPart>,
        values: impl IntoIterator<Item = Value>,
    ) {
        let before = self.values.len();
        self.values.extend(values);
        self.values.resize(before + self.stride, Value::Null);
        self.push_header(key, order, id);
    }

    /// Adds an event whose `stride` values are already at the end of `values`.
    pub(crate) fn push_header(&mut self, key: EntityKey, order: EventOrder, id: Option<KeyPart>) {
        // Ids are stored only once one is seen; until then every event's id is `None`.
        if id.is_some() && self.ids.len() < self.keys.len() {
            self.ids.resize(self.keys.len(), None);
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
            let capacity = self.keys.capacity();
            if other.keys.capacity() >= capacity {
                std::mem::swap(self, other);
                return;
            }
            self.stride = other.stride;
        }
        if !other.ids.is_empty() || !self.ids.is_empty() {
            self.ids.resize(self.keys.len(), None);
            other.ids.resize(other.keys.len(), None);
        }
        self.keys.append(&mut other.keys);
        self.orders.append(&mut other.orders);
        self.ids.append(&mut other.ids);
        self.values.append(&mut other.values);
    }

    /// The events of `group` (one entity's batch indexes, any order) that count, in canonical order,
    /// into `kept`: exactly the events inserting them one by one would keep. Of copies sharing an id
    /// the first ingested counts; a record delivered twice (same time, ingest time and position) counts
    /// once.
    pub(crate) fn canonical(&self, group: &mut [usize], kept: &mut Vec<usize>) {
        kept.clear();
        let orders = &self.orders;
        // Events arrive mostly in time order; check before paying for a sort.
        if !group.is_sorted_by_key(|&i| orders[i]) {
            group.sort_unstable_by_key(|&i| orders[i]);
        }
        let with_ids = group.iter().any(|&i| self.id(i).is_some());
        let mut keep = vec![true; if with_ids { group.len() } else { 0 }];
        if with_ids {
            // Keep the first-ingested copy of each id: visit in ingest order.
            let mut by_ingest: Vec<usize> = (0..group.len()).collect();
            by_ingest.sort_by_key(|&p| crate::entity::ingest_order(&orders[group[p]]));
            let mut seen = std::collections::HashSet::new();
            for p in by_ingest {
                if let Some(id) = self.id(group[p]) {
                    keep[p] = seen.insert(id);
                }
            }
        }
        let mut last: Option<EventOrder> = None;
        for (p, &i) in group.iter().enumerate() {
            let order = orders[i];
            if keep.get(p).copied().unwrap_or(true) && last != Some(order) {
                kept.push(i);
                last = Some(order);
            }
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
        assert_eq!(batch.values[4], Value::Int64(3));
    }
}
