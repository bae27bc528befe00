//! The state of one entity in one feature view, and the as-of query over it.
//!
//! Events that passed the view's filter are kept in a vector sorted in canonical order (event time, ingest
//! time, source position). A query `f(e, t, k)` binary-searches the window `(t - W, t]` and folds the
//! events whose ingest time is at most `k`, in order, into an [`Accumulator`]: there is no second
//! implementation and no order-dependent shortcut, so the result depends only on the set of events.
//!
//! Memory stays bounded through eviction: events too old for any supported query are removed from the
//! front of the vector and folded, in the same canonical order, into a [`Prefix`] that keeps what
//! unbounded features and the TTL still need (their accumulators, the newest event time). Folding prefix
//! then retained events performs exactly the operations a full scan would, so eviction never changes a
//! value. Queries that would need evicted detail (`t` before the supported range, or a knowledge cutoff
//! earlier than what was evicted) are refused rather than answered wrongly.

use crate::accumulate::{Accumulator, FeatureValue};
use crate::key::KeyPart;
use crate::value::Value;
use crate::view::{EventOrder, FeatureDef, PreparedEvent};
use serde::{Deserialize, Serialize};

/// Feast's per-feature statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureStatus {
    /// A value is present.
    Present,
    /// The entity is known but the feature has no value (e.g. an empty `mean`).
    NullValue,
    /// No event of this entity in the view as of `t` and `k`.
    NotFound,
    /// The entity's newest event is older than the view's TTL.
    OutsideMaxAge,
}

/// The answer for one entity: a value and a status per feature, and the newest event's time.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewRow {
    /// One value per feature, in definition order.
    pub values: Vec<FeatureValue>,
    /// One status per feature.
    pub statuses: Vec<FeatureStatus>,
    /// Event time of the newest event counted (microseconds), if any.
    pub newest_event_time: Option<i64>,
}

impl ViewRow {
    /// The answer for an entity with no events: every feature null and `NOT_FOUND`.
    pub fn not_found(features: usize) -> ViewRow {
        ViewRow::all_null(features, FeatureStatus::NotFound, None)
    }

    fn all_null(features: usize, status: FeatureStatus, newest: Option<i64>) -> ViewRow {
        ViewRow {
            values: vec![FeatureValue::Scalar(Value::Null); features],
            statuses: vec![status; features],
            newest_event_time: newest,
        }
    }
}

/// Why a query cannot be answered exactly from this state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The query needs events that were evicted.
    #[error(
        "as-of time {t} is before the retained range (from {supported_from}); rebuild from the event log for older queries"
    )]
    BeforeRetention {
        /// Requested time.
        t: i64,
        /// Oldest supported query time.
        supported_from: i64,
    },
    /// The knowledge cutoff is earlier than the ingest time of evicted events that the query would need.
    #[error(
        "knowledge cutoff {k} is earlier than evicted history (ingested up to {evicted_ingest}); use the batch path"
    )]
    CutoffBeforeEviction {
        /// Requested cutoff.
        k: i64,
        /// Newest ingest time among evicted events.
        evicted_ingest: i64,
    },
}

/// What an insert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The event now counts.
    Inserted,
    /// An event with the same id (or the same position) was already known, ingested no later: ignored.
    Duplicate,
    /// The event is older than evicted history and cannot be placed; it is in the event log for backfills.
    TooLate,
}

/// An event as stored: its order, its id, and the feature inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredEvent {
    pub(crate) order: EventOrder,
    pub(crate) id: Option<KeyPart>,
    pub(crate) values: Box<[Value]>,
}

/// What remains of evicted events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Prefix {
    /// Every event with `event_time < evicted_before` has been evicted.
    pub(crate) evicted_before: i64,
    /// Oldest query time still answered exactly.
    pub(crate) supported_from: i64,
    /// Newest event time among evicted events, if any were evicted.
    pub(crate) newest_event_time: Option<i64>,
    /// Newest ingest time among evicted events, if any were evicted.
    pub(crate) newest_ingest_time: Option<i64>,
    /// Accumulators of unbounded features (`None` for windowed ones), fed with evicted events in order.
    pub(crate) accumulators: Vec<Option<Accumulator>>,
}

/// How to build accumulators for a view's features.
#[derive(Clone, Debug)]
pub(crate) struct FeatureSpecs {
    pub(crate) features: Vec<FeatureDef>,
    /// Per feature, its input slot in [`StoredEvent::values`].
    pub(crate) slots: Vec<Option<usize>>,
    /// Per feature, whether its input is an integer column (exact sums).
    pub(crate) int_inputs: Vec<bool>,
    pub(crate) ttl: Option<i64>,
}

impl FeatureSpecs {
    fn accumulator(&self, i: usize) -> Accumulator {
        let f = &self.features[i];
        Accumulator::new(
            f.aggregation,
            f.column.is_some(),
            self.int_inputs[i],
            f.n.unwrap_or(1),
        )
    }

    fn input<'e>(&self, i: usize, event: &'e StoredEvent) -> &'e Value {
        self.slots[i]
            .and_then(|s| event.values.get(s))
            .unwrap_or(&Value::Null)
    }
}

/// The order in which copies of one event id became known: the first is the one that counts.
fn ingest_order(o: &EventOrder) -> (i64, u64, i64) {
    (o.ingest_time, o.position, o.event_time)
}

/// One entity's events in one view.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityState {
    events: Vec<StoredEvent>,
    prefix: Option<Box<Prefix>>,
}

impl EntityState {
    /// Number of retained (not evicted) events.
    pub fn retained(&self) -> usize {
        self.events.len()
    }

    /// Inserts an event at its canonical position.
    pub(crate) fn insert(&mut self, event: PreparedEvent) -> InsertOutcome {
        if self
            .prefix
            .as_ref()
            .is_some_and(|p| event.order.event_time < p.evicted_before)
        {
            return InsertOutcome::TooLate;
        }
        if let Some(id) = &event.id
            && let Some(existing) = self.events.iter().position(|e| e.id.as_ref() == Some(id))
        {
            // The copy ingested first is the one that counts; a later copy changes nothing.
            if ingest_order(&self.events[existing].order) <= ingest_order(&event.order) {
                return InsertOutcome::Duplicate;
            }
            self.events.remove(existing);
        }
        let at = self.events.partition_point(|e| e.order < event.order);
        if self.events.get(at).is_some_and(|e| e.order == event.order) {
            // Same time, ingest time and source position: the same record delivered again.
            return InsertOutcome::Duplicate;
        }
        let stored = StoredEvent {
            order: event.order,
            id: event.id,
            values: event.values.into_boxed_slice(),
        };
        self.events.insert(at, stored);
        InsertOutcome::Inserted
    }

    /// Builds the state from events in any order, as inserting them one by one would.
    pub(crate) fn from_events(mut events: Vec<PreparedEvent>) -> EntityState {
        events.sort_by_key(|e| e.order);
        let mut state = EntityState::default();
        let has_ids = events.iter().any(|e| e.id.is_some());
        if !has_ids {
            events.dedup_by_key(|e| e.order);
            state.events = events
                .into_iter()
                .map(|e| StoredEvent {
                    order: e.order,
                    id: None,
                    values: e.values.into_boxed_slice(),
                })
                .collect();
            return state;
        }
        // With ids, keep the first-ingested copy of each id: visit in ingest order.
        let mut by_ingest: Vec<usize> = (0..events.len()).collect();
        by_ingest.sort_by_key(|i| ingest_order(&events[*i].order));
        let mut seen = std::collections::HashSet::new();
        let mut keep = vec![false; events.len()];
        for i in by_ingest {
            keep[i] = match &events[i].id {
                Some(id) => seen.insert(id.clone()),
                None => true,
            };
        }
        let mut previous: Option<EventOrder> = None;
        for (e, keep) in events.into_iter().zip(keep) {
            if keep && previous != Some(e.order) {
                previous = Some(e.order);
                state.events.push(StoredEvent {
                    order: e.order,
                    id: e.id,
                    values: e.values.into_boxed_slice(),
                });
            }
        }
        state
    }

    /// The value of every feature as of event time `t` with knowledge cutoff `k` (microseconds).
    pub(crate) fn query(
        &self,
        specs: &FeatureSpecs,
        t: i64,
        k: i64,
    ) -> Result<ViewRow, QueryError> {
        let features = specs.features.len();
        let end = self.events.partition_point(|e| e.order.event_time <= t);
        let mut newest = self.events[..end]
            .iter()
            .rev()
            .find(|e| e.order.ingest_time <= k)
            .map(|e| e.order.event_time);
        if let Some(p) = &self.prefix {
            if t < p.supported_from {
                return Err(QueryError::BeforeRetention {
                    t,
                    supported_from: p.supported_from,
                });
            }
            let needs_prefix =
                newest.is_none() || specs.features.iter().any(|f| f.window.is_none());
            if let Some(evicted_ingest) = p.newest_ingest_time
                && needs_prefix
                && k < evicted_ingest
            {
                return Err(QueryError::CutoffBeforeEviction { k, evicted_ingest });
            }
            newest = newest.or(p.newest_event_time);
        }
        let Some(newest) = newest else {
            return Ok(ViewRow::not_found(features));
        };
        if specs.ttl.is_some_and(|ttl| newest <= t.saturating_sub(ttl)) {
            return Ok(ViewRow::all_null(
                features,
                FeatureStatus::OutsideMaxAge,
                Some(newest),
            ));
        }
        let mut values = Vec::with_capacity(features);
        for (i, f) in specs.features.iter().enumerate() {
            let (start, mut acc) = match f.window {
                Some(w) => {
                    let from = t.saturating_sub(w);
                    (
                        self.events[..end].partition_point(|e| e.order.event_time <= from),
                        specs.accumulator(i),
                    )
                }
                None => {
                    let prefix = self.prefix.as_ref().and_then(|p| p.accumulators[i].clone());
                    (0, prefix.unwrap_or_else(|| specs.accumulator(i)))
                }
            };
            for e in &self.events[start..end] {
                if e.order.ingest_time <= k {
                    acc.update(specs.input(i, e));
                }
            }
            values.push(acc.finish());
        }
        let statuses = values
            .iter()
            .map(|v| {
                if v.is_null() {
                    FeatureStatus::NullValue
                } else {
                    FeatureStatus::Present
                }
            })
            .collect();
        Ok(ViewRow {
            values,
            statuses,
            newest_event_time: Some(newest),
        })
    }

    /// Evicts what no query at or after `supported_from` needs, given the longest window of the view's
    /// windowed features. Evicted events are folded into the prefix in canonical order.
    pub(crate) fn evict(&mut self, specs: &FeatureSpecs, supported_from: i64, longest_window: i64) {
        let evict_before = supported_from
            .saturating_sub(longest_window)
            .saturating_add(1);
        let cut = self
            .events
            .partition_point(|e| e.order.event_time < evict_before);
        let prefix = self.prefix.get_or_insert_with(|| {
            Box::new(Prefix {
                evicted_before: i64::MIN,
                supported_from: i64::MIN,
                newest_event_time: None,
                newest_ingest_time: None,
                accumulators: specs
                    .features
                    .iter()
                    .enumerate()
                    .map(|(i, f)| f.window.is_none().then(|| specs.accumulator(i)))
                    .collect(),
            })
        });
        for e in self.events.drain(..cut) {
            prefix.newest_event_time = prefix.newest_event_time.max(Some(e.order.event_time));
            prefix.newest_ingest_time = prefix.newest_ingest_time.max(Some(e.order.ingest_time));
            for (i, acc) in prefix.accumulators.iter_mut().enumerate() {
                if let Some(acc) = acc {
                    acc.update(specs.input(i, &e));
                }
            }
        }
        prefix.evicted_before = prefix.evicted_before.max(evict_before);
        prefix.supported_from = prefix.supported_from.max(supported_from);
    }
}
