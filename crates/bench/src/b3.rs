//! B3, B3w and event-log ingest: the offline path end to end, as `freshet ingest` and
//! `freshet training-set` run it.
//!
//! 1. W1 is generated (10,000,000 seeded rides events over 100,000 drivers and 30 days) into a Parquet
//!    file, once per settings (cached in the work directory; not timed).
//! 2. Ingest: the file goes into a fresh Delta event log (timed: events/s).
//! 3. A seeded spine of 1,000,000 (driver, time) rows with a label is written (not timed).
//! 4. B3: ten last-value features for every spine row, k = t (timed, to the finished Parquet file).
//! 5. B3w: count and sum of the fare over 1h, 24h and 7d from the raw events (timed likewise).
//! 6. The log is compacted (`freshet compact`: one file per day, sorted by driver; timed, no target),
//!    and B3 and B3w are timed again over it.
//!
//! Each training set is timed `--repeat` times (3 by default) and reported run by run with the
//! fastest and the median, since one run on a shared host can be 40 % off.
//!
//! Targets (PRODUCT.md): ingest >= 1,000,000 events/s; B3 <= 0.7 s; B3w <= 1.1 s; peak memory < 4 GiB.

use crate::machine::{peak_resident_bytes, resident_bytes};
use crate::workload::rides;
use freshet_engine::{DataType, Timestamp, Value};
use freshet_offline::ingest::{IngestOptions, ingest_source};
use freshet_offline::training::{SpineInput, TrainingOptions, build_training_set};
use freshet_offline::{SourceLog, offline_root, views_of_source};
use freshet_project::scenarios::Scenario;
use freshet_project::spec::{Field, FileFormat};
use freshet_project::{ProcessEnv, load_project};
use freshet_sources::formats::write_rows;
use freshet_sources::generator::generator;
use rand::{RngExt, SeedableRng};
use std::path::{Path, PathBuf};
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
    /// Work directory (the generated file is kept there between runs).
    #[arg(long, default_value = "/var/tmp/freshet-bench-w1")]
    dir: PathBuf,
    /// Times each training set this many times (each to a fresh file), reporting every run, the
    /// fastest and the median: on a shared host one run can be 40 % off.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
}

const PROJECT: &str = r#"project: w1
entities: [{name: driver, join_keys: [driver_id]}]
sources:
  - name: trips
    type: file
    path: data/w1.parquet
    timestamp_field: event_time
    schema: {trip_id: string, driver_id: int64, event_time: timestamp, fare: float64, distance: float64, status: string}
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
  - name: b3w
    entities: [driver]
    source: trips
    features:
      - {name: trips_1h, aggregation: count, window: 1h}
      - {name: trips_24h, aggregation: count, window: 24h}
      - {name: trips_7d, aggregation: count, window: 7d}
      - {name: fare_1h, aggregation: sum, column: fare, window: 1h}
      - {name: fare_24h, aggregation: sum, column: fare, window: 24h}
      - {name: fare_7d, aggregation: sum, column: fare, window: 7d}
feature_services:
  - {name: b3, features: ["b3:*"]}
  - {name: b3w, features: ["b3w:*"]}
"#;

fn gib(bytes: u64) -> f64 {
    bytes as f64 / 1_073_741_824.0
}

/// Generates W1 into `data/w1.parquet` unless a file for the same settings is already there.
fn generate(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let stamp = data.join("w1.settings");
    let settings = format!(
        "{} {} {} {}",
        args.events, args.entities, args.days, args.seed
    );
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(settings.as_str()) {
        return Ok(());
    }
    let started = Instant::now();
    let config = rides(args.entities, args.events, args.days, args.seed);
    let rows = generator(Scenario::Rides, &config)?;
    write_rows(
        &data.join("w1.parquet"),
        FileFormat::Parquet,
        &Scenario::Rides.schema(),
        rows,
        &mut |_| {},
    )?;
    std::fs::write(&stamp, settings)?;
    report(&format!(
        "generated W1 ({} events) in {:.1} s (not timed below)",
        args.events,
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// A seeded spine: driver, a time within the events' span, a label.
fn write_spine(args: &Args, path: &Path) -> anyhow::Result<()> {
    let config = rides(args.entities, args.events, args.days, args.seed);
    let start = config.start_micros;
    let end = start + (args.days * 86_400e6) as i64;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed ^ 0x5eed);
    let rows = (0..args.spine).map(move |_| {
        vec![
            Value::Int64(rng.random_range(1..=args.entities as i64)),
            Value::Timestamp(Timestamp(rng.random_range(start..end))),
            Value::Int64(rng.random_range(0..2)),
        ]
    });
    let field = |name: &str, data_type| Field {
        name: name.to_owned(),
        data_type,
    };
    let schema = [
        field("driver_id", DataType::Int64),
        field("event_timestamp", DataType::Timestamp),
        field("label", DataType::Int64),
    ];
    write_rows(path, FileFormat::Parquet, &schema, rows, &mut |_| {})?;
    Ok(())
}

#[allow(clippy::print_stdout)]
fn report(line: &str) {
    println!("{line}");
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let dir = &args.dir;
    generate(args, dir)?;
    std::fs::write(dir.join("freshet.yaml"), PROJECT)?;
    let project = load_project(dir, &ProcessEnv).map_err(|e| anyhow::anyhow!("{e}"))?;
    let root = offline_root(&project);
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let source = project
        .spec
        .sources
        .first()
        .ok_or_else(|| anyhow::anyhow!("no source"))?;

    let started = Instant::now();
    let reports = runtime.block_on(async {
        let mut log =
            SourceLog::open(&root, &source.name, &source.schema, &source.timestamp_field).await?;
        let views = views_of_source(&project, &source.name);
        ingest_source(
            &mut log,
            dir,
            &root,
            source,
            &views,
            &IngestOptions::default(),
            &mut |_| {},
        )
        .await
        .map_err(anyhow::Error::from)
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let added: u64 = reports.iter().map(|r| r.added).sum();
    report(&format!(
        "ingest:  {added} events into the Delta event log in {seconds:.2} s = {:.0} events/s (target >= 1,000,000)",
        added as f64 / seconds
    ));

    let spine = dir.join("spine.parquet");
    write_spine(args, &spine)?;
    training_sets(&runtime, &project, args, &spine, "")?;

    // The same training sets once the log is compacted (`freshet compact`: one file per day, sorted
    // by driver), with the compaction's own time.
    let started = Instant::now();
    let compacted = runtime.block_on(freshet_offline::compact::compact(
        &project,
        &[],
        &freshet_offline::compact::CompactOptions::default(),
        &mut |_| {},
    ))?;
    let seconds = started.elapsed().as_secs_f64();
    let events: u64 = compacted.iter().map(|r| r.events).sum();
    report(&format!(
        "compact: {events} events rewritten as one sorted file per day in {seconds:.2} s (not a target)"
    ));
    training_sets(&runtime, &project, args, &spine, " after compact")?;
    if let (Some(peak), Some(now)) = (peak_resident_bytes(), resident_bytes()) {
        report(&format!(
            "memory:  peak resident {:.2} GiB (target < 4 GiB), {:.2} GiB at the end",
            gib(peak),
            gib(now)
        ));
    }
    Ok(())
}

/// Times B3 and B3w (each to its finished Parquet file, `args.repeat` times) over the log as it is
/// now; `label` tells which log that is in the report.
fn training_sets(
    runtime: &tokio::runtime::Runtime,
    project: &freshet_project::Project,
    args: &Args,
    spine: &std::path::Path,
    label: &str,
) -> anyhow::Result<()> {
    for (service, target) in [("b3", 0.7), ("b3w", 1.1)] {
        let out = args.dir.join(format!("{service}.parquet"));
        let input = SpineInput::File {
            path: spine.to_path_buf(),
            timestamp_column: None,
        };
        let mut runs = Vec::new();
        let mut built = None;
        for _ in 0..args.repeat {
            let started = Instant::now();
            built = Some(runtime.block_on(build_training_set(
                project,
                service,
                &input,
                &out,
                &TrainingOptions::default(),
            ))?);
            runs.push(started.elapsed().as_secs_f64());
        }
        let Some(built) = built else {
            continue;
        };
        let read = if built.merged.is_empty() {
            "loaded into memory"
        } else {
            "merged by driver"
        };
        report(&format!(
            "{service}{label}: {} spine rows x {} features over {} events ({read}) in {} (target <= {target} s); {} rows found the driver",
            built.rows,
            built.columns.len() - 4,
            built.events,
            timings(&mut runs),
            built.present.first().map_or(0, |p| p.1),
        ));
    }
    Ok(())
}

/// `runs` (seconds) as the report gives them: one run alone, or every run, the fastest and the
/// median.
fn timings(runs: &mut [f64]) -> String {
    let each: Vec<String> = runs.iter().map(|s| format!("{s:.2}")).collect();
    runs.sort_by(f64::total_cmp);
    match runs {
        [one] => format!("{one:.2} s"),
        _ => format!(
            "{} s: fastest {:.2} s, median {:.2} s",
            each.join(" / "),
            runs[0],
            runs[runs.len() / 2]
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::timings;

    #[test]
    fn several_runs_are_reported_each_with_the_fastest_and_the_median() {
        assert_eq!(timings(&mut [0.9]), "0.90 s");
        assert_eq!(
            timings(&mut [1.2, 0.8, 0.9]),
            "1.20 / 0.80 / 0.90 s: fastest 0.80 s, median 0.90 s"
        );
    }
}
