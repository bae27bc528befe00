//! The as-of query `f(e, t, k)` over one entity's history, wherever its values live.
//!
//! Incremental state keeps each entity's values in its own flat vector ([`Flat`]); the batch path
//! leaves them where they were prepared, in one large batch, and reaches them through the entity's
//! sorted event indexes ([`Indexed`]), so answering a training set never copies an event's values.
//! Both run this one generic query: the same binary searches, the same folds in the same order.

use crate::accumulate::FeatureValue;
use crate::aggregation::Aggregation;
use crate::answer::Parts;
use crate::batch::EventBatch;
use crate::column::InputColumn;
use crate::entity::{FeatureSpecs, FeatureStatus, Prefix, QueryError, ViewRow};
use crate::value::Value;
use crate::view::EventOrder;
use std::borrow::Cow;

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

    /// That input as a float without building a [`Value`] (`Some(None)`: null), where it is stored
    /// as one; `None` otherwise, and the caller reads it through [`EventValues::get`].
    fn float(&self, event: usize, slot: usize) -> Option<Option<f64>> {
        match &*self.get(event, slot) {
            Value::Float64(f) => Some(Some(*f)),
            Value::Null => Some(None),
            _ => None,
        }
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
    pub(crate) parts: &'a [EventBatch],
    pub(crate) index: &'a [usize],
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
}

/// One entity's retained events in canonical order, their values, and what eviction left.
pub(crate) struct History<'a, V> {
    pub(crate) orders: &'a [EventOrder],
    pub(crate) values: V,
    pub(crate) prefix: Option<&'a Prefix>,
}

impl<V: EventValues> History<'_, V> {
    fn input(&self, specs: &FeatureSpecs, feature: usize, event: usize) -> Cow<'_, Value> {
        match specs.slots[feature] {
            Some(s) => self.values.get(event, s),
            None => Cow::Owned(Value::Null),
        }
    }

    /// The value of every feature as of event time `t` with knowledge cutoff `k` (microseconds).
    pub(crate) fn query(
        &self,
        specs: &FeatureSpecs,
        t: i64,
        k: i64,
    ) -> Result<ViewRow, QueryError> {
        let features = specs.features.len();
        let end = self.orders.partition_point(|o| o.event_time <= t);
        let mut newest = self.orders[..end]
            .iter()
            .rev()
            .find(|o| o.ingest_time <= k)
            .map(|o| o.event_time);
        if let Some(p) = self.prefix {
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
                        self.orders[..end].partition_point(|o| o.event_time <= from),
                        specs.accumulator(i),
                    )
                }
                None => {
                    let prefix = self
                        .prefix
                        .and_then(|p| p.accumulators.get(i).cloned().flatten());
                    (0, prefix.unwrap_or_else(|| specs.accumulator(i)))
                }
            };
            let value = match f.aggregation {
                // `first` and `last` pick one value: scanning from the right end and stopping at the
                // first counted one selects exactly what the full fold would, without reading the rest.
                Aggregation::Last => self
                    .pick(specs, i, (start..end).rev(), k)
                    .unwrap_or_else(|| acc.finish()),
                Aggregation::First => match acc.finish() {
                    FeatureValue::Scalar(Value::Null) => {
                        self.pick(specs, i, start..end, k).unwrap_or(acc.finish())
                    }
                    from_evicted_history => from_evicted_history,
                },
                _ => {
                    // Sums, means, counts and variances read a float input as a number: fold it
                    // without building a value per event (other inputs take the general path).
                    let floats = acc.takes_floats();
                    for e in start..end {
                        if self.orders[e].ingest_time > k {
                            continue;
                        }
                        let float = match specs.slots[i] {
                            _ if !floats => None,
                            Some(s) => self.values.float(e, s),
                            None => Some(None),
                        };
                        match float {
                            Some(x) => acc.update_float(x),
                            None => acc.update(&self.input(specs, i, e)),
                        }
                    }
                    acc.finish()
                }
            };
            values.push(value);
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

    /// The first counted (known by `k`, non-null, not NaN) input of feature `i` among `events`.
    fn pick(
        &self,
        specs: &FeatureSpecs,
        i: usize,
        mut events: impl Iterator<Item = usize>,
        k: i64,
    ) -> Option<FeatureValue> {
        events
            .find(|&e| {
                self.orders[e].ingest_time <= k
                    && specs.slots[i].is_some_and(|s| self.values.is_counted(e, s))
            })
            .map(|e| FeatureValue::Scalar(self.input(specs, i, e).into_owned()))
    }
}
