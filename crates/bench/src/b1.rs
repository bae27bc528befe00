//! B1 and B1b: online lookups over HTTP on the embedded store, and B4: materializing the state of
//! 1,000,000 entities x 50 features into it.
//!
//! 1. Seeded rides events for 1,000,000 drivers are ingested into a 50-feature view (not timed).
//! 2. B4: every driver's record is written to a fresh embedded store, as `freshet backfill` does
//!    (timed: entity-feature rows per second).
//! 3. The feature server runs in this process on loopback, on one thread, with its clock at the end of
//!    the events. A load generator on another thread sends `POST /get-online-features` requests
//!    **open-loop**: request i is due at `start + i / rate` whatever happened to earlier ones, and its
//!    latency counts from when it was due, so a stall shows up in the figures instead of slowing the
//!    sender (see [`crate::http_load`]). Each request asks for a random driver (B1: 1 entity, B1b: 100 entities) x 50 features.
//!
//! 4. B1r (`--redis`): the store is a `redis-server`, a raw Redis client reads the same records with
//!    64 in flight, and freshet's capacity is measured the same way, a closed loop of 64 requests in
//!    flight ([`Load::saturate`]), so neither side pays for pacing. `--ceiling` adds the same loop
//!    against a server that answers with a canned copy of one answer: what HTTP alone allows here.
//!    `--redis-cluster` runs the same steps on a three-master Redis Cluster.
//!
//! Targets (PRODUCT.md): B1 >= 20,000 requests/s, p99 <= 1 ms at half that rate; B1b p99 <= 5 ms;
//! B1r >= 70 % of the raw Redis client; B4 >= 2,000,000 rows/s (300,000 into Redis).

use crate::http_load::{CONNECTIONS, Load, micros, server_side_line};
use crate::raw_redis::Redis;
use crate::workload::rides;
use freshet_engine::{Timestamp, Value, ViewDef, ViewState};
use freshet_online::OnlineStore;
use freshet_project::scenarios::Scenario;
use freshet_project::{ProcessEnv, load_project};
use freshet_server::{AppState, Clock, ServerConfig};
use freshet_sources::generator::generator;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Distinct drivers.
    #[arg(long, default_value_t = 1_000_000)]
    entities: u64,
    /// Events (over 7 days).
    #[arg(long, default_value_t = 5_000_000)]
    events: u64,
    /// Seconds each load step runs.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Request rates to try for B1 (requests/s).
    #[arg(long, value_delimiter = ',', default_value = "10000,20000,25000")]
    rates: Vec<u64>,
    /// Request rate for B1b (100 entities per request).
    #[arg(long, default_value_t = 500)]
    rate_100: u64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Server worker threads (the load generator runs on its own thread besides).
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    /// B1r: serve from a `redis-server` started for the run (on a free port), and compare with a raw
    /// Redis client doing the same reads.
    #[arg(long)]
    redis: bool,
    /// B1r on a three-master Redis Cluster started for the run: the store is the cluster, and the
    /// raw client reads through a cluster connection.
    #[arg(long, conflicts_with = "redis")]
    redis_cluster: bool,
    /// Send the load from `freshet-bench load` in a process of its own, on these CPUs (`1`, or
    /// `0,1` for both), instead of from a thread of this process.
    #[arg(long)]
    client_cpus: Option<String>,
    /// Pin this process (the server) to these CPUs (`0`, say), with `taskset`.
    #[arg(long)]
    server_cpus: Option<String>,
    /// Run the server's threads at this real-time priority (`SCHED_FIFO`, 1 to 99) with `chrt`, as
    /// docs/serving.md suggests for a small host; the load generator keeps the default policy.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=99))]
    server_priority: Option<u8>,
    /// After B1, send the same load to a server that answers with a canned copy of a B1 response
    /// (HTTP alone, no lookup; see the `ceiling` module), on the same threads.
    #[arg(long)]
    ceiling: bool,
}

/// The B1 project: one push source and a 50-feature view of it (fare and distance x five
/// aggregations x five windows), with `extra_sources` (YAML list items) and a `tail` appended.
pub(crate) fn project_text(online_store: &str, extra_sources: &str, tail: &str) -> String {
    let mut features = String::new();
    for column in ["fare", "distance"] {
        for window in ["1h", "6h", "24h", "7d", ""] {
            for agg in ["count", "sum", "mean", "min", "max"] {
                let name = format!(
                    "{column}_{agg}_{}",
                    if window.is_empty() { "all" } else { window }
                );
                let window = if window.is_empty() {
                    String::new()
                } else {
                    format!(", window: {window}")
                };
                features.push_str(&format!(
                    "      - {{name: {name}, aggregation: {agg}, column: {column}{window}}}\n"
                ));
            }
        }
    }
    format!(
        r#"project: b1
online_store: {online_store}
entities: [{{name: driver, join_keys: [driver_id]}}]
sources:
  - {{name: trips, type: push, timestamp_field: event_time, schema: {{trip_id: string, driver_id: int64, event_time: timestamp, fare: float64, distance: float64, status: string}}}}
{extra_sources}feature_views:
  - name: driver_stats
    entities: [driver]
    source: trips
    features:
{features}feature_services:
  - {{name: b1, features: ["driver_stats:*"]}}
{tail}"#
    )
}

#[allow(clippy::print_stdout)]
pub(crate) fn report(line: &str) {
    println!("{line}");
}

/// The body of a `/get-online-features` request for the B1 service.
pub(crate) fn lookup_body(ids: &str) -> String {
    format!(r#"{{"feature_service": "b1", "entities": {{"driver_id": [{ids}]}}}}"#)
}

/// The `--ceiling` step: the same closed loop against a server that answers every lookup with a
/// canned copy of one of freshet's answers (see the `ceiling` module), after freshet answered
/// `capacity` req/s and the raw Redis client (when there is one) read `raw` records/s.
fn ceiling(
    runtime: &tokio::runtime::Runtime,
    client: &tokio::runtime::Runtime,
    freshet: std::net::SocketAddr,
    capacity: f64,
    raw: Option<f64>,
    args: &Args,
) -> anyhow::Result<()> {
    let path = "/get-online-features";
    let answer = client.block_on(crate::http_load::fetch_once(
        freshet,
        path,
        lookup_body("1").into(),
    ))?;
    let canned = Load {
        address: crate::ceiling::serve_canned(runtime, answer.clone())?,
        path,
        rate: 0,
        seconds: args.seconds,
        per_request: 1,
        entities: args.entities,
        seed: args.seed,
        body: lookup_body,
    };
    let most = client.block_on(canned.saturate());
    report(&format!(
        "ceiling: a server answering each lookup with a canned copy of one answer ({} bytes), nothing looked up: {most:.0} req/s in the same closed loop{}; freshet answered {:.1} % of it",
        answer.len(),
        raw.map_or(String::new(), |raw| format!(
            ", {:.1} % of the raw client's reads",
            100.0 * most / raw
        )),
        100.0 * capacity / most
    ));
    Ok(())
}

/// A workload's project after the seeded rides events: its view's state and the newest event time.
pub(crate) struct Seeded {
    pub(crate) project: freshet_project::Project,
    pub(crate) def: ViewDef,
    pub(crate) state: ViewState,
    pub(crate) newest: i64,
}

/// Writes `text` as the project in `dir`, loads it, and ingests `events` seeded rides over
/// `entities` drivers and 7 days into its first view (not timed).
pub(crate) fn seed(
    dir: &std::path::Path,
    text: &str,
    entities: u64,
    events: u64,
    seed: u64,
) -> anyhow::Result<Seeded> {
    std::fs::write(dir.join("freshet.yaml"), text)?;
    let project = load_project(dir, &ProcessEnv).map_err(|e| anyhow::anyhow!("{e}"))?;
    let def = project
        .views
        .first()
        .ok_or_else(|| anyhow::anyhow!("no view"))?
        .def
        .clone();
    let started = Instant::now();
    let config = rides(entities, events, 7.0, seed);
    let mut state = ViewState::new(def.clone());
    let mut newest = 0;
    for (position, row) in generator(Scenario::Rides, &config)?.enumerate() {
        if let Some(Value::Timestamp(t)) = row.get(2) {
            newest = newest.max(t.micros());
        }
        state.ingest(&row, Timestamp(0), position as u64)?;
    }
    report(&format!(
        "state: {events} events over {} drivers ingested in {:.1} s (not timed below)",
        state.entities(),
        started.elapsed().as_secs_f64()
    ));
    Ok(Seeded {
        project,
        def,
        state,
        newest,
    })
}

/// Writes every entity's record of `state` to `store`, in chunks as `freshet backfill` does;
/// returns the entities written and the seconds it took.
pub(crate) fn materialize(
    runtime: &tokio::runtime::Runtime,
    store: &OnlineStore,
    state: &ViewState,
) -> anyhow::Result<(usize, f64)> {
    let view = &state.def().name;
    let started = Instant::now();
    let mut chunk = Vec::with_capacity(4096);
    let mut written = 0usize;
    for record in state.records() {
        chunk.push(record);
        if chunk.len() == 4096 {
            written += runtime.block_on(store.write(view, &chunk))?;
            chunk.clear();
        }
    }
    written += runtime.block_on(store.write(view, &chunk))?;
    Ok((written, started.elapsed().as_secs_f64()))
}

/// Starts the feature server for `project` on loopback, in `runtime`, its clock fixed at `now`.
pub(crate) fn serve(
    runtime: &tokio::runtime::Runtime,
    project: &freshet_project::Project,
    store: OnlineStore,
    now: i64,
) -> anyhow::Result<(Arc<AppState>, std::net::SocketAddr)> {
    let server_config = ServerConfig {
        clock: Clock::Manual(Arc::new(AtomicI64::new(now))),
        limits: freshet_server::Limits {
            max_entities: 1_000,
            ..freshet_server::Limits::default()
        },
        ..ServerConfig::default()
    };
    let app = Arc::new(AppState::new(project, store, server_config));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    runtime.spawn(freshet_server::serve(
        listener,
        app.clone(),
        std::future::pending(),
    ));
    Ok((app, address))
}

/// The name of the server runtime's threads, by which `--server-priority` finds them.
pub(crate) const SERVER_THREAD: &str = "bench-server";

/// A runtime of `threads` workers for the server (the load generator runs on its own thread).
pub(crate) fn server_runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(SERVER_THREAD)
        .enable_all()
        .build()?)
}

/// The load generator's single-threaded runtime.
pub(crate) fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let redis = Redis::start(args.redis, args.redis_cluster);
    let store_yaml = redis.as_ref().map_or_else(
        || "{type: embedded, path: online}".to_owned(),
        Redis::store_yaml,
    );
    let text = project_text(&store_yaml, "", "");
    let seeded = seed(dir.path(), &text, args.entities, args.events, args.seed)?;
    let runtime = server_runtime(args.server_threads)?;
    let store = runtime.block_on(OnlineStore::open(&seeded.project))?;
    let (written, seconds) = materialize(&runtime, &store, &seeded.state)?;
    let features = seeded.def.features.len();
    let rows = written as f64 * features as f64;
    report(&format!(
        "B4:   {written} entities x {features} features materialized into the {} store in {seconds:.2} s = {:.0} rows/s (target >= {})",
        store.kind(),
        rows / seconds,
        if redis.is_some() {
            "300,000"
        } else {
            "2,000,000"
        }
    ));
    let raw = redis.as_ref().map(|redis| -> anyhow::Result<f64> {
        let raw = runtime.block_on(redis.raw_reads(&seeded.def.name, args.entities, args.seconds, args.seed))?;
        report(&format!(
            "raw:  a raw Redis client doing the same reads (one pipelined GET of the driver's record, {CONNECTIONS} in flight): {raw:.0} reads/s"
        ));
        Ok(raw)
    });
    let raw = raw.transpose()?;
    let Seeded {
        project, newest, ..
    } = seeded;
    let (app, address) = serve(&runtime, &project, store, newest)?;
    let client = client_runtime()?;
    if let Some(cpus) = &args.server_cpus {
        crate::http_load::pin_this_process(cpus)?;
    }
    if let Some(priority) = args.server_priority {
        let threads = crate::http_load::prioritize_threads(SERVER_THREAD, priority)?;
        report(&format!(
            "server: {threads} threads at real-time priority {priority} (SCHED_FIFO)"
        ));
    }
    let from = match &args.client_cpus {
        Some(cpus) => crate::http_load::Client::Process { cpus: cpus.clone() },
        None => crate::http_load::Client::InProcess,
    };
    let lookups = |rate: u64, per_request: usize, seconds: f64, seed: u64| Load {
        address,
        path: "/get-online-features",
        rate,
        seconds,
        per_request,
        entities: args.entities,
        seed,
        body: lookup_body,
    };
    // Warm up connections and caches.
    lookups(2_000, 1, 1.0, args.seed).run_from(&from, &client)?;
    for &rate in &args.rates {
        let step = lookups(rate, 1, args.seconds, args.seed ^ rate).run_from(&from, &client)?;
        report(&format!(
            "B1:   1 entity x 50 features at {rate} req/s offered: {}",
            step.summary()
        ));
        report(&server_side_line(
            &app.metrics.encode(),
            "/get-online-features",
            rate,
        ));
    }
    if raw.is_some() || args.ceiling {
        let capacity = client.block_on(lookups(0, 1, args.seconds, args.seed).saturate());
        report(&format!(
            "B1r:  capacity, closed loop with {CONNECTIONS} requests in flight as the raw client: {capacity:.0} req/s answered{}",
            raw.map_or(String::new(), |raw| format!(
                " = {:.1} % of the raw client's reads (target >= 70 %)",
                100.0 * capacity / raw
            ))
        ));
        if args.ceiling {
            ceiling(&runtime, &client, address, capacity, raw, args)?;
        }
    }
    let step = lookups(args.rate_100, 100, args.seconds, args.seed).run_from(&from, &client)?;
    report(&format!(
        "B1b:  100 entities x 50 features at {} req/s: {} of {} ok, p50 {}, p99 {} (target <= 5 ms)",
        args.rate_100,
        step.ok,
        step.sent,
        micros(step.percentile(0.5)),
        micros(step.percentile(0.99)),
    ));
    Ok(())
}
