//! Hot paths of the engine: placing events and as-of-now reads of a B2-shaped view (count, sum, mean
//! and max of a fare over 1h, 24h and 7d: 12 features), as-of-now reads, and the entity records that
//! online stores and checkpoints hold. Run with `cargo bench -p freshet-engine`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use freshet_engine::{
    Aggregation, DataType, EntityKey, FeatureDef, Timestamp, Value, ViewDef, ViewState,
};
use std::hint::black_box;

const HOUR: i64 = 3_600_000_000;

fn b2_view() -> ViewDef {
    let mut features = Vec::new();
    for (w, label) in [(HOUR, "1h"), (24 * HOUR, "24h"), (7 * 24 * HOUR, "7d")] {
        for (aggregation, column) in [
            (Aggregation::Count, None),
            (Aggregation::Sum, Some(1)),
            (Aggregation::Mean, Some(1)),
            (Aggregation::Max, Some(1)),
        ] {
            features.push(FeatureDef {
                name: format!("{aggregation}_{label}"),
                aggregation,
                column,
                window: Some(w),
                n: None,
            });
        }
    }
    ViewDef {
        name: "b2".into(),
        columns: vec![
            ("driver_id".into(), DataType::Int64),
            ("fare".into(), DataType::Float64),
            ("event_time".into(), DataType::Timestamp),
        ],
        key_columns: vec![0],
        timestamp_column: 2,
        ingest_time_column: None,
        event_id_column: None,
        derived: vec![],
        filter: None,
        ttl: None,
        features,
    }
}

/// `n` rows over `entities` keys, one every 6 simulated seconds (deterministic).
fn rows(n: usize, entities: i64) -> Vec<Vec<Value>> {
    (0..n as i64)
        .map(|i| {
            vec![
                Value::Int64((i * 7919) % entities),
                Value::Float64(5.0 + (i % 97) as f64 * 0.25),
                Value::Timestamp(Timestamp(i * 6_000_000)),
            ]
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    let batch = rows(100_000, 10_000);
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("ingest_100k_events_10k_entities", |b| {
        b.iter_batched(
            || ViewState::new(b2_view()),
            |mut state| {
                for (i, r) in batch.iter().enumerate() {
                    state.ingest(black_box(r), Timestamp(0), i as u64).unwrap();
                }
                state
            },
            BatchSize::LargeInput,
        )
    });

    // One entity with ten days of history, about 10 events a day: 70 events in its 7-day window.
    let mut state = ViewState::new(b2_view());
    for i in 0..100i64 {
        let row = vec![
            Value::Int64(1),
            Value::Float64(10.0 + i as f64),
            Value::Timestamp(Timestamp(i * 2 * HOUR + i * 1_000)),
        ];
        state.ingest(&row, Timestamp(0), i as u64).unwrap();
    }
    let now = 200 * HOUR;
    group.throughput(Throughput::Elements(1));
    group.bench_function("read_now_b2_view_12_features_70_events", |b| {
        b.iter(|| {
            state
                .read(black_box(&EntityKey::int(1)), now, i64::MAX)
                .unwrap()
        })
    });

    // B2k's entities: a few retained events and an eviction summary. A stream encodes one record per
    // touched entity, and the server decodes one per read.
    let mut state = ViewState::new(b2_view());
    for i in 0..12i64 {
        let row = vec![
            Value::Int64(1),
            Value::Float64(10.0 + i as f64),
            Value::Timestamp(Timestamp(1_700_000_000_000_000 + i * 20 * HOUR)),
        ];
        state
            .ingest(
                &row,
                Timestamp(1_700_000_000_000_000 + i),
                1_000_000 + i as u64,
            )
            .unwrap();
    }
    state.evict(1_700_000_000_000_000 + 11 * 20 * HOUR);
    let key = EntityKey::int(1);
    let record = state.entity_record(&key).unwrap();
    let reader = freshet_engine::RecordReader::new(&b2_view());
    group.bench_function("encode_record_b2k_entity", |b| {
        b.iter(|| state.entity_record(black_box(&key)).unwrap())
    });
    group.bench_function("read_record_b2k_entity", |b| {
        b.iter(|| {
            reader
                .read(
                    Some(black_box(&record)),
                    1_700_000_000_000_000 + 11 * 20 * HOUR,
                    i64::MAX,
                )
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
