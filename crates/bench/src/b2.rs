//! B2: streaming count, sum, mean and max of the fare over 1h, 24h and 7d sliding windows (12 features),
//! events from the seeded rides generator, in process, on one core.
//!
//! The view is compiled from a freshet.yaml, as a user would write it. The rows are generated first
//! (not timed) and projected to the three columns the view reads. Then every row goes through the
//! streaming entry points with the watermark following event time, so memory stays bounded as windows
//! slide. Afterwards, as-of-now reads of a sample of entities measure read latency.
//!
//! Targets (PRODUCT.md): at least 2,000,000 events/s per core; a read of one entity's view in at most
//! 5 us; state for 1M entities in at most 4 GiB resident.

use crate::machine::resident_bytes;
use crate::workload::{compile_view, rides};
use freshet_engine::{EntityKey, Value, ViewState};
use freshet_project::scenarios::Scenario;
use freshet_sources::generator::generator;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Events to ingest.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Distinct entities (drivers).
    #[arg(long, default_value_t = 1_000_000)]
    entities: u64,
    /// Days the events span.
    #[arg(long, default_value_t = 30.0)]
    days: f64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Entities sampled for read latency.
    #[arg(long, default_value_t = 100_000)]
    reads: usize,
    /// Events per `ingest_batch` call (a streaming poll); 0 ingests one event per `ingest` call.
    #[arg(long, default_value_t = 1024)]
    batch: usize,
}

/// B2 as a user writes it: a project whose view is compiled by the same validation as `freshet.yaml`.
const PROJECT: &str = r#"project: b2
entities: [{name: driver, join_keys: [driver_id]}]
sources:
  - name: trips
    type: push
    timestamp_field: event_time
    schema: {driver_id: int64, fare: float64, event_time: timestamp}
feature_views:
  - name: b2
    entities: [driver]
    source: trips
    features:
      - {name: trips_1h, aggregation: count, window: 1h}
      - {name: fare_sum_1h, aggregation: sum, column: fare, window: 1h}
      - {name: fare_mean_1h, aggregation: mean, column: fare, window: 1h}
      - {name: fare_max_1h, aggregation: max, column: fare, window: 1h}
      - {name: trips_24h, aggregation: count, window: 24h}
      - {name: fare_sum_24h, aggregation: sum, column: fare, window: 24h}
      - {name: fare_mean_24h, aggregation: mean, column: fare, window: 24h}
      - {name: fare_max_24h, aggregation: max, column: fare, window: 24h}
      - {name: trips_7d, aggregation: count, window: 7d}
      - {name: fare_sum_7d, aggregation: sum, column: fare, window: 7d}
      - {name: fare_mean_7d, aggregation: mean, column: fare, window: 7d}
      - {name: fare_max_7d, aggregation: max, column: fare, window: 7d}
"#;

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let config = rides(args.entities, args.events, args.days, args.seed);
    let started = Instant::now();
    let rows: Vec<[Value; 3]> = generator(Scenario::Rides, &config)?
        .map(|mut r| {
            [
                std::mem::take(&mut r[1]),
                std::mem::take(&mut r[3]),
                std::mem::take(&mut r[2]),
            ]
        })
        .collect();
    println!(
        "generated {} events over {} entities and {} days in {:.1} s (not timed below)",
        rows.len(),
        args.entities,
        args.days,
        started.elapsed().as_secs_f64()
    );

    let before = resident_bytes();
    let mut state = ViewState::new(compile_view("b2", PROJECT)?);
    let started = Instant::now();
    // The streaming runtime polls in batches; 1,024 events at 50,000 events/s is a 20 ms batch.
    for (index, batch) in rows.chunks(args.batch.max(1)).enumerate() {
        let (Some(Value::Timestamp(first)), Some(Value::Timestamp(last))) =
            (batch.first().map(|r| &r[2]), batch.last().map(|r| &r[2]))
        else {
            continue;
        };
        // Online serving only asks about now: the watermark follows event time, and the engine evicts
        // (lazily per entity, plus a sweep once per longest window) what no window reaches any more.
        state.advance_watermark(first.micros());
        let position = (index * args.batch.max(1)) as u64;
        if args.batch == 0 {
            state.ingest(&batch[0], *first, position)?;
        } else {
            for outcome in state.ingest_batch(batch, *last, position) {
                outcome?;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = resident_bytes();
    let now = rows
        .last()
        .and_then(|r| {
            if let Value::Timestamp(t) = r[2] {
                Some(t.micros())
            } else {
                None
            }
        })
        .unwrap_or(0);

    let mut latencies = Vec::with_capacity(args.reads);
    let step = (args.entities as usize / args.reads.max(1)).max(1);
    for i in (1..=args.entities as usize).step_by(step).take(args.reads) {
        let key = EntityKey::int(i as i64);
        let t0 = Instant::now();
        let row = state.read(&key, now, i64::MAX)?;
        latencies.push(t0.elapsed().as_nanos() as u64);
        std::hint::black_box(row);
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let mean = latencies.iter().sum::<u64>() as f64 / latencies.len().max(1) as f64;

    let mode = if args.batch == 0 {
        "one event per call".to_owned()
    } else {
        format!("batches of {}", args.batch)
    };
    println!(
        "ingest:  {} events in {elapsed:.2} s = {:.0} events/s on one core ({mode})",
        rows.len(),
        rows.len() as f64 / elapsed
    );
    println!(
        "state:   {} entities, {} events retained",
        state.entities(),
        state.retained_events()
    );
    // Resident size bounds the state from above: it also holds the input rows and allocator slack.
    let input = rows.len() * std::mem::size_of::<[Value; 3]>();
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "memory:  process resident {:.2} GiB after ingest ({:.2} GiB before), of which {:.2} GiB is the input rows",
            a as f64 / 1073741824.0,
            b as f64 / 1073741824.0,
            input as f64 / 1073741824.0
        ),
        _ => println!("memory:  resident size unavailable on this platform"),
    }
    println!(
        "read:    as-of-now, 12 features, {} entities: mean {:.0} ns, p50 {} ns, p99 {} ns, max {} ns",
        latencies.len(),
        mean,
        pct(0.5),
        pct(0.99),
        latencies.last().copied().unwrap_or(0)
    );
    Ok(())
}
