//! Accumulators: each aggregation as a sequential fold over events in canonical order.
//!
//! This is the one place feature arithmetic happens. Every path (a streaming read, a batch query, the
//! fold of evicted history into an entity's prefix) feeds values to an [`Accumulator`] in canonical order
//! and reads [`Accumulator::finish`], so the same events always give bit-identical results:
//!
//! - `sum` adds in canonical order (integers exactly in `i128`, null if the result leaves `i64`);
//! - `mean` is the exact integer sum divided by the count, or the ordered float sum divided by the count;
//! - `variance` and `stddev` use Welford's update in canonical order (sample statistics, n - 1);
//! - `first`/`last`/`last_n` take the earliest/latest non-null values in canonical order;
//! - `count_distinct` is exact; `approx_count_distinct` is HyperLogLog with 2^12 registers over a fixed
//!   64-bit hash (xxh3), standard error about 1.6 %, exact to within rounding for small counts.
//!
//! Nulls are skipped by all but a row count; a float NaN is treated as null.

use crate::aggregation::Aggregation;
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// HyperLogLog precision: 2^12 registers.
const HLL_BITS: u32 = 12;
const HLL_REGISTERS: usize = 1 << HLL_BITS;

/// A hashable, ordered stand-in for a value, for distinct counting (`-0.0` equals `0.0`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum DistinctKey {
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(Arc<str>),
    Time(i64),
}

impl DistinctKey {
    fn of(v: &Value) -> Option<DistinctKey> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => DistinctKey::Bool(*b),
            Value::Int64(i) => DistinctKey::Int(*i),
            Value::Float64(f) if f.is_nan() => return None,
            Value::Float64(f) => DistinctKey::Float(if *f == 0.0 { 0 } else { f.to_bits() }),
            Value::String(s) => DistinctKey::Str(s.clone()),
            Value::Timestamp(t) => DistinctKey::Time(t.micros()),
        })
    }

    fn hash64(&self) -> u64 {
        use xxhash_rust::xxh3::xxh3_64;
        match self {
            DistinctKey::Bool(b) => xxh3_64(&[0, u8::from(*b)]),
            DistinctKey::Int(i) => xxh3_64(&[&[1u8][..], &i.to_le_bytes()].concat()),
            DistinctKey::Float(bits) => xxh3_64(&[&[2u8][..], &bits.to_le_bytes()].concat()),
            DistinctKey::Str(s) => xxh3_64(&[&[3u8][..], s.as_bytes()].concat()),
            DistinctKey::Time(t) => xxh3_64(&[&[4u8][..], &t.to_le_bytes()].concat()),
        }
    }
}

/// The running state of one aggregation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Accumulator {
    CountRows(i64),
    CountValues(i64),
    SumInt {
        sum: i128,
    },
    SumFloat {
        sum: f64,
    },
    MeanInt {
        sum: i128,
        n: i64,
    },
    MeanFloat {
        sum: f64,
        n: i64,
    },
    Min(Option<Value>),
    Max(Option<Value>),
    Welford {
        n: i64,
        mean: f64,
        m2: f64,
        stddev: bool,
    },
    First(Option<Value>),
    Last(Option<Value>),
    LastN {
        n: usize,
        newest_last: VecDeque<Value>,
    },
    Distinct(BTreeSet<DistinctKey>),
    Hll(Vec<u8>),
}

/// The value of a feature: a scalar (possibly null) or, for `last_n`, a list newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FeatureValue {
    /// One value; `Value::Null` when there is none.
    Scalar(Value),
    /// The newest values first.
    List(Vec<Value>),
}

impl FeatureValue {
    /// Whether the feature has no value (`NULL_VALUE` when the entity is present).
    pub fn is_null(&self) -> bool {
        matches!(self, FeatureValue::Scalar(Value::Null))
    }
}

impl Accumulator {
    /// A fresh accumulator. `has_column` is false only for a row count; `int_input` selects exact
    /// integer arithmetic for `sum` and `mean`.
    pub(crate) fn new(
        aggregation: Aggregation,
        has_column: bool,
        int_input: bool,
        n: usize,
    ) -> Accumulator {
        use Aggregation as A;
        match aggregation {
            A::Count if has_column => Accumulator::CountValues(0),
            A::Count => Accumulator::CountRows(0),
            A::Sum if int_input => Accumulator::SumInt { sum: 0 },
            A::Sum => Accumulator::SumFloat { sum: 0.0 },
            A::Mean if int_input => Accumulator::MeanInt { sum: 0, n: 0 },
            A::Mean => Accumulator::MeanFloat { sum: 0.0, n: 0 },
            A::Min => Accumulator::Min(None),
            A::Max => Accumulator::Max(None),
            A::Stddev | A::Variance => Accumulator::Welford {
                n: 0,
                mean: 0.0,
                m2: 0.0,
                stddev: aggregation == A::Stddev,
            },
            A::First => Accumulator::First(None),
            A::Last => Accumulator::Last(None),
            A::LastN => Accumulator::LastN {
                n: n.max(1),
                newest_last: VecDeque::new(),
            },
            A::CountDistinct => Accumulator::Distinct(BTreeSet::new()),
            A::ApproxCountDistinct => Accumulator::Hll(vec![0; HLL_REGISTERS]),
        }
    }

    /// Whether [`Accumulator::update_float`] folds values for this aggregation: those whose update
    /// reads a float input as a number only.
    pub(crate) fn takes_floats(&self) -> bool {
        matches!(
            self,
            Accumulator::CountRows(_)
                | Accumulator::CountValues(_)
                | Accumulator::SumFloat { .. }
                | Accumulator::MeanFloat { .. }
                | Accumulator::Welford { .. }
        )
    }

    /// Folds in the next value, read from a float column (`None`: null), exactly as
    /// [`Accumulator::update`] folds the `Value::Float64` or `Value::Null` it stands for, without
    /// building that value. Only for an accumulator that [`Accumulator::takes_floats`].
    pub(crate) fn update_float(&mut self, value: Option<f64>) {
        if let Accumulator::CountRows(n) = self {
            *n += 1;
            return;
        }
        let Some(x) = value.filter(|x| !x.is_nan()) else {
            return;
        };
        match self {
            Accumulator::CountValues(n) => *n += 1,
            Accumulator::SumFloat { sum } => *sum += x,
            Accumulator::MeanFloat { sum, n } => {
                *sum += x;
                *n += 1;
            }
            Accumulator::Welford { n, mean, m2, .. } => {
                *n += 1;
                let delta = x - *mean;
                *mean += delta / *n as f64;
                *m2 += delta * (x - *mean);
            }
            other => other.update(&Value::Float64(x)),
        }
    }

    /// Folds in the next value in canonical order (`Value::Null` for a row count's missing column).
    pub(crate) fn update(&mut self, value: &Value) {
        if let Accumulator::CountRows(n) = self {
            *n += 1;
            return;
        }
        if value.is_null() || matches!(value, Value::Float64(f) if f.is_nan()) {
            return;
        }
        match self {
            Accumulator::CountRows(_) => {}
            Accumulator::CountValues(n) => *n += 1,
            Accumulator::SumInt { sum } => {
                if let Value::Int64(i) = value {
                    *sum += i128::from(*i);
                }
            }
            Accumulator::SumFloat { sum } => *sum += value.as_f64().unwrap_or(0.0),
            Accumulator::MeanInt { sum, n } => {
                if let Value::Int64(i) = value {
                    *sum += i128::from(*i);
                    *n += 1;
                }
            }
            Accumulator::MeanFloat { sum, n } => {
                *sum += value.as_f64().unwrap_or(0.0);
                *n += 1;
            }
            Accumulator::Min(best) => keep(best, value, std::cmp::Ordering::Less),
            Accumulator::Max(best) => keep(best, value, std::cmp::Ordering::Greater),
            Accumulator::Welford { n, mean, m2, .. } => {
                let x = value.as_f64().unwrap_or(0.0);
                *n += 1;
                let delta = x - *mean;
                *mean += delta / *n as f64;
                *m2 += delta * (x - *mean);
            }
            Accumulator::First(first) => {
                if first.is_none() {
                    *first = Some(value.clone());
                }
            }
            Accumulator::Last(last) => *last = Some(value.clone()),
            Accumulator::LastN { n, newest_last } => {
                newest_last.push_back(value.clone());
                if newest_last.len() > *n {
                    newest_last.pop_front();
                }
            }
            Accumulator::Distinct(set) => {
                if let Some(k) = DistinctKey::of(value) {
                    set.insert(k);
                }
            }
            Accumulator::Hll(registers) => {
                if let Some(k) = DistinctKey::of(value) {
                    let h = k.hash64();
                    let index = (h >> (64 - HLL_BITS)) as usize;
                    let rank = ((h << HLL_BITS) | (1 << (HLL_BITS - 1))).leading_zeros() as u8 + 1;
                    if let Some(r) = registers.get_mut(index) {
                        *r = (*r).max(rank);
                    }
                }
            }
        }
    }

    /// The feature's value for everything folded so far.
    pub(crate) fn finish(&self) -> FeatureValue {
        let scalar = FeatureValue::Scalar;
        match self {
            Accumulator::CountRows(n) | Accumulator::CountValues(n) => scalar(Value::Int64(*n)),
            Accumulator::SumInt { sum } => {
                scalar(i64::try_from(*sum).map_or(Value::Null, Value::Int64))
            }
            Accumulator::SumFloat { sum } => scalar(Value::Float64(*sum)),
            Accumulator::MeanInt { n: 0, .. } | Accumulator::MeanFloat { n: 0, .. } => {
                scalar(Value::Null)
            }
            Accumulator::MeanInt { sum, n } => scalar(Value::Float64(*sum as f64 / *n as f64)),
            Accumulator::MeanFloat { sum, n } => scalar(Value::Float64(*sum / *n as f64)),
            Accumulator::Min(v)
            | Accumulator::Max(v)
            | Accumulator::First(v)
            | Accumulator::Last(v) => scalar(v.clone().unwrap_or(Value::Null)),
            Accumulator::Welford { n, m2, stddev, .. } => {
                if *n < 2 {
                    return scalar(Value::Null);
                }
                let variance = m2 / (*n - 1) as f64;
                scalar(Value::Float64(if *stddev {
                    variance.sqrt()
                } else {
                    variance
                }))
            }
            Accumulator::LastN { newest_last, .. } if newest_last.is_empty() => scalar(Value::Null),
            Accumulator::LastN { newest_last, .. } => {
                FeatureValue::List(newest_last.iter().rev().cloned().collect())
            }
            Accumulator::Distinct(set) => scalar(Value::Int64(set.len() as i64)),
            Accumulator::Hll(registers) => scalar(Value::Int64(hll_estimate(registers))),
        }
    }
}

/// Keeps the smaller (`Less`) or larger (`Greater`) of the current best and `value`.
fn keep(best: &mut Option<Value>, value: &Value, wanted: std::cmp::Ordering) {
    let better = match best {
        None => true,
        Some(b) => crate::expr::order(value, b) == Some(wanted),
    };
    if better {
        *best = Some(value.clone());
    }
}

/// The HyperLogLog estimate with linear counting for small cardinalities (Flajolet et al. 2007).
fn hll_estimate(registers: &[u8]) -> i64 {
    let m = registers.len() as f64;
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let (sum, zeros) = registers.iter().fold((0.0f64, 0usize), |(s, z), r| {
        (s + 2f64.powi(-i32::from(*r)), z + usize::from(*r == 0))
    });
    let raw = alpha * m * m / sum;
    let estimate = if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        raw
    };
    estimate.round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(aggregation: Aggregation, int: bool, values: &[Value]) -> FeatureValue {
        let mut acc = Accumulator::new(aggregation, true, int, 3);
        values.iter().for_each(|v| acc.update(v));
        acc.finish()
    }

    #[test]
    fn empty_windows() {
        assert_eq!(
            fold(Aggregation::Count, false, &[]),
            FeatureValue::Scalar(Value::Int64(0))
        );
        assert_eq!(
            fold(Aggregation::Sum, true, &[]),
            FeatureValue::Scalar(Value::Int64(0))
        );
        assert_eq!(
            fold(Aggregation::Sum, false, &[]),
            FeatureValue::Scalar(Value::Float64(0.0))
        );
        for a in [
            Aggregation::Mean,
            Aggregation::Min,
            Aggregation::Stddev,
            Aggregation::Last,
            Aggregation::LastN,
        ] {
            assert!(fold(a, false, &[]).is_null(), "{a}");
        }
    }

    #[test]
    fn nulls_and_nan_are_skipped() {
        let v = [
            Value::Float64(1.0),
            Value::Null,
            Value::Float64(f64::NAN),
            Value::Float64(3.0),
        ];
        assert_eq!(
            fold(Aggregation::Count, false, &v),
            FeatureValue::Scalar(Value::Int64(2))
        );
        assert_eq!(
            fold(Aggregation::Mean, false, &v),
            FeatureValue::Scalar(Value::Float64(2.0))
        );
        let mut rows = Accumulator::new(Aggregation::Count, false, false, 0);
        v.iter().for_each(|x| rows.update(x));
        assert_eq!(rows.finish(), FeatureValue::Scalar(Value::Int64(4)));
    }

    #[test]
    fn integer_sums_are_exact_or_null() {
        let v = [Value::Int64(i64::MAX), Value::Int64(1), Value::Int64(-2)];
        assert_eq!(
            fold(Aggregation::Sum, true, &v),
            FeatureValue::Scalar(Value::Int64(i64::MAX - 1))
        );
        let over = [Value::Int64(i64::MAX), Value::Int64(1)];
        assert!(fold(Aggregation::Sum, true, &over).is_null());
    }

    #[test]
    fn sample_variance_and_last_n() {
        let v: Vec<Value> = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
            .map(Value::Float64)
            .to_vec();
        assert_eq!(
            fold(Aggregation::Variance, false, &v),
            FeatureValue::Scalar(Value::Float64(32.0 / 7.0))
        );
        assert!(fold(Aggregation::Stddev, false, &v[..1]).is_null());
        let list = fold(Aggregation::LastN, false, &v);
        assert_eq!(
            list,
            FeatureValue::List([9.0, 7.0, 5.0].map(Value::Float64).to_vec())
        );
    }

    #[test]
    fn distinct_counts() {
        let v = [
            Value::Float64(0.0),
            Value::Float64(-0.0),
            Value::Float64(1.0),
            Value::Null,
        ];
        assert_eq!(
            fold(Aggregation::CountDistinct, false, &v),
            FeatureValue::Scalar(Value::Int64(2))
        );
        let many: Vec<Value> = (0..20_000).map(|i| Value::Int64(i % 10_000)).collect();
        let FeatureValue::Scalar(Value::Int64(estimate)) =
            fold(Aggregation::ApproxCountDistinct, true, &many)
        else {
            panic!("not an integer");
        };
        assert!((estimate - 10_000).abs() < 500, "estimate {estimate}");
        let few: Vec<Value> = (0..50).map(Value::Int64).collect();
        assert_eq!(
            fold(Aggregation::ApproxCountDistinct, true, &few),
            FeatureValue::Scalar(Value::Int64(50))
        );
    }
}
