//! The as-of query `f(e, t, k)` over one entity's history, wherever its values live.
//!
//! Wherever an entity's values live ([`crate::values`]: its own flat vector in incremental state, a
//! prepared batch, a columnar reader's rows), this one generic query answers: the same binary
//! searches, the same picks, the same folds in the same order. Where a window's float inputs lie
//! side by side, they are folded straight from their slice instead of looked up event by event: the
//! same values in the same order, without a dynamic lookup per event.

use crate::accumulate::{Accumulator, FeatureValue};
use crate::aggregation::Aggregation;
use crate::entity::{FeatureSpecs, FeatureStatus, Prefix, QueryError, ViewRow};
use crate::placed::{Placed, WindowStarts};
use crate::value::Value;
use crate::values::EventValues;
use crate::view::EventOrder;
use std::borrow::Cow;
use std::ops::Range;

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
        let mut row = ViewRow::not_found(0);
        self.query_into(specs, t, k, &mut row)?;
        Ok(row)
    }

    /// [`History::query`] into `row`, whose vectors are reused: a training set asks a million
    /// queries, and two allocations and a drop per answer were a few percent of its time. On an
    /// error `row` is left as it was.
    pub(crate) fn query_into(
        &self,
        specs: &FeatureSpecs,
        t: i64,
        k: i64,
        row: &mut ViewRow,
    ) -> Result<(), QueryError> {
        let features = specs.features.len();
        let (end, newest) = match self.locate(specs, t, k)? {
            Located::NotFound => {
                row.set_all_null(features, FeatureStatus::NotFound, None);
                return Ok(());
            }
            Located::OutsideMaxAge(newest) => {
                row.set_all_null(features, FeatureStatus::OutsideMaxAge, Some(newest));
                return Ok(());
            }
            Located::Found { end, newest } => (end, newest),
        };
        let values = &mut row.values;
        values.clear();
        let mut placed = Placed::new(end);
        for (i, f) in specs.features.iter().enumerate() {
            let value = match f.aggregation {
                Aggregation::Last => self
                    .picked(specs, i, &mut placed, t, k)
                    .and_then(|e| self.value_of(specs, i, e))
                    .unwrap_or_else(|| self.accumulator(specs, i).finish()),
                Aggregation::First => match self.accumulator(specs, i).finish() {
                    // Evicted events came before every retained one: their first value stands.
                    FeatureValue::Scalar(Value::Null) => self
                        .picked(specs, i, &mut placed, t, k)
                        .and_then(|e| self.value_of(specs, i, e))
                        .unwrap_or(FeatureValue::Scalar(Value::Null)),
                    from_evicted => from_evicted,
                },
                _ => self.fold_feature(specs, i, &mut placed.starts, t, end, k),
            };
            values.push(value);
        }
        row.statuses.clear();
        row.statuses
            .extend(row.values.iter().map(FeatureStatus::of_value));
        row.newest_event_time = Some(newest);
        Ok(())
    }

    /// The event each feature picks as of `t` known by `k`, into `picks` (emptied unless found), and
    /// where the query stands: [`History::query_into`] without reading any value, for a view whose
    /// features are all `last` or `first` over a history with nothing evicted. Each picked event's
    /// input is that feature's value; a feature that picked none is null.
    pub(crate) fn pick_into(
        &self,
        specs: &FeatureSpecs,
        t: i64,
        k: i64,
        picks: &mut Vec<Option<usize>>,
    ) -> Result<Located, QueryError> {
        let located = self.locate(specs, t, k)?;
        picks.clear();
        if let Located::Found { end, .. } = located {
            let mut placed = Placed::new(end);
            picks.extend(
                (0..specs.features.len()).map(|i| self.picked(specs, i, &mut placed, t, k)),
            );
        }
        Ok(located)
    }

    /// Where the query stands before any feature is computed: its events at or before `t` (`..end`)
    /// and the newest one's time, or why every feature is null.
    fn locate(&self, specs: &FeatureSpecs, t: i64, k: i64) -> Result<Located, QueryError> {
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
        Ok(match newest {
            None => Located::NotFound,
            Some(newest) if specs.ttl.is_some_and(|ttl| newest <= t.saturating_sub(ttl)) => {
                Located::OutsideMaxAge(newest)
            }
            Some(newest) => Located::Found { end, newest },
        })
    }

    /// Feature `i`'s accumulator before any retained event: what eviction folded for a feature
    /// without a window, empty otherwise.
    fn accumulator(&self, specs: &FeatureSpecs, i: usize) -> Accumulator {
        let evicted = match specs.features[i].window {
            None => self
                .prefix
                .and_then(|p| p.accumulators.get(i).cloned().flatten()),
            Some(_) => None,
        };
        evicted.unwrap_or_else(|| specs.accumulator(i))
    }

    /// Feature `i`'s value read from event `e`, if it counts there.
    fn value_of(&self, specs: &FeatureSpecs, i: usize, e: usize) -> Option<FeatureValue> {
        let slot = specs.slots[i]?;
        self.values.counted(e, slot).map(FeatureValue::Scalar)
    }

    /// The retained event whose input is the value of feature `i` (a `last` or a `first`), for the
    /// query at `t` known by `k` whose events at or before `t` are `placed`'s: the newest or the
    /// oldest counted one (known by `k`, not null, not NaN) of its window. `None` when none counts
    /// (or the feature picks nothing): then the value is what eviction left, or null.
    ///
    /// Stopping at the first counted event selects exactly what the full fold would, without reading
    /// the rest. A `last` scans back from `t` and stops at its window's edge, which reads the same
    /// events in the same order as scanning the placed window and saves placing it (a binary search
    /// per window per query, most of a last-value query); the scan is shared by the `last` features
    /// of one input.
    fn picked(
        &self,
        specs: &FeatureSpecs,
        i: usize,
        placed: &mut Placed,
        t: i64,
        k: i64,
    ) -> Option<usize> {
        let f = &specs.features[i];
        let slot = specs.slots[i]?;
        let end = placed.scans.end();
        let known_and_counted =
            |e: usize| self.orders[e].ingest_time <= k && self.values.is_counted(e, slot);
        match f.aggregation {
            Aggregation::Last => {
                let from = f.window.map(|w| t.saturating_sub(w));
                let inside = |e: usize| from.is_none_or(|from| self.orders[e].event_time > from);
                let Some(scan) = placed.scans.of(slot) else {
                    return (0..end)
                        .rev()
                        .take_while(|&e| inside(e))
                        .find(|&e| known_and_counted(e));
                };
                scan.newest(inside, known_and_counted)
            }
            Aggregation::First => {
                let start = self.window_start(&mut placed.starts, f.window, t, end);
                (start..end).find(|&e| known_and_counted(e))
            }
            _ => None,
        }
    }

    /// The first of the events `..end` inside window `window` (`None`: unbounded) ending at `t`,
    /// placed once per window and query.
    fn window_start(
        &self,
        starts: &mut WindowStarts,
        window: Option<i64>,
        t: i64,
        end: usize,
    ) -> usize {
        match window {
            Some(w) => starts.of(w, || {
                let from = t.saturating_sub(w);
                self.orders[..end].partition_point(|o| o.event_time <= from)
            }),
            None => 0,
        }
    }

    /// Feature `i` (one that folds every event of its window) as of `t` known by `k`, over the
    /// events `..end`.
    fn fold_feature(
        &self,
        specs: &FeatureSpecs,
        i: usize,
        starts: &mut WindowStarts,
        t: i64,
        end: usize,
        k: i64,
    ) -> FeatureValue {
        let start = self.window_start(starts, specs.features[i].window, t, end);
        let mut acc = self.accumulator(specs, i);
        // Sums, means, counts and variances read a float input as a number: fold it without
        // building a value per event (other inputs take the general path).
        let floats = acc.takes_floats();
        let run = match specs.slots[i] {
            Some(s) if floats => self.values.float_run(s, start..end),
            _ => None,
        };
        if let Some((xs, nulls)) = run {
            self.fold_floats(&mut acc, start, xs, nulls, k);
        } else {
            self.fold(specs, i, &mut acc, start..end, k);
        }
        acc.finish()
    }

    /// Folds feature `i`'s inputs of `events` known by `k` into `acc`, one event at a time.
    fn fold(
        &self,
        specs: &FeatureSpecs,
        i: usize,
        acc: &mut crate::accumulate::Accumulator,
        events: Range<usize>,
        k: i64,
    ) {
        let floats = acc.takes_floats();
        for e in events {
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
    }

    /// Folds the float inputs `xs` (events `start..`, null where `nulls` says) known by `k` into
    /// `acc`: the loop of [`History::query`] over values already in one slice.
    fn fold_floats(
        &self,
        acc: &mut crate::accumulate::Accumulator,
        start: usize,
        xs: &[f64],
        nulls: Option<&[bool]>,
        k: i64,
    ) {
        let orders = &self.orders[start..start + xs.len()];
        match nulls {
            None => {
                for (o, &x) in orders.iter().zip(xs) {
                    if o.ingest_time <= k {
                        acc.update_float(Some(x));
                    }
                }
            }
            Some(nulls) => {
                for ((o, &x), &null) in orders.iter().zip(xs).zip(nulls) {
                    if o.ingest_time <= k {
                        acc.update_float((!null).then_some(x));
                    }
                }
            }
        }
    }
}

/// Where a query stands before its features are computed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Located {
    /// No event of the entity as of `t` and `k`: every feature null, `NOT_FOUND`.
    NotFound,
    /// The newest event (its time given) is older than the TTL: every feature null.
    OutsideMaxAge(i64),
    /// The query's events at or before `t` are `..end`; the newest known one is at `newest`.
    Found { end: usize, newest: i64 },
}
