//! The state of one entity in one feature view, and the as-of query over it.
//!
//! Events that passed the view's filter are kept in a vector sorted in canonical order (event time, ingest
//! time, source position). A query `f(e, t, k)` binary-searches the window `(t - W, t]` and folds the
//! events whose ingest time is at most `k`, in order, into an `Accumulator`: there is no second
//! implementation and no order-dependent shortcut, so the result depends only on the set of events.
//!
//! Memory stays bounded through eviction: events too old for any supported query are removed from the
//! front of the vector and folded, in the same canonical order, into a `Prefix` that keeps what
//! unbounded features and the TTL still need (their accumulators, the newest event time). Folding prefix
//! then retained events performs exactly the operations a full scan would, so eviction never changes a
//! value. Queries that would need evicted detail (`t` before the supported range, or a knowledge cutoff
//! earlier than what was evicted) are refused rather than answered wrongly.

use crate::accumulate::{Accumulator, FeatureValue};
use crate::key::KeyPart;
use crate::query::History;
use crate::value::Value;
use crate::values::Flat;
use crate::view::{EventOrder, FeatureDef, PreparedEvent};
use serde::{Deserialize, Serialize};

mod codec;

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

impl FeatureStatus {
    /// The status of a found entity's feature with value `value`.
    pub(crate) fn of_value(value: &FeatureValue) -> FeatureStatus {
        if value.is_null() {
            FeatureStatus::NullValue
        } else {
            FeatureStatus::Present
        }
    }
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

    pub(crate) fn all_null(features: usize, status: FeatureStatus, newest: Option<i64>) -> ViewRow {
        ViewRow {
            values: vec![FeatureValue::Scalar(Value::Null); features],
            statuses: vec![status; features],
            newest_event_time: newest,
        }
    }

    /// Makes this row [`ViewRow::all_null`]'s, keeping its vectors' memory.
    pub(crate) fn set_all_null(
        &mut self,
        features: usize,
        status: FeatureStatus,
        newest: Option<i64>,
    ) {
        self.values.clear();
        self.values
            .resize(features, FeatureValue::Scalar(Value::Null));
        self.statuses.clear();
        self.statuses.resize(features, status);
        self.newest_event_time = newest;
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

/// What remains of evicted events.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct Prefix {
    /// Every event with `event_time < evicted_before` has been evicted.
    pub(crate) evicted_before: i64,
    /// Oldest query time still answered exactly.
    pub(crate) supported_from: i64,
    /// Newest event time among evicted events, if any were evicted.
    pub(crate) newest_event_time: Option<i64>,
    /// Newest ingest time among evicted events, if any were evicted.
    pub(crate) newest_ingest_time: Option<i64>,
    /// Accumulators of unbounded features (`None` for windowed ones), fed with evicted events in order;
    /// empty when the view has no unbounded feature, which spares every entity an allocation.
    pub(crate) accumulators: Vec<Option<Accumulator>>,
    /// Ids of evicted events with the ingest order of the copy that counted, so a later copy is still
    /// recognised as a duplicate. Ordered, so snapshots stay deterministic; empty without event ids.
    pub(crate) evicted_ids: std::collections::BTreeMap<KeyPart, (i64, u64, i64)>,
}

/// How to build accumulators for a view's features, and how stored values are laid out.
#[derive(Clone, Debug)]
pub(crate) struct FeatureSpecs {
    pub(crate) features: Vec<FeatureDef>,
    /// Per feature, its input slot within an event's values.
    pub(crate) slots: Vec<Option<usize>>,
    /// Values stored per event (the view's distinct feature inputs).
    pub(crate) stride: usize,
    /// Per feature, whether its input is an integer column (exact sums).
    pub(crate) int_inputs: Vec<bool>,
    pub(crate) ttl: Option<i64>,
}

impl FeatureSpecs {
    pub(crate) fn accumulator(&self, i: usize) -> Accumulator {
        let f = &self.features[i];
        Accumulator::new(
            f.aggregation,
            f.column.is_some(),
            self.int_inputs[i],
            f.n.unwrap_or(1),
        )
    }
}

/// The order in which copies of one event id became known: the first is the one that counts.
pub(crate) fn ingest_order(o: &EventOrder) -> (i64, u64, i64) {
    (o.ingest_time, o.position, o.event_time)
}

/// One entity's events in one view, stored column-wise in canonical order: `orders[i]` is event i's
/// place in time, `values[i * stride ..][..stride]` its feature inputs, and `ids[i]` its id (the `ids`
/// vector stays empty for views without event ids). One allocation per column, none per event.
///
/// Records and snapshots encode it with the layout of the `codec` module. The serde derive reads
/// the postcard layout of `FRE1` records and format-2 snapshots, written by earlier builds.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct EntityState {
    orders: Vec<EventOrder>,
    ids: Vec<Option<KeyPart>>,
    values: Vec<Value>,
    prefix: Option<Box<Prefix>>,
    /// Newest (ingest time, position) of any event applied to the entity, counted or not (a duplicate,
    /// a copy replaced by an earlier-ingested one, a late event): what the entity has been told, which
    /// only grows, whatever the arrival order. Versions its online record.
    seen: Option<(i64, u64)>,
}

impl EntityState {
    /// Number of retained (not evicted) events.
    pub fn retained(&self) -> usize {
        self.orders.len()
    }

    /// The newest (ingest time, position) of any event applied to this entity: what it has been told,
    /// which only grows as events are applied. `(i64::MIN, 0)` for an empty state.
    pub(crate) fn newest_ingest(&self) -> (i64, u64) {
        self.seen.unwrap_or((i64::MIN, 0))
    }

    /// The retained events' orders and values, and the eviction summary: what a query reads.
    pub(crate) fn parts(&self) -> (&[EventOrder], &[Value], Option<&Prefix>) {
        (&self.orders, &self.values, self.prefix.as_deref())
    }

    /// Event time of the newest event this entity has seen, retained or evicted.
    pub fn newest_event_time(&self) -> Option<i64> {
        let retained = self.orders.last().map(|o| o.event_time);
        let evicted = self.prefix.as_ref().and_then(|p| p.newest_event_time);
        retained.max(evicted)
    }

    fn input(&self, specs: &FeatureSpecs, feature: usize, event: usize) -> &Value {
        specs.slots[feature]
            .and_then(|s| self.values.get(event * specs.stride + s))
            .unwrap_or(&Value::Null)
    }

    fn remove(&mut self, index: usize, stride: usize) {
        self.orders.remove(index);
        if !self.ids.is_empty() {
            self.ids.remove(index);
        }
        self.values.drain(index * stride..(index + 1) * stride);
    }

    /// Reads the lines the next insert will touch and returns a meaningless value built from them, so
    /// the reads are not optimised away: the batch path calls it for a chunk's entities first, so their
    /// cache misses overlap instead of being paid one insert at a time.
    pub(crate) fn prefetch_for_insert(&self) -> i64 {
        // Both ends: an insert lands at the back, eviction reads and drains the front.
        let order = self.orders.last().map_or(0, |o| o.event_time)
            ^ self.orders.first().map_or(0, |o| o.event_time);
        let value = self.values.last().map_or(0, |v| i64::from(v.is_null()))
            ^ self.values.first().map_or(0, |v| i64::from(v.is_null()));
        // The eviction summary is read by every insert (is the event too late?) and written by every
        // eviction; it lives in its own allocation, so it is one more line to pull in.
        let prefix = self.prefix.as_ref().map_or(0, |p| p.evicted_before);
        // Every insert updates the newest ingest seen, which may lie on the state's other line.
        let seen = self.seen.map_or(0, |(ingest_time, _)| ingest_time);
        order ^ value ^ prefix ^ seen
    }

    /// Inserts an event at its canonical position.
    pub(crate) fn insert(&mut self, event: PreparedEvent, stride: usize) -> InsertOutcome {
        let PreparedEvent {
            order, id, values, ..
        } = event;
        self.insert_parts(order, id, values.into_iter(), stride)
    }

    /// [`EntityState::insert`] from parts, so the hot path can stream values from a reused buffer.
    pub(crate) fn insert_parts(
        &mut self,
        order: EventOrder,
        id: Option<KeyPart>,
        values: impl Iterator<Item = Value>,
        stride: usize,
    ) -> InsertOutcome {
        self.seen = self.seen.max(Some((order.ingest_time, order.position)));
        if self
            .prefix
            .as_ref()
            .is_some_and(|p| order.event_time < p.evicted_before)
        {
            return InsertOutcome::TooLate;
        }
        let mut at = self.orders.partition_point(|o| *o < order);
        if self.orders.get(at) == Some(&order) {
            // Same time, ingest time and source position: the same record delivered again.
            return InsertOutcome::Duplicate;
        }
        if let Some(id) = &id
            && let Some(existing) = self.ids.iter().position(|e| e.as_ref() == Some(id))
        {
            // The copy ingested first is the one that counts; a later copy changes nothing.
            if ingest_order(&self.orders[existing]) <= ingest_order(&order) {
                return InsertOutcome::Duplicate;
            }
            self.remove(existing, stride);
            if existing < at {
                at -= 1;
            }
        }
        if let (Some(id), Some(prefix)) = (&id, &self.prefix)
            && let Some(first) = prefix.evicted_ids.get(id)
        {
            // The counted copy was evicted. A later copy is a duplicate; an earlier-ingested one (only
            // possible with explicit ingest times) would have to replace it, which eviction makes
            // impossible here: the batch path over the event log handles it.
            return if *first <= ingest_order(&order) {
                InsertOutcome::Duplicate
            } else {
                InsertOutcome::TooLate
            };
        }
        if id.is_some() && self.ids.len() < self.orders.len() {
            self.ids.resize(self.orders.len(), None);
        }
        if !self.ids.is_empty() || id.is_some() {
            self.ids.insert(at, id);
        }
        self.orders.insert(at, order);
        if at == self.orders.len() - 1 {
            self.values.extend(values);
        } else {
            self.values.splice(at * stride..at * stride, values);
        }
        InsertOutcome::Inserted
    }

    /// The value of every feature as of event time `t` with knowledge cutoff `k` (microseconds).
    pub(crate) fn query(
        &self,
        specs: &FeatureSpecs,
        t: i64,
        k: i64,
    ) -> Result<ViewRow, QueryError> {
        History {
            orders: &self.orders,
            values: Flat {
                values: &self.values,
                stride: specs.stride,
            },
            prefix: self.prefix.as_deref(),
        }
        .query(specs, t, k)
    }

    /// Evicts only if the oldest retained event is old enough to go: the cheap check on the hot path.
    pub(crate) fn evict_if_due(
        &mut self,
        specs: &FeatureSpecs,
        supported_from: i64,
        longest_window: i64,
    ) {
        let evict_before = supported_from
            .saturating_sub(longest_window)
            .saturating_add(1);
        if self
            .orders
            .first()
            .is_some_and(|o| o.event_time < evict_before)
        {
            self.evict(specs, supported_from, longest_window);
        }
    }

    /// Evicts what no query at or after `supported_from` needs, given the longest window of the view's
    /// windowed features. Evicted events are folded into the prefix in canonical order.
    pub(crate) fn evict(&mut self, specs: &FeatureSpecs, supported_from: i64, longest_window: i64) {
        let evict_before = supported_from
            .saturating_sub(longest_window)
            .saturating_add(1);
        let cut = self.orders.partition_point(|o| o.event_time < evict_before);
        if cut == 0 {
            // Nothing to evict: every query the state answered stays exact, so nothing needs recording.
            if let Some(p) = &mut self.prefix {
                p.supported_from = p.supported_from.max(supported_from);
            }
            return;
        }
        let mut prefix = self.prefix.take().unwrap_or_else(|| {
            Box::new(Prefix {
                evicted_before: i64::MIN,
                supported_from: i64::MIN,
                newest_event_time: None,
                newest_ingest_time: None,
                evicted_ids: std::collections::BTreeMap::new(),
                accumulators: if specs.features.iter().all(|f| f.window.is_some()) {
                    Vec::new()
                } else {
                    specs
                        .features
                        .iter()
                        .enumerate()
                        .map(|(i, f)| f.window.is_none().then(|| specs.accumulator(i)))
                        .collect()
                },
            })
        });
        for e in 0..cut {
            let order = self.orders[e];
            if let Some(Some(id)) = self.ids.get(e) {
                prefix.evicted_ids.insert(id.clone(), ingest_order(&order));
            }
            prefix.newest_event_time = prefix.newest_event_time.max(Some(order.event_time));
            prefix.newest_ingest_time = prefix.newest_ingest_time.max(Some(order.ingest_time));
            for (i, acc) in prefix.accumulators.iter_mut().enumerate() {
                if let Some(acc) = acc {
                    acc.update(self.input(specs, i, e));
                }
            }
        }
        self.orders.drain(..cut);
        if !self.ids.is_empty() {
            self.ids.drain(..cut);
        }
        self.values.drain(..cut * specs.stride);
        prefix.evicted_before = prefix.evicted_before.max(evict_before);
        prefix.supported_from = prefix.supported_from.max(supported_from);
        self.prefix = Some(prefix);
    }
}
