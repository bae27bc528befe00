//! The cost of evaluating compiled filters and derived columns per event: the figure behind the
//! expression-evaluation decision in ARCHITECTURE.md. Run with `cargo bench -p freshet-project`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use freshet_engine::{Timestamp, Value};
use freshet_project::{SourceFile, parse_project};
use std::collections::HashMap;
use std::hint::black_box;

const PROJECT: &str = r#"project: bench
entities: [{name: driver, join_keys: [driver_id]}]
sources:
  - name: trips
    type: push
    timestamp_field: event_time
    schema: {driver_id: int64, fare: float64, distance: float64, status: string, event_time: timestamp}
feature_views:
  - name: simple
    entities: [driver]
    source: trips
    filter: "status = 'completed'"
    features: [{name: n, aggregation: count}]
  - name: rich
    entities: [driver]
    source: trips
    columns:
      - {name: fare_per_km, expr: "fare / nullif(distance, 0)"}
      - {name: band, expr: "CASE WHEN fare >= 50 THEN 'high' WHEN fare >= 15 THEN 'mid' ELSE 'low' END"}
    filter: "status IN ('completed', 'paid') AND distance > 0 AND hour(event_time) BETWEEN 6 AND 22"
    features: [{name: m, aggregation: max, column: fare_per_km}]
"#;

/// 1,024 deterministic rows with a mix of statuses and a few nulls.
fn rows() -> Vec<Vec<Value>> {
    let statuses = ["completed", "cancelled", "paid", "completed"];
    (0..1024i64)
        .map(|i| {
            vec![
                Value::Int64(i % 100),
                Value::Float64((i % 97) as f64 * 1.5),
                if i % 31 == 0 {
                    Value::Null
                } else {
                    Value::Float64((i % 23) as f64)
                },
                Value::from(statuses[(i % 4) as usize]),
                Value::Timestamp(Timestamp(1_700_000_000_000_000 + i * 37 * 60_000_000)),
            ]
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (_, views) =
        parse_project(SourceFile::new("bench.yaml", PROJECT), &HashMap::new()).unwrap();
    let rows = rows();
    let mut group = c.benchmark_group("expressions");
    group.throughput(Throughput::Elements(rows.len() as u64));

    let simple = views[0].def.filter.clone().unwrap();
    group.bench_function("filter_equals_string", |b| {
        b.iter(|| {
            rows.iter()
                .filter(|r| simple.eval_predicate(black_box(r)))
                .count()
        })
    });

    let rich = &views[1];
    group.bench_function("two_derived_columns_and_compound_filter", |b| {
        let mut row = Vec::with_capacity(8);
        b.iter(|| {
            let mut kept = 0usize;
            for r in &rows {
                row.clear();
                row.extend_from_slice(r);
                for d in &rich.def.derived {
                    let v = d.eval(&row);
                    row.push(v);
                }
                kept += usize::from(
                    rich.def
                        .filter
                        .as_ref()
                        .unwrap()
                        .eval_predicate(black_box(&row)),
                );
            }
            kept
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
