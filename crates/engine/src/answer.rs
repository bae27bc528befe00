//! The batch entry point: answering many `(entity, t, k)` queries over a whole set of prepared events
//! in one pass, for training sets and backfills.
//!
//! Incremental state ([`crate::ViewState`]) places events one at a time; this path groups a whole set
//! of events by entity with a counting sort, puts each entity's events in canonical order once (as
//! indexes: no value is moved or copied) and asks its queries while they are hot in cache, through the
//! same query code. The property tests check that both paths answer bit for bit alike.
//!
//! The events may come in several [`EventBatch`]es, as several threads prepared them, with one entity's
//! events spread over all of them. They are read where they are: an event is addressed by one index
//! with its batch in the high bits ([`Parts`]), so no batch is ever copied into another. Joining them
//! first would copy (and fault in) hundreds of megabytes for a training set.
//!
//! When the events come already grouped by entity (a reader merging log files sorted by key),
//! [`EntityAnswerer`] skips the grouping: the caller fills one small batch per entity, reused from
//! one entity to the next, and asks that entity's queries through the same canonical order and query.

use crate::batch::{BatchKeys, EventBatch};
use crate::entity::FeatureSpecs;
use crate::entity::{FeatureStatus, QueryError, ViewRow};
use crate::key::{EntityKey, KeyPart};
use crate::query::History;
use crate::state::{Query, feature_specs};
use crate::values::Indexed;
use crate::view::{EventOrder, ViewDef};
use std::collections::HashMap;

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Bits of an event index that address the event within its batch; the other 16 name the batch.
const LOCAL_BITS: u32 = 48;

// An index packs a batch and an event into 64 bits; freshet builds for 64-bit targets only.
const _: () = assert!(
    usize::BITS == 64,
    "the batch entry point needs a 64-bit target"
);

/// Prepared events of one view in several batches, addressed by a single index: batch `p`'s event `i`
/// is `p << LOCAL_BITS | i`.
pub(crate) struct Parts {
    pub(crate) batches: Vec<EventBatch>,
}

impl Parts {
    /// The batches as given, or joined into one where an index could not address them (more than
    /// 65,536 batches).
    fn new(mut batches: Vec<EventBatch>) -> Parts {
        let addressable = batches.len() <= 1 << (usize::BITS - LOCAL_BITS)
            && batches.iter().all(|b| b.len() < 1 << LOCAL_BITS);
        if !addressable {
            let mut joined = EventBatch::default();
            for mut batch in batches {
                joined.append(&mut batch);
            }
            batches = vec![joined];
        }
        Parts { batches }
    }

    /// The index of batch `part`'s event `local`.
    fn index(part: usize, local: usize) -> usize {
        part << LOCAL_BITS | local
    }

    /// The batch and the event within it.
    pub(crate) fn locate(index: usize) -> (usize, usize) {
        (index >> LOCAL_BITS, index & ((1 << LOCAL_BITS) - 1))
    }

    fn order(&self, index: usize) -> EventOrder {
        order_of(&self.batches, index)
    }

    /// The events of `group` that count, in canonical order ([`canonical`]).
    fn canonical(&self, group: &mut [usize], kept: &mut Vec<usize>) {
        canonical(&self.batches, group, kept);
    }
}

/// The order of the event at `index` (see [`Parts`]) of `batches`.
fn order_of(batches: &[EventBatch], index: usize) -> EventOrder {
    let (part, local) = Parts::locate(index);
    batches[part].orders[local]
}

/// The id of the event at `index` (see [`Parts`]) of `batches`.
fn id_of(batches: &[EventBatch], index: usize) -> Option<&KeyPart> {
    let (part, local) = Parts::locate(index);
    batches[part].id(local)
}

/// The events of `group` (one entity's indexes into `batches`, any order) that count, in canonical
/// order, into `kept`: exactly the events inserting them one by one would keep. Of copies sharing an
/// id the first ingested counts; a record delivered twice (same time, ingest time and position)
/// counts once.
fn canonical(batches: &[EventBatch], group: &mut [usize], kept: &mut Vec<usize>) {
    let order = |i: usize| order_of(batches, i);
    kept.clear();
    // Events arrive mostly in time order; check before paying for a sort. The sort runs over the
    // group's orders copied side by side: comparing through the indexes would reach into the whole
    // batch at every comparison.
    if !group.is_sorted_by_key(|&i| order(i)) {
        let mut placed: Vec<(EventOrder, usize)> = group.iter().map(|&i| (order(i), i)).collect();
        placed.sort_unstable();
        for (slot, (_, i)) in group.iter_mut().zip(placed) {
            *slot = i;
        }
    }
    let with_ids = group.iter().any(|&i| id_of(batches, i).is_some());
    let mut keep = vec![true; if with_ids { group.len() } else { 0 }];
    if with_ids {
        // Keep the first-ingested copy of each id: visit in ingest order.
        let mut by_ingest: Vec<usize> = (0..group.len()).collect();
        by_ingest.sort_by_key(|&p| crate::entity::ingest_order(&order(group[p])));
        let mut seen = std::collections::HashSet::new();
        for p in by_ingest {
            if let Some(id) = id_of(batches, group[p]) {
                keep[p] = seen.insert(id);
            }
        }
    }
    let mut last: Option<EventOrder> = None;
    for (p, &i) in group.iter().enumerate() {
        let o = order(i);
        if keep.get(p).copied().unwrap_or(true) && last != Some(o) {
            kept.push(i);
            last = Some(o);
        }
    }
}

/// Answers `queries` over `events` in one pass. Results are in query order.
///
/// Events may come in any order and may contain duplicates; rows the filter rejects are skipped. The
/// answers are identical to [`crate::ViewState::read`] after ingesting the same events.
pub fn answer_batch(
    def: &ViewDef,
    events: EventBatch,
    queries: &[Query],
) -> Vec<Result<ViewRow, QueryError>> {
    let mut results: Vec<Option<Result<ViewRow, QueryError>>> = vec![None; queries.len()];
    answer_batch_each(def, vec![events], queries, |q, answer| {
        results[q] = Some(answer)
    });
    // `answer_batch_each` answers every query; the fallback only keeps this total.
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Ok(ViewRow::not_found(def.features.len()))))
        .collect()
}

/// [`answer_batch`] over events in any number of batches (an entity's events may be spread over all of
/// them), without holding the answers: `each(query, answer)` is called exactly once per query (its
/// index in `queries`), entity by entity rather than in query order, and the answer is the caller's
/// to keep or drop. A caller that writes answers straight into columns never holds a million rows at
/// once, so the memory behind each row is reused by the next.
pub fn answer_batch_each(
    def: &ViewDef,
    events: Vec<EventBatch>,
    queries: &[Query],
    mut each: impl FnMut(usize, Result<ViewRow, QueryError>),
) {
    let mut parts = Parts::new(events);
    let specs = feature_specs(def);
    let (event_entity, query_entity, entities) = number_entities(&parts.batches, queries);
    let (mut event_order, event_starts) = group_by(
        entities,
        event_indexes(&parts.batches).zip(event_entity.iter().copied()),
    );
    drop(event_entity);
    // Each query's time and cutoff travel with it: read from `queries` in entity order, they were a
    // cache miss per query.
    let (query_order, query_starts) = group_by(
        entities,
        query_entity
            .iter()
            .zip(queries)
            .enumerate()
            .filter_map(|(q, (e, query))| e.map(|e| ((q, query.t, query.k), e))),
    );
    // Keys are no longer needed: free them before the answers are built.
    for batch in &mut parts.batches {
        drop(std::mem::take(&mut batch.keys));
    }
    let mut kept = Vec::new();
    let mut orders = Vec::new();
    for entity in 0..entities {
        let queries_of_entity = &query_order[query_starts[entity]..query_starts[entity + 1]];
        if queries_of_entity.is_empty() {
            continue;
        }
        let group = &mut event_order[event_starts[entity]..event_starts[entity + 1]];
        parts.canonical(group, &mut kept);
        orders.clear();
        orders.extend(kept.iter().map(|&i| parts.order(i)));
        // The entity's events stay where they were prepared; the query reads them through `kept`.
        let history = History {
            orders: &orders,
            values: Indexed::new(&parts.batches, &kept),
            prefix: None,
        };
        for &(q, t, k) in queries_of_entity {
            each(q, history.query(&specs, t, k));
        }
    }
    // An entity with no event is not found.
    for (q, entity) in query_entity.iter().enumerate() {
        if entity.is_none() {
            each(q, Ok(ViewRow::not_found(def.features.len())));
        }
    }
}

/// The batch entry point for events that arrive already grouped by entity, as from a reader merging
/// files sorted by key: the caller hands over one entity's events at a time and asks that entity's
/// queries, so no index over all events is ever built and a small batch is reused from one entity to
/// the next. The answers are those of [`answer_batch_each`] (and so of [`crate::ViewState::read`]) for
/// the same events and queries.
#[derive(Debug)]
pub struct EntityAnswerer {
    pub(crate) specs: FeatureSpecs,
    features: usize,
    group: Vec<usize>,
    kept: Vec<usize>,
    orders: Vec<EventOrder>,
    /// `0, 1, 2, ...`: the index of events that all count, in the order they came.
    identity: Vec<usize>,
    /// The answer handed to the caller, refilled by each query.
    row: ViewRow,
    /// Each input slot's source column ([`crate::in_place`]).
    pub(crate) inputs: Vec<usize>,
    /// Scratch: where each run of an entity answered in place starts.
    pub(crate) starts: Vec<usize>,
    /// Scratch: the event each feature picked, for a query answered in place.
    pub(crate) picks: Vec<Option<usize>>,
}

impl EntityAnswerer {
    /// An answerer for `def`'s features.
    pub fn new(def: &ViewDef) -> EntityAnswerer {
        EntityAnswerer {
            specs: feature_specs(def),
            features: def.features.len(),
            group: Vec::new(),
            kept: Vec::new(),
            orders: Vec::new(),
            identity: Vec::new(),
            row: ViewRow::not_found(0),
            inputs: def.inputs(),
            starts: Vec::new(),
            picks: Vec::new(),
        }
    }

    /// Answers each `(t, k)` of `queries`, in order, with `each(answer)`. `events` must hold every
    /// event of one entity and nothing else (any order, duplicates allowed: the same events
    /// [`answer_batch_each`] would group for it); when it is empty the entity is not found.
    ///
    /// The answer is lent, not given: one row is refilled by every query, so that a million queries
    /// allocate nothing for their answers. Copy out what must outlive the call.
    pub fn answer(
        &mut self,
        events: &EventBatch,
        queries: impl IntoIterator<Item = (i64, i64)>,
        mut each: impl FnMut(Result<&ViewRow, QueryError>),
    ) {
        if events.is_empty() {
            self.row
                .set_all_null(self.features, FeatureStatus::NotFound, None);
            for _ in queries {
                each(Ok(&self.row));
            }
            return;
        }
        let batches = std::slice::from_ref(events);
        // A merge by key hands over an entity's events in canonical order, each once, and without
        // ids to deduplicate: then every event counts where it is, and no order is copied.
        let in_order = events.ids.iter().all(Option::is_none)
            && events.orders.windows(2).all(|pair| pair[0] < pair[1]);
        let (orders, index): (&[EventOrder], &[usize]) = if in_order {
            // Batch 0's event `i` is index `i` ([`Parts::index`]).
            if self.identity.len() < events.len() {
                self.identity.extend(self.identity.len()..events.len());
            }
            (&events.orders, &self.identity[..events.len()])
        } else {
            self.group.clear();
            self.group
                .extend((0..events.len()).map(|i| Parts::index(0, i)));
            canonical(batches, &mut self.group, &mut self.kept);
            self.orders.clear();
            self.orders
                .extend(self.kept.iter().map(|&i| order_of(batches, i)));
            (&self.orders, &self.kept)
        };
        let history = History {
            orders,
            values: Indexed::new(batches, index),
            prefix: None,
        };
        for (t, k) in queries {
            match history.query_into(&self.specs, t, k, &mut self.row) {
                Ok(()) => each(Ok(&self.row)),
                Err(e) => each(Err(e)),
            }
        }
    }
}

/// Numbers the entities of the events in first-seen order: each event's number (batch by batch, in
/// the order of [`event_indexes`]), each query's (`None`: the entity has no event) and how many there
/// are. Integer keys are numbered as integers.
fn number_entities(
    batches: &[EventBatch],
    queries: &[Query],
) -> (Vec<usize>, Vec<Option<usize>>, usize) {
    // Sized up front: the keys of several batches chained are not an exact-size iterator, and
    // growing a vector of ten million numbers by doubling copies (and faults in) it several times.
    fn number<K: std::hash::Hash + Eq>(
        events: usize,
        keys: impl Iterator<Item = K>,
        numbers: &mut Map<K, usize>,
    ) -> Vec<usize> {
        let mut of_event = Vec::with_capacity(events);
        of_event.extend(keys.map(|key| {
            let next = numbers.len();
            *numbers.entry(key).or_insert(next)
        }));
        of_event
    }
    let events: usize = batches.iter().map(EventBatch::len).sum();
    let all_ints = batches.iter().all(|b| matches!(b.keys, BatchKeys::Ints(_)));
    if all_ints {
        let mut numbers: Map<i64, usize> = Map::default();
        let keys = batches.iter().flat_map(|b| match &b.keys {
            BatchKeys::Ints(keys) => keys.as_slice(),
            BatchKeys::Any(_) => &[],
        });
        let of_event = number(events, keys.copied(), &mut numbers);
        let of_query = queries
            .iter()
            .map(|q| match &q.key {
                EntityKey::Single(KeyPart::Int(x)) => numbers.get(x).copied(),
                _ => None,
            })
            .collect();
        (of_event, of_query, numbers.len())
    } else {
        let mut numbers: Map<EntityKey, usize> = Map::default();
        let of_event = number(events, batches.iter().flat_map(|b| b.keys()), &mut numbers);
        let of_query = queries
            .iter()
            .map(|q| numbers.get(&q.key).copied())
            .collect();
        (of_event, of_query, numbers.len())
    }
}

/// The index of every event of `batches`, batch by batch.
fn event_indexes(batches: &[EventBatch]) -> impl Iterator<Item = usize> + Clone + '_ {
    batches
        .iter()
        .enumerate()
        .flat_map(|(p, b)| (0..b.len()).map(move |i| Parts::index(p, i)))
}

/// A counting sort: the items (each an index and its group number) grouped by group, stable within a
/// group, with `starts[g]..starts[g + 1]` the range of group `g`.
fn group_by<T: Copy + Default>(
    groups: usize,
    items: impl IntoIterator<Item = (T, usize), IntoIter: Clone>,
) -> (Vec<T>, Vec<usize>) {
    let items = items.into_iter();
    let mut starts = vec![0usize; groups + 1];
    for (_, g) in items.clone() {
        starts[g + 1] += 1;
    }
    for g in 0..groups {
        starts[g + 1] += starts[g];
    }
    let mut cursor = starts.clone();
    let mut order = vec![T::default(); starts[groups]];
    for (index, g) in items {
        order[cursor[g]] = index;
        cursor[g] += 1;
    }
    (order, starts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_names_its_batch_and_event() {
        for (part, local) in [
            (0, 0),
            (1, 0),
            (0, 7),
            (3, (1 << LOCAL_BITS) - 1),
            (65_535, 12),
        ] {
            assert_eq!(Parts::locate(Parts::index(part, local)), (part, local));
        }
    }

    #[test]
    fn indexes_run_batch_by_batch() {
        let batch = |n: usize| EventBatch {
            orders: vec![
                EventOrder {
                    event_time: 0,
                    ingest_time: 0,
                    position: 0
                };
                n
            ],
            ..EventBatch::default()
        };
        let batches = [batch(2), batch(0), batch(1)];
        let indexes: Vec<(usize, usize)> = event_indexes(&batches).map(Parts::locate).collect();
        assert_eq!(indexes, [(0, 0), (0, 1), (2, 0)]);
    }
}
