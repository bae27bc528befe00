//! B2k: B2's twelve window features through Kafka with JSON decode, the whole `freshet run` path:
//! consumer group, decode and validation, event log append, engine, online store (embedded).
//!
//! The broker is librdkafka's mock cluster, in this process. The events (seeded rides, B2's columns)
//! are produced first, not timed; then the runtime consumes them all. Reported: events per second of
//! wall time, and per CPU-second of the whole process (which also pays for the in-process broker
//! serving the fetches, so the per-core figure is conservative).
//!
//! With `--rate R`, the producer instead sends R events/s live while the runtime runs, and a probe
//! measures event-to-servable latency: it produces a marker event for a reserved entity and times
//! until the feature server, running in the same runtime as `freshet run` runs it, answers that
//! entity's count (`POST /get-online-features` over a kept-alive loopback connection). One
//! marker at a time, every 20 ms, from 3 s after the start; the first is warm-up and not counted.
//! The probe sends each marker at once, so the time measured starts when the record leaves its
//! producer. The load's producer batches as a throughput-minded client would (`--load-linger-ms`,
//! 20 by default), and that matters here for the broker's sake, not freshet's: the mock broker
//! finds a fetch's offset by walking the partition's list of record batches from the oldest
//! (librdkafka's `rd_kafka_mock_msgset_find` keeps no index), and a caught-up
//! consumer's fetch walks all of them. At librdkafka's default 5 ms linger, 32 partitions gain 6,400
//! batches a second, the broker's CPU grows through the run (0.2 to 0.75 of a core in 40 s), and the
//! p99 measured depends on how long the run lasts. A real broker looks the offset up in an index.
//! The report gives the p99 of each half of the run, so growth like that shows.
//!
//! With `--recovery`, it instead times a worker's restart after SIGKILL (see [`crate::recovery`]).
//!
//! Targets (PRODUCT.md): at least 300,000 events/s per core; event-to-servable p99 at most 50 ms at
//! 50,000 events/s.

mod latency;

use latency::latency;

use crate::machine::{cpu_seconds, cpu_seconds_by_thread, threads_cpu_seconds};
use crate::workload::rides;
use freshet_engine::Value;
use freshet_kafka::MockCluster;
use freshet_kafka::producer::Producer;
use freshet_project::scenarios::Scenario;
use freshet_runtime::{RunOptions, Status};
use freshet_sources::generator::generator;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Events to produce.
    #[arg(long, default_value_t = 2_000_000)]
    pub(crate) events: u64,
    /// Distinct entities (drivers).
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) entities: u64,
    /// Topic partitions (the mock broker keeps at most 100,000 record batches or 5 MiB of them per
    /// partition, about 100,000 of these events, so preloading needs enough of them; a run whose
    /// records were dropped is refused).
    #[arg(long, default_value_t = 32)]
    pub(crate) partitions: i32,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Produce live at this many events/s and measure event-to-servable latency (0: preload, measure
    /// throughput).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Seconds of live production (with --rate).
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// With --rate: `linger.ms` of the load's producer (the probe's markers never linger). See the
    /// module doc for why it is not librdkafka's default of 5.
    #[arg(long, default_value_t = 20)]
    load_linger_ms: u32,
    /// Measure recovery instead: SIGKILL a `freshet run` worker process and time its restart (see
    /// [`crate::recovery`]).
    #[arg(long)]
    pub(crate) recovery: bool,
    /// With --recovery: give the worker a static group membership (`group.instance.id`).
    #[arg(long, requires = "recovery", conflicts_with = "fixed_assignment")]
    pub(crate) static_membership: bool,
    /// With --recovery: the worker reads all partitions by a fixed assignment, outside any group.
    #[arg(long, requires = "recovery")]
    pub(crate) fixed_assignment: bool,
    /// The broker: librdkafka's mock cluster in this process, or a `tansu` process of its own (its
    /// CPU then stays out of the figures; see `freshet_testkit::tansu`).
    #[arg(long, value_enum, default_value_t = BrokerKind::Mock)]
    pub(crate) broker: BrokerKind,
}

/// The name of the thread that serves librdkafka's mock cluster: its CPU is the broker's, which in a
/// deployment runs on machines of its own.
const MOCK_BROKER_THREAD: &str = "rdk:mock";

/// The index of the probe's feature in the B2k view: `trips_7d`, the marker's count over 7 days
/// (four features per window, windows 1h, 24h, 7d).
const COUNT_7D: usize = 8;

/// Which Kafka-protocol broker a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BrokerKind {
    /// librdkafka's mock cluster, in the benchmark process.
    Mock,
    /// A `tansu` broker process with memory storage.
    Tansu,
}

/// A running broker; it stops when dropped. (Held, never inspected: the mock has no `Debug`.)
#[allow(dead_code)]
pub(crate) enum Broker {
    Mock(freshet_kafka::MockBroker),
    Tansu(freshet_testkit::tansu::TansuBroker),
}

impl Broker {
    /// Starts a broker of `kind` with topic `trips` of `partitions` partitions.
    fn start(kind: BrokerKind, partitions: i32) -> anyhow::Result<(Broker, String)> {
        Ok(match kind {
            BrokerKind::Mock => {
                let cluster = MockCluster::new(1)?;
                cluster.create_topic("trips", partitions, 1)?;
                let brokers = cluster.bootstrap_servers();
                (Broker::Mock(cluster), brokers)
            }
            BrokerKind::Tansu => {
                let broker = freshet_testkit::tansu::TansuBroker::start();
                broker.create_topic("trips", partitions);
                let brokers = broker.bootstrap_servers();
                (Broker::Tansu(broker), brokers)
            }
        })
    }
}

/// The B2k project over `brokers`; `source_options` are extra YAML lines for the Kafka source.
fn project(brokers: &str, source_options: &str) -> String {
    let mut features = String::new();
    for w in ["1h", "24h", "7d"] {
        features.push_str(&format!(
            "      - {{name: trips_{w}, aggregation: count, window: {w}}}\n      - {{name: fare_sum_{w}, aggregation: sum, column: fare, window: {w}}}\n      - {{name: fare_mean_{w}, aggregation: mean, column: fare, window: {w}}}\n      - {{name: fare_max_{w}, aggregation: max, column: fare, window: {w}}}\n"
        ));
    }
    format!(
        r#"project: b2k
entities: [{{name: driver, join_keys: [driver_id]}}]
sources:
  - name: trips
    type: kafka
    brokers: "{brokers}"
    topic: trips
{source_options}    timestamp_field: event_time
    schema: {{driver_id: int64, fare: float64, event_time: timestamp}}
feature_views:
  - name: b2
    entities: [driver]
    source: trips
    features:
{features}"#
    )
}

/// (key, payload, timestamp ms) of B2's events, shifted so the newest is a little before now.
pub(crate) fn events(args: &Args) -> anyhow::Result<Vec<(i64, String, i64)>> {
    let config = rides(args.entities, args.events, 30.0, args.seed);
    let rows: Vec<Vec<Value>> = generator(Scenario::Rides, &config)?.collect();
    let newest = rows
        .iter()
        .filter_map(|r| match r.get(2) {
            Some(Value::Timestamp(t)) => Some(t.micros()),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let shift = chrono::Utc::now().timestamp_micros() - 60_000_000 - newest;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let (Value::Int64(driver), Value::Float64(fare), Value::Timestamp(t)) =
                (&r[1], &r[3], &r[2])
            else {
                return None;
            };
            let t = (t.micros() + shift) / 1_000 * 1_000;
            let time = freshet_sources::formats::format_timestamp(t);
            let payload =
                format!(r#"{{"driver_id":{driver},"fare":{fare},"event_time":"{time}"}}"#);
            Some((*driver, payload, t / 1_000))
        })
        .collect())
}

/// A mock broker with the `trips` topic, and the B2k project for it in a temporary directory.
pub(crate) struct Setup {
    /// The broker; it stops when dropped.
    pub(crate) cluster: Broker,
    pub(crate) brokers: String,
    /// Holds the project directory; it is removed when dropped.
    pub(crate) dir: tempfile::TempDir,
    pub(crate) project_dir: std::path::PathBuf,
}

/// Starts the broker and writes the project, its Kafka source given `source_options`.
pub(crate) fn setup(args: &Args, source_options: &str) -> anyhow::Result<Setup> {
    let (cluster, brokers) = Broker::start(args.broker, args.partitions)?;
    let dir = tempfile::tempdir()?;
    let project_dir = dir.path().join("b2k");
    std::fs::create_dir_all(&project_dir)?;
    std::fs::write(
        project_dir.join("freshet.yaml"),
        project(&brokers, source_options),
    )?;
    Ok(Setup {
        cluster,
        brokers,
        dir,
        project_dir,
    })
}

/// Sends `events` to the topic and waits until the broker has them all.
pub(crate) fn produce(brokers: &str, events: &[(i64, String, i64)]) -> anyhow::Result<()> {
    let producer = Producer::new(brokers, "trips")?;
    for (key, payload, t) in events {
        producer.send(key.to_string().as_bytes(), payload.as_bytes(), Some(*t))?;
    }
    producer.flush(Duration::from_secs(120))?;
    // A broker that dropped records (the mock keeps about 5 MiB per partition) would leave the
    // runtime waiting for events that no longer exist: refuse the run instead.
    let marks = freshet_kafka::watermarks(brokers, "trips", Duration::from_secs(10))?;
    let dropped: i64 = marks.values().map(|(low, _)| *low).sum();
    if dropped > 0 {
        anyhow::bail!(
            "the broker dropped {dropped} of the {} records produced (it keeps about 5 MiB per \
             partition); run with more --partitions, e.g. one per 60,000 events",
            events.len()
        );
    }
    Ok(())
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    if args.recovery {
        return crate::recovery::run(args);
    }
    // Both brokers answer a fetch that finds no new records only when its `fetch.wait.max.ms` (500 ms
    // by default) is up, even if records arrive meanwhile; Kafka itself answers as soon as they do
    // (long polling). A short wait stands in for that, so the latency measured is freshet's and not
    // the broker's poll interval. Throughput runs always find records, so they keep the default.
    let options = if args.rate > 0.0 {
        "    options: {fetch.wait.max.ms: \"5\"}\n"
    } else {
        ""
    };
    let Setup {
        cluster: _cluster,
        brokers,
        dir: _dir,
        project_dir,
    } = setup(args, options)?;
    let project = freshet_project::load_project(&project_dir, &freshet_project::ProcessEnv)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    if args.rate > 0.0 {
        return latency(args, &brokers, &project);
    }
    let started = Instant::now();
    let events = events(args)?;
    produce(&brokers, &events)?;
    println!(
        "produced {} events over {} entities into {} partitions in {:.1} s (not timed below)",
        events.len(),
        args.entities,
        args.partitions,
        started.elapsed().as_secs_f64()
    );
    let total = events.len() as u64;
    drop(events);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let done = Arc::new(AtomicBool::new(false));
    let cpu_before = cpu_seconds();
    let threads_before = cpu_seconds_by_thread().unwrap_or_default();
    let mut threads_after = threads_before.clone();
    let mut process_after = cpu_before;
    let broker_before = threads_cpu_seconds(MOCK_BROKER_THREAD);
    let started = Instant::now();
    let mut first = None;
    let report = runtime.block_on(async {
        let store = freshet_online::OnlineStore::open(&project).await?;
        let clock = Arc::new(AtomicI64::new(0));
        let done_flag = done.clone();
        let mut status = |s: Status| {
            // Read while the consumer's and the store's threads still live: the last report comes
            // after the final checkpoint, before they stop.
            threads_after = cpu_seconds_by_thread().unwrap_or_default();
            process_after = cpu_seconds();
            if s.events > 0 && first.is_none() {
                first = Some(Instant::now());
            }
            if s.events >= total {
                done_flag.store(true, Ordering::Relaxed);
            }
        };
        let options = RunOptions {
            checkpoint_interval: Duration::from_secs(10),
            ..RunOptions::default()
        };
        let stop = async {
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        anyhow::Ok(
            freshet_runtime::run(&project, &store, clock, &options, stop, &mut status).await?,
        )
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    let broker_cpu = threads_cpu_seconds(MOCK_BROKER_THREAD)
        .zip(broker_before)
        .map(|(a, b)| a - b);
    println!(
        "consume: {} events in {elapsed:.2} s = {:.0} events/s wall (group join included)",
        report.events,
        report.events as f64 / elapsed
    );
    if let Some(cpu) = cpu {
        let whose = match args.broker {
            BrokerKind::Mock => "freshet and the in-process broker",
            BrokerKind::Tansu => "freshet alone: the broker runs in its own process",
        };
        println!(
            "cpu:     {cpu:.2} CPU-seconds = {:.0} events per CPU-second ({whose})",
            report.events as f64 / cpu
        );
        if let (BrokerKind::Mock, Some(broker)) = (args.broker, broker_cpu) {
            println!(
                "         of which the broker's thread {broker:.2}: {:.0} events per CPU-second of freshet's own threads",
                report.events as f64 / (cpu - broker)
            );
        }
    }
    println!(
        "         by thread: {}",
        thread_shares(
            &threads_before,
            &threads_after,
            process_after.zip(cpu_before).map(|(a, b)| a - b)
        )
    );
    println!(
        "         {} checkpoints, {} dead letters",
        report.checkpoints, report.dead_letters
    );
    Ok(())
}

/// The CPU seconds each thread name used between two readings, largest first (the process's own
/// name is its main thread, which runs the loop here). Threads that ended between the readings
/// (the store's drainer stops whenever nothing is held) are counted together, as what the process
/// used beyond its live threads.
fn thread_shares(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
    process: Option<f64>,
) -> String {
    let mut used: Vec<(String, f64)> = after
        .iter()
        .map(|(name, cpu)| (name.clone(), cpu - before.get(name).copied().unwrap_or(0.0)))
        .collect();
    let live: f64 = used.iter().map(|(_, cpu)| cpu).sum();
    if let Some(process) = process {
        used.push(("ended threads".to_owned(), process - live));
    }
    used.retain(|(_, cpu)| *cpu >= 0.01);
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    used.iter()
        .map(|(name, cpu)| format!("{name} {cpu:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}
