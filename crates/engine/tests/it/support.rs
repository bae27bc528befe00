//! Shared by the engine property tests and the fuzz target (`crates/engine/fuzz`): how an oracle
//! scenario becomes an engine view and rows, and how engine answers are read back in oracle terms.

use crate::oracle::{Agg, Answer, Column, Feature, RawEvent, Scalar, Status};
use freshet_engine::expr::CompareOp;
use freshet_engine::{
    Aggregation, DataType, Expr, FeatureDef, FeatureStatus, FeatureValue, Timestamp, Value, ViewDef,
};

pub(crate) fn columns() -> Vec<(String, DataType)> {
    [
        ("key", DataType::Int64),
        ("ts", DataType::Timestamp),
        ("x", DataType::Float64),
        ("y", DataType::Int64),
        ("s", DataType::String),
        ("id", DataType::Int64),
        ("keep", DataType::Bool),
        ("ingested", DataType::Timestamp),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_owned(), t))
    .collect()
}

pub(crate) fn aggregation(agg: Agg) -> (Aggregation, Option<usize>) {
    match agg {
        Agg::Count => (Aggregation::Count, None),
        Agg::Sum => (Aggregation::Sum, None),
        Agg::Mean => (Aggregation::Mean, None),
        Agg::Min => (Aggregation::Min, None),
        Agg::Max => (Aggregation::Max, None),
        Agg::Stddev => (Aggregation::Stddev, None),
        Agg::Variance => (Aggregation::Variance, None),
        Agg::First => (Aggregation::First, None),
        Agg::Last => (Aggregation::Last, None),
        Agg::LastN(n) => (Aggregation::LastN, Some(n)),
        Agg::CountDistinct => (Aggregation::CountDistinct, None),
        Agg::ApproxCountDistinct => (Aggregation::ApproxCountDistinct, None),
    }
}

pub(crate) fn view(features: &[Feature], ttl: Option<i64>, with_ids: bool) -> ViewDef {
    ViewDef {
        name: "v".into(),
        columns: columns(),
        key_columns: vec![0],
        timestamp_column: 1,
        ingest_time_column: Some(7),
        event_id_column: with_ids.then_some(5),
        derived: vec![],
        // `keep = true`: null and false both reject, as SQL filters do.
        filter: Some(
            Expr::compare(
                CompareOp::Eq,
                Expr::column(6, DataType::Bool),
                Expr::literal(Value::Bool(true), DataType::Bool),
            )
            .unwrap(),
        ),
        ttl,
        features: features
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let (aggregation, n) = aggregation(f.agg);
                FeatureDef {
                    name: format!("f{i}"),
                    aggregation,
                    column: match f.column {
                        Column::Rows => None,
                        Column::X => Some(2),
                        Column::Y => Some(3),
                        Column::S => Some(4),
                    },
                    window: f.window,
                    n,
                }
            })
            .collect(),
    }
}

pub(crate) fn row(e: &RawEvent, keep: Option<bool>) -> Vec<Value> {
    vec![
        Value::Int64(e.key),
        Value::Timestamp(Timestamp(e.event_time)),
        e.x.map_or(Value::Null, Value::Float64),
        e.y.map_or(Value::Null, Value::Int64),
        e.s.as_deref().map_or(Value::Null, Value::from),
        e.id.map_or(Value::Null, Value::Int64),
        keep.map_or(Value::Null, Value::Bool),
        Value::Timestamp(Timestamp(e.ingest_time)),
    ]
}

pub(crate) fn to_oracle(v: &FeatureValue) -> Answer {
    let scalar = |v: &Value| match v {
        Value::Null => Scalar::Null,
        Value::Int64(i) => Scalar::Int(*i),
        Value::Float64(f) => Scalar::Float(*f),
        Value::String(s) => Scalar::Str(s.to_string()),
        other => panic!("unexpected {other:?}"),
    };
    match v {
        FeatureValue::Scalar(s) => Answer::Scalar(scalar(s)),
        FeatureValue::List(l) => Answer::List(l.iter().map(scalar).collect()),
    }
}

pub(crate) fn status(s: FeatureStatus) -> Status {
    match s {
        FeatureStatus::Present => Status::Present,
        FeatureStatus::NullValue => Status::NullValue,
        FeatureStatus::NotFound => Status::NotFound,
        FeatureStatus::OutsideMaxAge => Status::OutsideMaxAge,
    }
}
