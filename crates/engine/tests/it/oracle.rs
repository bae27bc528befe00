//! The naive oracle: PRODUCT.md section 3 written out literally, sharing no code with the engine.
//!
//! For every query it scans all events: keep the entity's events that pass the filter and were ingested by
//! `k`; count each event id once (its first-ingested copy) and each identical record once; find the newest
//! event at or before `t` for NOT_FOUND and the TTL; then, per feature, take the events in `(t - W, t]`,
//! sort them by (event time, ingest time, position) and apply the aggregation's documented recipe.

use std::collections::BTreeSet;

/// One raw event as the oracle sees it.
#[derive(Clone, Debug)]
pub(crate) struct RawEvent {
    pub(crate) key: i64,
    pub(crate) event_time: i64,
    pub(crate) ingest_time: i64,
    pub(crate) position: u64,
    pub(crate) id: Option<i64>,
    pub(crate) passes_filter: bool,
    /// Column values: `None` is null. Floats are column 0, integers column 1, strings column 2.
    pub(crate) x: Option<f64>,
    pub(crate) y: Option<i64>,
    pub(crate) s: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Column {
    Rows,
    X,
    Y,
    S,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Agg {
    Count,
    Sum,
    Mean,
    Min,
    Max,
    Stddev,
    Variance,
    First,
    Last,
    LastN(usize),
    CountDistinct,
    ApproxCountDistinct,
}

#[derive(Clone, Debug)]
pub(crate) struct Feature {
    pub(crate) agg: Agg,
    pub(crate) column: Column,
    pub(crate) window: Option<i64>,
}

/// A scalar as the oracle reports it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Int(i64),
    Float(f64),
    Str(String),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Answer {
    Scalar(Scalar),
    List(Vec<Scalar>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Present,
    NullValue,
    NotFound,
    OutsideMaxAge,
}

fn value(e: &RawEvent, c: Column) -> Scalar {
    match c {
        Column::Rows => Scalar::Null,
        Column::X => {
            e.x.filter(|f| !f.is_nan())
                .map_or(Scalar::Null, Scalar::Float)
        }
        Column::Y => e.y.map_or(Scalar::Null, Scalar::Int),
        Column::S => e.s.clone().map_or(Scalar::Null, Scalar::Str),
    }
}

/// The events of `key` that count as of knowledge cutoff `k`: filtered, known, de-duplicated.
fn known(events: &[RawEvent], key: i64, k: i64) -> Vec<RawEvent> {
    let mut candidates: Vec<&RawEvent> = events
        .iter()
        .filter(|e| e.key == key && e.passes_filter && e.ingest_time <= k)
        .collect();
    // First-ingested copy of each id wins; identical records count once.
    candidates.sort_by_key(|e| (e.ingest_time, e.position, e.event_time));
    let mut ids = BTreeSet::new();
    let mut records = BTreeSet::new();
    let mut out = Vec::new();
    for e in candidates {
        if let Some(id) = e.id
            && !ids.insert(id)
        {
            continue;
        }
        if !records.insert((e.event_time, e.ingest_time, e.position)) {
            continue;
        }
        out.push(e.clone());
    }
    out
}

pub(crate) fn evaluate(
    events: &[RawEvent],
    features: &[Feature],
    ttl: Option<i64>,
    key: i64,
    t: i64,
    k: i64,
) -> (Vec<Answer>, Vec<Status>) {
    let known = known(events, key, k);
    let newest = known
        .iter()
        .filter(|e| e.event_time <= t)
        .map(|e| e.event_time)
        .max();
    let all = |status| {
        (
            vec![Answer::Scalar(Scalar::Null); features.len()],
            vec![status; features.len()],
        )
    };
    let Some(newest) = newest else {
        return all(Status::NotFound);
    };
    if let Some(ttl) = ttl
        && newest <= t - ttl
    {
        return all(Status::OutsideMaxAge);
    }
    let mut answers = Vec::new();
    for f in features {
        let mut window: Vec<&RawEvent> = known
            .iter()
            .filter(|e| e.event_time <= t && f.window.is_none_or(|w| e.event_time > t - w))
            .collect();
        window.sort_by_key(|e| (e.event_time, e.ingest_time, e.position));
        answers.push(aggregate(f, &window));
    }
    let statuses = answers
        .iter()
        .map(|a| {
            if *a == Answer::Scalar(Scalar::Null) {
                Status::NullValue
            } else {
                Status::Present
            }
        })
        .collect();
    (answers, statuses)
}

/// The exact sum of integer values.
fn int_total(values: &[Scalar]) -> i128 {
    values
        .iter()
        .map(|v| {
            if let Scalar::Int(i) = v {
                i128::from(*i)
            } else {
                0
            }
        })
        .sum()
}

fn aggregate(f: &Feature, window: &[&RawEvent]) -> Answer {
    let values: Vec<Scalar> = window
        .iter()
        .map(|e| value(e, f.column))
        .filter(|v| *v != Scalar::Null)
        .collect();
    let floats: Vec<f64> = values
        .iter()
        .filter_map(|v| match v {
            Scalar::Float(x) => Some(*x),
            Scalar::Int(i) => Some(*i as f64),
            _ => None,
        })
        .collect();
    let s = Answer::Scalar;
    match f.agg {
        Agg::Count if f.column == Column::Rows => s(Scalar::Int(window.len() as i64)),
        Agg::Count => s(Scalar::Int(values.len() as i64)),
        Agg::Sum if f.column == Column::Y => {
            let total = int_total(&values);
            s(i64::try_from(total).map_or(Scalar::Null, Scalar::Int))
        }
        Agg::Sum => s(Scalar::Float(floats.iter().fold(0.0, |a, x| a + x))),
        Agg::Mean if values.is_empty() => s(Scalar::Null),
        Agg::Mean if f.column == Column::Y => {
            let total = int_total(&values);
            s(Scalar::Float(total as f64 / values.len() as f64))
        }
        Agg::Mean => s(Scalar::Float(
            floats.iter().fold(0.0, |a, x| a + x) / floats.len() as f64,
        )),
        Agg::Min | Agg::Max => {
            let mut best: Option<Scalar> = None;
            for v in values {
                let better = match (&best, &v) {
                    (None, _) => true,
                    (Some(Scalar::Int(b)), Scalar::Int(x)) => {
                        if f.agg == Agg::Min {
                            x < b
                        } else {
                            x > b
                        }
                    }
                    (Some(Scalar::Float(b)), Scalar::Float(x)) => {
                        if f.agg == Agg::Min {
                            x < b
                        } else {
                            x > b
                        }
                    }
                    (Some(Scalar::Str(b)), Scalar::Str(x)) => {
                        if f.agg == Agg::Min {
                            x < b
                        } else {
                            x > b
                        }
                    }
                    _ => false,
                };
                if better {
                    best = Some(v);
                }
            }
            s(best.unwrap_or(Scalar::Null))
        }
        Agg::Stddev | Agg::Variance => {
            if floats.len() < 2 {
                return s(Scalar::Null);
            }
            // Welford's update, the documented recipe, in canonical order.
            let (mut n, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
            for x in &floats {
                n += 1.0;
                let d = x - mean;
                mean += d / n;
                m2 += d * (x - mean);
            }
            let var = m2 / (n - 1.0);
            s(Scalar::Float(if f.agg == Agg::Stddev {
                var.sqrt()
            } else {
                var
            }))
        }
        Agg::First => s(values.first().cloned().unwrap_or(Scalar::Null)),
        Agg::Last => s(values.last().cloned().unwrap_or(Scalar::Null)),
        Agg::LastN(n) if values.is_empty() => {
            let _ = n;
            s(Scalar::Null)
        }
        Agg::LastN(n) => Answer::List(values.iter().rev().take(n).cloned().collect()),
        Agg::CountDistinct | Agg::ApproxCountDistinct => {
            let distinct: BTreeSet<String> = values
                .iter()
                .map(|v| match v {
                    Scalar::Float(x) if *x == 0.0 => "f0".to_owned(),
                    Scalar::Float(x) => format!("f{}", x.to_bits()),
                    other => format!("{other:?}"),
                })
                .collect();
            s(Scalar::Int(distinct.len() as i64))
        }
    }
}
