//! CDC: a `postgres_cdc` source under `freshet run`, against a PostgreSQL cluster of its own.
//!
//! Two figures. Throughput: rows committed in one large transaction, timed from the commit until
//! the run has logged them all (decode, content positions, Delta commit, slot acknowledged).
//! Latency: single-row commits of a marker driver, each timed from its commit until the marker's
//! count reads back from the online store as the server would read it (the log append plus the
//! views' incremental refresh).

use crate::workload::Probe;
use freshet_engine::RecordReader;
use freshet_runtime::{RunOptions, Status};
use freshet_testkit::postgres::PostgresServer;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Options of the CDC workload.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Rows committed in the one large transaction.
    #[arg(long, default_value_t = 200_000)]
    rows: u64,
    /// Single-row commits timed for latency.
    #[arg(long, default_value_t = 50)]
    markers: u64,
}

const PROJECT: &str = r#"project: cdc
entities: [{name: driver, join_keys: [driver_id]}]
sources:
  - name: trips
    type: postgres_cdc
    url: "URL"
    table: trips
    timestamp_field: event_time
    schema: {driver_id: int64, fare: float64, event_time: timestamp}
feature_views:
  - name: stats
    entities: [driver]
    source: trips
    features:
      - {name: trips, aggregation: count}
      - {name: fare_sum, aggregation: sum, column: fare}
feature_services:
  - {name: stats, features: ["stats:*"]}
"#;

/// The marker driver: no bulk row uses it.
const MARKER: i64 = 0;

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let pg = Arc::new(PostgresServer::start());
    pg.execute(
        "CREATE TABLE trips (id bigserial PRIMARY KEY, driver_id bigint, fare float8, \
         event_time timestamptz)",
    );
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("freshet.yaml"),
        PROJECT.replace("URL", &pg.url()),
    )?;
    let project = freshet_project::load_project(dir.path(), &freshet_project::ProcessEnv)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let logged = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (throughput, latencies) = runtime.block_on(async {
        let store = freshet_online::OnlineStore::open(&project).await?;
        let run = {
            let (project, store, stop, logged) =
                (project.clone(), store.clone(), stop.clone(), logged.clone());
            tokio::spawn(async move {
                let stopping = crate::workload::stop_when(stop);
                let mut status = |s: Status| logged.store(s.events, Ordering::Relaxed);
                let clock = Arc::new(AtomicI64::new(0));
                freshet_runtime::run(
                    &project,
                    &store,
                    clock,
                    &RunOptions::default(),
                    stopping,
                    &mut status,
                )
                .await
            })
        };
        // The slot and the (empty) snapshot first.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let insert = format!(
            "INSERT INTO trips (driver_id, fare, event_time) SELECT 1 + g % 10000, g % 50, \
             now() - (g % 86400) * interval '1 second' FROM generate_series(1, {}) g",
            args.rows
        );
        let server = pg.clone();
        tokio::task::spawn_blocking(move || server.execute(&insert)).await?;
        let committed = Instant::now();
        while logged.load(Ordering::Relaxed) < args.rows {
            anyhow::ensure!(
                committed.elapsed() < Duration::from_secs(600),
                "rows not logged after 10 minutes"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let throughput = args.rows as f64 / committed.elapsed().as_secs_f64();
        // Let the refresh of the bulk rows finish before timing single rows.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let def = project.views[0].def.clone();
        let reader = RecordReader::new(&def);
        let servable = Probe {
            store: &store,
            def: &def,
            reader: &reader,
            marker: MARKER,
            feature: 0,
        };
        let mut latencies = Vec::new();
        for count in 1..=args.markers as i64 {
            let server = pg.clone();
            tokio::task::spawn_blocking(move || {
                server.execute(&format!(
                    "INSERT INTO trips (driver_id, fare, event_time) VALUES ({MARKER}, 1, now())"
                ));
            })
            .await?;
            let committed = Instant::now();
            servable
                .await_count(count, committed, Duration::from_secs(30))
                .await?;
            latencies.push(committed.elapsed().as_secs_f64() * 1e3);
        }
        stop.store(true, Ordering::Relaxed);
        run.await??;
        anyhow::Ok((throughput, latencies))
    })?;
    let mut sorted = latencies;
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)];
    println!(
        "bulk:    {} rows in one transaction logged at {throughput:.0} rows/s from the commit",
        args.rows
    );
    println!(
        "latency: commit to servable over {} single-row commits: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        sorted.len(),
        pct(0.5),
        pct(0.99),
        sorted[sorted.len() - 1]
    );
    Ok(())
}
