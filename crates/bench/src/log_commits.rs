//! Event-log commits: what one append costs after thousands before it.
//!
//! A stream appends to its source's event log as fast as Delta allows, one commit after another for
//! as long as `freshet run` runs, and a checkpoint waits on the append in flight. So an append must
//! cost the same after a day of commits as after ten. The short end-to-end benchmarks (B2k runs
//! 20 s) cannot show a cost that grows with the log's history; this one appends `--commits` small
//! batches to a fresh log, each with its application transaction as a stream's are, and prints the
//! wall time and process CPU of each tenth of the run. Flat rows are the target; rows that climb mean
//! each commit pays for the ones before it.

use crate::machine::cpu_seconds;
use freshet_engine::{DataType, Timestamp, Value};
use freshet_offline::{LogRows, SourceLog, Transaction};
use freshet_project::spec::Field;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Appends (each one Delta commit).
    #[arg(long, default_value_t = 3_000)]
    commits: u64,
    /// Events per append.
    #[arg(long, default_value_t = 250)]
    rows: u64,
    /// Days the events of one append span (each day is a partition, so a file of its own).
    #[arg(long, default_value_t = 1)]
    days_per_append: u64,
}

fn fields() -> Vec<Field> {
    let field = |name: &str, data_type| Field {
        name: name.to_owned(),
        data_type,
    };
    vec![
        field("trip_id", DataType::String),
        field("driver_id", DataType::Int64),
        field("event_time", DataType::Timestamp),
        field("fare", DataType::Float64),
    ]
}

/// The rows of append `commit`: event times advance a second per event from 2026-01-01, spread over
/// `days` days so that one append writes one file per day.
fn batch(commit: u64, rows: u64, days: u64) -> LogRows {
    const START: i64 = 1_767_225_600_000_000;
    const DAY: i64 = 86_400_000_000;
    let mut batch = LogRows::default();
    for i in 0..rows {
        let position = commit * rows + i;
        let day = i64::try_from(i % days.max(1)).unwrap_or(0);
        let micros = START + day * DAY + i64::try_from(position).unwrap_or(0) * 1_000;
        batch.push(
            vec![
                Value::String(format!("t{position}").into()),
                Value::Int64(i64::try_from(position % 10_000).unwrap_or(0)),
                Value::Timestamp(Timestamp(micros)),
                Value::Float64(position as f64 * 0.01),
            ],
            micros,
            position,
        );
    }
    batch
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    println!(
        "log commits: {} appends of {} events over {} day(s) each, one commit per append",
        args.commits, args.rows, args.days_per_append
    );
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut log = SourceLog::open(dir.path(), "trips", &fields(), "event_time").await?;
        let step = (args.commits / 10).max(1);
        println!("  commits          ms/append (wall)   CPU-ms/append");
        let mut started = (Instant::now(), cpu_seconds().unwrap_or(0.0));
        for commit in 0..args.commits {
            let rows = batch(commit, args.rows, args.days_per_append);
            let version = i64::try_from(commit).unwrap_or(i64::MAX);
            log.append(&rows, vec![Transaction::new("bench-p0", version)])
                .await?;
            if (commit + 1) % step == 0 || commit + 1 == args.commits {
                let done = (commit % step) + 1;
                let wall = started.0.elapsed().as_secs_f64() * 1e3 / done as f64;
                let cpu = (cpu_seconds().unwrap_or(0.0) - started.1) * 1e3 / done as f64;
                println!(
                    "  {:>6}..{:<6}   {wall:>10.1}         {cpu:>10.1}",
                    commit + 1 - done + 1,
                    commit + 1
                );
                started = (Instant::now(), cpu_seconds().unwrap_or(0.0));
            }
        }
        let recorded = log.transaction_version("bench-p0").await?;
        anyhow::ensure!(
            recorded == Some(i64::try_from(args.commits).unwrap_or(i64::MAX) - 1),
            "the log recorded transaction {recorded:?} after {} appends",
            args.commits
        );
        println!(
            "  log version {}, {} data files",
            log.version(),
            log.files()?.len()
        );
        Ok(())
    })
}
