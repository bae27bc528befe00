//! Fuzz target: arbitrary views, event sequences (any order, duplicates, nulls, late data) and queries.
//! The engine must never panic; incremental ingestion and the batch path must agree exactly; both must
//! match the naive oracle. Run: `cd crates/engine/fuzz && cargo fuzz run engine_vs_oracle -s none`.

#![no_main]

// Shared with the property tests, which use every item; this target uses most of them.
#[allow(dead_code)]
#[path = "../../tests/it/oracle.rs"]
mod oracle;
#[allow(dead_code)]
#[path = "../../tests/it/support.rs"]
mod support;

use arbitrary::Arbitrary;
use freshet_engine::{EntityKey, Query, Timestamp, ViewState, answer_batch};
use libfuzzer_sys::fuzz_target;
use oracle::{Agg, Answer, Column, Feature, RawEvent};

#[derive(Debug, Arbitrary)]
struct Input {
    features: Vec<(u8, u8, u8)>,
    ttl: Option<u8>,
    with_ids: bool,
    events: Vec<(
        u8,
        u8,
        u8,
        Option<i16>,
        Option<u8>,
        Option<bool>,
        Option<u8>,
    )>,
    queries: Vec<(u8, u8, Option<i8>)>,
}

fn feature(&(agg, column, window): &(u8, u8, u8)) -> Feature {
    let column = [Column::Rows, Column::X, Column::Y, Column::S][usize::from(column % 4)];
    let numeric = matches!(column, Column::X | Column::Y);
    let agg = match agg % 12 {
        0 => Agg::Count,
        1 if numeric => Agg::Sum,
        2 if numeric => Agg::Mean,
        3 => Agg::Min,
        4 => Agg::Max,
        5 if numeric => Agg::Stddev,
        6 if numeric => Agg::Variance,
        7 => Agg::First,
        8 => Agg::Last,
        9 => Agg::LastN(usize::from(window % 4) + 1),
        10 => Agg::CountDistinct,
        // approx_count_distinct is checked within its error bound by the property tests, not exactly here.
        _ => Agg::Count,
    };
    // Only a count may go without a column.
    let column = if column == Column::Rows && agg != Agg::Count {
        Column::Y
    } else {
        column
    };
    let window = [None, Some(1), Some(5), Some(10), Some(30)][usize::from(window % 5)];
    Feature {
        agg,
        column,
        window,
    }
}

fuzz_target!(|input: Input| {
    let features: Vec<Feature> = input.features.iter().take(6).map(feature).collect();
    if features.is_empty() {
        return;
    }
    let ttl = input.ttl.map(|t| i64::from(t % 40) + 1);
    let events: Vec<(RawEvent, Option<bool>)> = input
        .events
        .iter()
        .take(64)
        .enumerate()
        .map(|(i, &(key, t, delay, y, s, keep, id))| {
            let e = RawEvent {
                key: i64::from(key % 4),
                event_time: i64::from(t % 80),
                ingest_time: i64::from(t % 80) + i64::from(delay % 50),
                position: i as u64,
                id: if input.with_ids {
                    id.map(|x| i64::from(x % 8))
                } else {
                    None
                },
                passes_filter: keep == Some(true),
                x: y.map(|v| f64::from(v) / 4.0),
                y: y.map(i64::from),
                s: s.map(|v| ["a", "b", "c"][usize::from(v % 3)].to_owned()),
            };
            (e, keep)
        })
        .collect();
    let def = support::view(&features, ttl, input.with_ids);
    let mut state = ViewState::new(def.clone());
    let mut prepared = Vec::new();
    let mut scratch = Vec::new();
    for (e, keep) in &events {
        let row = support::row(e, *keep);
        state
            .ingest(&row, Timestamp(0), e.position)
            .expect("generated rows are well-formed");
        if let Some(p) = def
            .prepare(&row, Timestamp(0), e.position, &mut scratch)
            .expect("well-formed")
        {
            prepared.push(p);
        }
    }
    // Batched ingestion (positions are consecutive) must build exactly the same state.
    let rows: Vec<Vec<freshet_engine::Value>> = events
        .iter()
        .map(|(e, keep)| support::row(e, *keep))
        .collect();
    let mut batched = ViewState::new(def.clone());
    for outcome in batched.ingest_batch(&rows, Timestamp(0), 0) {
        outcome.expect("well-formed");
    }
    assert_eq!(
        batched.snapshot(),
        state.snapshot(),
        "batch and row-by-row ingestion differ"
    );
    let queries: Vec<Query> = input
        .queries
        .iter()
        .take(16)
        .map(|&(key, t, k)| {
            let t = i64::from(t % 120);
            Query {
                key: EntityKey::int(i64::from(key % 5)),
                t,
                k: k.map_or(i64::MAX, |o| t + i64::from(o)),
            }
        })
        .collect();
    let batch = answer_batch(&def, prepared.into_iter().collect(), &queries);
    let raw: Vec<RawEvent> = events.into_iter().map(|(e, _)| e).collect();
    for (q, batch) in queries.iter().zip(batch) {
        let incremental = state
            .read(&q.key, q.t, q.k)
            .expect("no eviction, every query is answerable");
        assert_eq!(
            incremental,
            batch.expect("batch answers too"),
            "incremental and batch differ at {q:?}"
        );
        let freshet_engine::EntityKey::Single(freshet_engine::KeyPart::Int(key)) = q.key else {
            unreachable!()
        };
        let (answers, statuses) = oracle::evaluate(&raw, &features, ttl, key, q.t, q.k);
        let got: Vec<Answer> = incremental.values.iter().map(support::to_oracle).collect();
        assert_eq!(got, answers, "values differ from the oracle at {q:?}");
        let got_statuses: Vec<oracle::Status> = incremental
            .statuses
            .iter()
            .map(|s| support::status(*s))
            .collect();
        assert_eq!(got_statuses, statuses);
    }
});
