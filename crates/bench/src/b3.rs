//! B3: a point-in-time training set. For 1,000,000 spine rows (a driver and a time, knowledge cutoff
//! k = t so no late data leaks in), compute 10 last-value features from 10,000,000 seeded rides events
//! (W1: 100,000 drivers over 30 days) through the engine's batch entry point, `answer_batch`.
//!
//! Preparing events from rows (what reading the event log will feed the engine) and answering the spine
//! are timed separately. Target (PRODUCT.md): the training set in at most 0.7 s.

use crate::machine::resident_bytes;
use crate::workload::{compile_view, rides};
use freshet_engine::{EntityKey, EventBatch, Query, Value, answer_batch};
use freshet_project::scenarios::Scenario;
use freshet_sources::generator::generator;
use rand::{RngExt, SeedableRng};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Events.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Distinct drivers.
    #[arg(long, default_value_t = 100_000)]
    entities: u64,
    /// Days the events span.
    #[arg(long, default_value_t = 30.0)]
    days: f64,
    /// Spine rows.
    #[arg(long, default_value_t = 1_000_000)]
    spine: usize,
    /// Random seed (events and spine).
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

const PROJECT: &str = r#"project: b3
entities: [{name: driver, join_keys: [driver_id]}]
sources:
  - {name: trips, type: generator, scenario: rides}
feature_views:
  - name: b3
    entities: [driver]
    source: trips
    features:
      - {name: last_fare, aggregation: last, column: fare}
      - {name: last_distance, aggregation: last, column: distance}
      - {name: last_status, aggregation: last, column: status}
      - {name: last_trip, aggregation: last, column: trip_id}
      - {name: last_fare_1h, aggregation: last, column: fare, window: 1h}
      - {name: last_fare_24h, aggregation: last, column: fare, window: 24h}
      - {name: last_fare_7d, aggregation: last, column: fare, window: 7d}
      - {name: last_distance_24h, aggregation: last, column: distance, window: 24h}
      - {name: last_distance_7d, aggregation: last, column: distance, window: 7d}
      - {name: last_status_24h, aggregation: last, column: status, window: 24h}
"#;

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let def = compile_view("b3", PROJECT)?;
    let config = rides(args.entities, args.events, args.days, args.seed);
    let started = Instant::now();
    let rows: Vec<Vec<Value>> = generator(Scenario::Rides, &config)?.collect();
    let (first, last) = match (rows.first().map(|r| &r[2]), rows.last().map(|r| &r[2])) {
        (Some(Value::Timestamp(a)), Some(Value::Timestamp(b))) => (a.micros(), b.micros()),
        _ => anyhow::bail!("no events generated"),
    };
    println!(
        "generated {} events over {} drivers and {} days in {:.1} s (not timed below)",
        rows.len(),
        args.entities,
        args.days,
        started.elapsed().as_secs_f64()
    );

    // Historical data: each event became known when it happened.
    let started = Instant::now();
    let mut preparer = def.preparer();
    let mut events = EventBatch::with_capacity(&def, rows.len());
    for (position, row) in rows.iter().enumerate() {
        let Value::Timestamp(t) = row[2] else {
            continue;
        };
        preparer.prepare_into(&mut events, row, t, position as u64)?;
    }
    let prepare = started.elapsed().as_secs_f64();
    drop(rows);

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed ^ 0x5eed);
    let queries: Vec<Query> = (0..args.spine)
        .map(|_| {
            let t = rng.random_range(first..=last);
            Query {
                key: EntityKey::int(rng.random_range(1..=args.entities as i64)),
                t,
                k: t,
            }
        })
        .collect();

    let started = Instant::now();
    let answers = answer_batch(&def, events, &queries);
    let answer = started.elapsed().as_secs_f64();
    let present = answers
        .iter()
        .filter(|a| a.as_ref().is_ok_and(|r| r.newest_event_time.is_some()))
        .count();
    println!(
        "prepare: {:.2} s to turn {} rows into engine events (reading the event log will feed this)",
        prepare, args.events
    );
    println!(
        "answer:  {} spine rows x 10 features in {answer:.2} s = {:.0} rows/s; {present} rows found the driver",
        queries.len(),
        queries.len() as f64 / answer
    );
    if let Some(rss) = resident_bytes() {
        println!(
            "memory:  process resident {:.2} GiB at the end",
            rss as f64 / 1073741824.0
        );
    }
    std::hint::black_box(answers);
    Ok(())
}
