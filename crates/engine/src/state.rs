//! Keyed state of one feature view: every entity's [`EntityState`], the incremental entry point for
//! streaming and the batch entry point for training sets and backfills.
//!
//! Both entry points end in the same per-entity state and the same query, which is what makes online and
//! offline values identical: [`ViewState::ingest`] places events one at a time as they arrive;
//! [`crate::answer_batch`] groups a whole set of events by entity, sorts each group once, and answers many
//! `(entity, t, k)` queries. The property tests check that the two agree bit for bit for any arrival order.

use crate::entity::{EntityState, FeatureSpecs, InsertOutcome, QueryError, ViewRow};
use crate::key::EntityKey;
use crate::types::{DataType, Timestamp};
use crate::value::Value;
use crate::view::{EventError, PreparedEvent, ViewDef};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What happened to an ingested row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    /// The filter rejected it; it does not count.
    Filtered,
    /// It was placed (or recognised as a duplicate, or as too late): see [`InsertOutcome`].
    Placed(InsertOutcome),
}

/// A query: the features of `key` as of event time `t`, knowing what was ingested up to `k` (microseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The entity.
    pub key: EntityKey,
    /// As-of event time.
    pub t: i64,
    /// Knowledge cutoff on ingest time; `i64::MAX` for hindsight.
    pub k: i64,
}

/// The state of one feature view over all its entities.
#[derive(Debug, Clone)]
pub struct ViewState {
    def: ViewDef,
    /// The definition's fingerprint, stamped on every record and snapshot; hashing the definition
    /// per record would cost more than encoding the record.
    fingerprint: u64,
    inputs: Vec<usize>,
    specs: FeatureSpecs,
    entities: Map<EntityKey, EntityState>,
    scratch: Vec<Value>,
    /// Reused by [`ViewState::ingest_each_records`]: each touched entity's place in the records it
    /// returns. Kept between rounds so its table is neither allocated nor faulted in per round.
    pub(crate) record_slots: Map<EntityKey, usize>,
    /// Reused buffer for one event's feature inputs.
    values: Vec<Value>,
    /// Oldest query time that must stay exact; entities evict below it lazily, when touched.
    watermark: Option<i64>,
    longest_window: i64,
    /// Watermark at the last full sweep.
    last_sweep: Option<i64>,
}

/// Microseconds in a day: the shortest interval between automatic sweeps.
const DAY: i64 = 86_400_000_000;

/// The type of each extended-row column: source columns, then derived ones.
fn extended_types(def: &ViewDef) -> Vec<DataType> {
    def.columns
        .iter()
        .map(|c| c.1)
        .chain(def.derived.iter().map(crate::Expr::data_type))
        .collect()
}

pub(crate) fn feature_specs(def: &ViewDef) -> FeatureSpecs {
    let types = extended_types(def);
    FeatureSpecs {
        features: def.features.clone(),
        slots: def.input_slots(),
        stride: def.inputs().len(),
        int_inputs: def
            .features
            .iter()
            .map(|f| f.column.and_then(|c| types.get(c)) == Some(&DataType::Int64))
            .collect(),
        ttl: def.ttl,
    }
}

impl ViewState {
    /// Empty state for a view.
    pub fn new(def: ViewDef) -> ViewState {
        ViewState {
            inputs: def.inputs(),
            specs: feature_specs(&def),
            longest_window: def
                .features
                .iter()
                .filter_map(|f| f.window)
                .max()
                .unwrap_or(0),
            fingerprint: crate::record::fingerprint(&def),
            def,
            entities: Map::default(),
            scratch: Vec::new(),
            record_slots: Map::default(),
            values: Vec::new(),
            watermark: None,
            last_sweep: None,
        }
    }

    /// The fingerprint of the view definition (see `record`).
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// How the view's features read an entity's values.
    pub(crate) fn specs(&self) -> &FeatureSpecs {
        &self.specs
    }

    /// The view definition.
    pub fn def(&self) -> &ViewDef {
        &self.def
    }

    /// Number of entities with state.
    pub fn entities(&self) -> usize {
        self.entities.len()
    }

    /// Event time of the newest event of any entity, retained or evicted.
    pub fn newest_event_time(&self) -> Option<i64> {
        self.entities
            .values()
            .filter_map(EntityState::newest_event_time)
            .max()
    }

    /// Number of retained events over all entities.
    pub fn retained_events(&self) -> usize {
        self.entities.values().map(EntityState::retained).sum()
    }

    /// Prepares and places one source row. Bad rows are rejected with an error naming the field; the state
    /// is unchanged by a rejected row.
    pub fn ingest(
        &mut self,
        row: &[Value],
        ingest_time: Timestamp,
        position: u64,
    ) -> Result<IngestOutcome, EventError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut values = std::mem::take(&mut self.values);
        let prepared = self.def.prepare_inputs(
            row,
            ingest_time,
            position,
            &mut scratch,
            &self.inputs,
            &mut values,
        );
        self.scratch = scratch;
        let outcome = prepared.map(|header| match header {
            None => IngestOutcome::Filtered,
            Some((key, order, id)) => {
                let state = self.entities.entry(key).or_default();
                let outcome = state.insert_parts(order, id, values.drain(..), self.specs.stride);
                if let Some(watermark) = self.watermark {
                    state.evict_if_due(&self.specs, watermark, self.longest_window);
                }
                IngestOutcome::Placed(outcome)
            }
        });
        self.values = values;
        outcome
    }

    /// Ingests many rows, accepted together at `ingest_time`, with positions `first_position`,
    /// `first_position + 1`, ...; returns one outcome per row, in order. Same results as calling
    /// [`ViewState::ingest`] on each row in turn.
    ///
    /// Faster for large state: rows are handled in chunks whose entities are first looked up together,
    /// so the cache misses of a chunk overlap instead of being paid one after another.
    pub fn ingest_batch<R: AsRef<[Value]>>(
        &mut self,
        rows: &[R],
        ingest_time: Timestamp,
        first_position: u64,
    ) -> Vec<Result<IngestOutcome, EventError>> {
        let mut outcomes = Vec::with_capacity(rows.len());
        self.ingest_chunked(
            rows,
            |i, row| (row.as_ref(), ingest_time, first_position + i as u64),
            |outcome, _| outcomes.push(outcome),
        );
        outcomes
    }

    /// Ingests `events`, each with its own source row, ingest time and position (`stamp` gives
    /// them), in chunks as [`ViewState::ingest_batch`] does; same results as calling
    /// [`ViewState::ingest`] on each in turn. `inserted` gets the key of every event that now counts
    /// ([`InsertOutcome::Inserted`]), once per event: the entities whose answers may have changed.
    /// Refused, filtered, duplicate and late events change nothing and are not reported.
    pub fn ingest_each<T>(
        &mut self,
        events: &[T],
        stamp: impl Fn(&T) -> (&[Value], Timestamp, u64),
        mut inserted: impl FnMut(&EntityKey),
    ) {
        self.ingest_chunked(
            events,
            |_, event| stamp(event),
            |outcome, placed| {
                if let (Ok(IngestOutcome::Placed(InsertOutcome::Inserted)), Some((key, _))) =
                    (outcome, placed)
                {
                    inserted(key);
                }
            },
        );
    }

    /// The chunked ingestion behind [`ViewState::ingest_batch`] and [`ViewState::ingest_each`]:
    /// `stamp` gives an item's row, ingest time and position (`i` is its index), and `each` gets
    /// every item's outcome in order, with its entity's key and state (just updated, so still in
    /// cache) when it was placed.
    pub(crate) fn ingest_chunked<T>(
        &mut self,
        items: &[T],
        stamp: impl Fn(usize, &T) -> (&[Value], Timestamp, u64),
        mut each: impl FnMut(Result<IngestOutcome, EventError>, Option<(&EntityKey, &EntityState)>),
    ) {
        const CHUNK: usize = 32;
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut headers = Vec::with_capacity(CHUNK);
        let mut values: Vec<Value> = Vec::with_capacity(CHUNK * self.specs.stride);
        let mut one = Vec::with_capacity(self.specs.stride);
        for (chunk_index, chunk) in items.chunks(CHUNK).enumerate() {
            headers.clear();
            values.clear();
            for (i, item) in chunk.iter().enumerate() {
                let (row, ingest_time, position) = stamp(chunk_index * CHUNK + i, item);
                let prepared = self.def.prepare_inputs(
                    row,
                    ingest_time,
                    position,
                    &mut scratch,
                    &self.inputs,
                    &mut one,
                );
                match prepared {
                    Ok(Some(header)) => {
                        values.append(&mut one);
                        headers.push(Ok(Some(header)));
                    }
                    other => headers.push(other),
                }
            }
            // Phase 1: touch every entity of the chunk (independent loads, overlapping misses).
            let mut warm = 0i64;
            for (key, ..) in headers
                .iter()
                .filter_map(|h| h.as_ref().ok().and_then(Option::as_ref))
            {
                if let Some(state) = self.entities.get(key) {
                    warm = warm.wrapping_add(state.prefetch_for_insert());
                }
            }
            std::hint::black_box(warm);
            // Phase 2: place them.
            let mut taken = values.drain(..);
            for header in headers.drain(..) {
                match header {
                    Err(e) => each(Err(e), None),
                    Ok(None) => each(Ok(IngestOutcome::Filtered), None),
                    Ok(Some((key, order, id))) => {
                        // Through the entry, so the key can be reported after it moved into the map
                        // without a clone per event.
                        let mut entry = match self.entities.entry(key) {
                            Entry::Occupied(entry) => entry,
                            Entry::Vacant(entry) => entry.insert_entry(EntityState::default()),
                        };
                        let state = entry.get_mut();
                        let mut event_values = taken.by_ref().take(self.specs.stride);
                        let outcome =
                            state.insert_parts(order, id, &mut event_values, self.specs.stride);
                        // A duplicate or late event leaves its values unread; skip them, or the next
                        // event would read them as its own.
                        event_values.for_each(drop);
                        if let Some(watermark) = self.watermark {
                            state.evict_if_due(&self.specs, watermark, self.longest_window);
                        }
                        each(
                            Ok(IngestOutcome::Placed(outcome)),
                            Some((entry.key(), entry.get())),
                        );
                    }
                }
            }
        }
        self.scratch = scratch;
    }

    /// Places an already prepared event; the entity then evicts what the watermark no longer needs.
    pub fn place(&mut self, event: PreparedEvent) -> InsertOutcome {
        let state = self.entities.entry(event.key.clone()).or_default();
        let outcome = state.insert(event, self.specs.stride);
        if let Some(watermark) = self.watermark {
            state.evict_if_due(&self.specs, watermark, self.longest_window);
        }
        outcome
    }

    /// The features of one entity as of `t`, knowing what was ingested up to `k`.
    pub fn read(&self, key: &EntityKey, t: i64, k: i64) -> Result<ViewRow, QueryError> {
        match self.entities.get(key) {
            Some(state) => state.query(&self.specs, t, k),
            None => Ok(ViewRow::not_found(self.def.features.len())),
        }
    }

    /// Evicts now, in every entity, history that no query at or after `supported_from` (microseconds)
    /// needs. Later queries before `supported_from` are refused; values at or after it are unchanged.
    pub fn evict(&mut self, supported_from: i64) {
        self.watermark = Some(
            self.watermark
                .map_or(supported_from, |w| w.max(supported_from)),
        );
        self.last_sweep = self.watermark;
        for state in self.entities.values_mut() {
            state.evict(&self.specs, supported_from, self.longest_window);
        }
    }

    /// Declares that queries before `supported_from` will no longer be asked. Entities evict lazily when
    /// an event reaches them; in addition, once the watermark has moved by the view's longest window (at
    /// least a day) since the last sweep, every entity is swept, so entities that went quiet are trimmed
    /// too. Each entity therefore retains at most its longest window plus one sweep interval of events.
    /// The watermark never moves backwards.
    pub fn advance_watermark(&mut self, supported_from: i64) {
        let watermark = self
            .watermark
            .map_or(supported_from, |w| w.max(supported_from));
        self.watermark = Some(watermark);
        let interval = self.longest_window.max(DAY);
        match self.last_sweep {
            None => self.last_sweep = Some(watermark),
            Some(last) if watermark.saturating_sub(last) >= interval => {
                self.last_sweep = Some(watermark);
                for state in self.entities.values_mut() {
                    state.evict(&self.specs, watermark, self.longest_window);
                }
            }
            Some(_) => {}
        }
    }

    /// One entity's state, if the view has seen it.
    pub(crate) fn entity(&self, key: &EntityKey) -> Option<&EntityState> {
        self.entities.get(key)
    }

    /// Sets one entity's state (from a stored record).
    pub(crate) fn put_entity(&mut self, key: EntityKey, state: EntityState) {
        self.entities.insert(key, state);
    }

    /// Entities in key order with their state, for snapshots.
    pub(crate) fn sorted_entities(&self) -> Vec<(&EntityKey, &EntityState)> {
        let mut all: Vec<_> = self.entities.iter().collect();
        // Keys of a map are distinct, so an unstable sort gives the same order, with less work.
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all
    }

    pub(crate) fn restore_entities(&mut self, entities: Vec<(EntityKey, EntityState)>) {
        self.entities = entities.into_iter().collect();
    }
}
