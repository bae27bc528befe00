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
//!    sender. Each request asks for a random driver (B1: 1 entity, B1b: 100 entities) x 50 features.
//!
//! Targets (PRODUCT.md): B1 >= 20,000 requests/s, p99 <= 1 ms at half that rate; B1b p99 <= 5 ms;
//! B4 >= 2,000,000 rows/s.

use crate::workload::rides;
use freshet_engine::{Timestamp, Value, ViewState};
use freshet_online::OnlineStore;
use freshet_project::scenarios::Scenario;
use freshet_project::{ProcessEnv, load_project};
use freshet_server::{AppState, Clock, ServerConfig};
use freshet_sources::generator::generator;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

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
}

fn project_text(online_store: &str) -> String {
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
feature_views:
  - name: driver_stats
    entities: [driver]
    source: trips
    features:
{features}feature_services:
  - {{name: b1, features: ["driver_stats:*"]}}
"#
    )
}

#[allow(clippy::print_stdout)]
fn report(line: &str) {
    println!("{line}");
}

/// Latency percentiles of one load step.
struct Step {
    sent: usize,
    ok: usize,
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Step {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

fn micros(d: Duration) -> String {
    format!("{:.0} us", d.as_secs_f64() * 1e6)
}

/// Connections the load generator keeps open; request i goes to connection i mod CONNECTIONS.
const CONNECTIONS: usize = 64;

/// Sends requests open-loop at `rate` for `seconds` over [`CONNECTIONS`] persistent HTTP/1.1
/// connections; each asks for `per_request` random drivers. A request waits for its connection if the
/// previous one on it is slow, and that wait counts in its latency (measured from when it was due).
async fn load(
    address: std::net::SocketAddr,
    rate: u64,
    seconds: f64,
    per_request: usize,
    entities: u64,
    seed: u64,
) -> Step {
    let total = (rate as f64 * seconds) as usize;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let bodies: Vec<bytes::Bytes> = (0..total)
        .map(|_| {
            let ids: Vec<String> = (0..per_request)
                .map(|_| rng.random_range(1..=entities).to_string())
                .collect();
            bytes::Bytes::from(format!(
                r#"{{"feature_service": "b1", "entities": {{"driver_id": [{}]}}}}"#,
                ids.join(",")
            ))
        })
        .collect();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(50);
    let mut lanes: Vec<Vec<(Instant, bytes::Bytes)>> = vec![Vec::new(); CONNECTIONS];
    for (i, body) in bodies.into_iter().enumerate() {
        lanes[i % CONNECTIONS].push((start + interval * i as u32, body));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for lane in lanes {
        tasks.spawn(async move {
            let mut results = Vec::with_capacity(lane.len());
            let Ok(stream) = tokio::net::TcpStream::connect(address).await else {
                return results;
            };
            let _ = stream.set_nodelay(true);
            let Ok((mut sender, connection)) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await
            else {
                return results;
            };
            tokio::spawn(connection);
            let mut previous_done = Instant::now();
            for (due, body) in lane {
                tokio::time::sleep_until(due.into()).await;
                // Latency counts from when the request was due if the connection was still busy with
                // the previous one (the server's delay); otherwise from when the timer woke us, so
                // the timer's millisecond granularity is not charged to the server.
                let counted_from = if previous_done > due {
                    due
                } else {
                    Instant::now()
                };
                let request = hyper::Request::post("/get-online-features")
                    .header("host", "bench")
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(body));
                let ok = match request {
                    Ok(request) => match sender.send_request(request).await {
                        Ok(response) => {
                            let success = response.status().is_success();
                            use http_body_util::BodyExt;
                            success && response.into_body().collect().await.is_ok()
                        }
                        Err(_) => false,
                    },
                    Err(_) => false,
                };
                previous_done = Instant::now();
                results.push((ok, previous_done - counted_from));
            }
            results
        });
    }
    let mut latencies = Vec::with_capacity(total);
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        for (success, latency) in done.unwrap_or_default() {
            ok += usize::from(success);
            latencies.push(latency);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Step {
        sent: total,
        ok,
        seconds,
        latencies,
    }
}

/// The B1r baseline: a raw Redis client reading one random driver's record per request, with
/// [`CONNECTIONS`] requests in flight on one multiplexed connection, for `args.seconds`.
async fn raw_redis_reads(url: &str, view: &str, args: &Args) -> f64 {
    let Ok(client) = redis::Client::open(url) else {
        return 0.0;
    };
    let Ok(connection) = client.get_multiplexed_async_connection().await else {
        return 0.0;
    };
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..CONNECTIONS {
        let mut connection = connection.clone();
        let view = view.to_owned();
        let entities = args.entities;
        let seed = args.seed ^ lane as u64;
        tasks.spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut done = 0u64;
            while Instant::now() < deadline {
                let driver = freshet_engine::EntityKey::int(rng.random_range(1..=entities as i64));
                let key = freshet_online::keys::redis_key("b1", &view, &driver);
                let mut pipeline = redis::pipe();
                pipeline.cmd("GET").arg(key);
                let read: redis::RedisResult<Vec<Option<Vec<u8>>>> =
                    pipeline.query_async(&mut connection).await;
                if read.is_ok() {
                    done += 1;
                }
            }
            done
        });
    }
    let mut total = 0u64;
    while let Some(done) = tasks.join_next().await {
        total += done.unwrap_or(0);
    }
    total as f64 / args.seconds
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let redis = args.redis.then(freshet_testkit::redis::RedisServer::start);
    let store_yaml = match &redis {
        Some(server) => format!("{{type: redis, url: \"{}\"}}", server.url()),
        None => "{type: embedded, path: online}".to_owned(),
    };
    std::fs::write(dir.path().join("freshet.yaml"), project_text(&store_yaml))?;
    let project = load_project(dir.path(), &ProcessEnv).map_err(|e| anyhow::anyhow!("{e}"))?;
    let def = project
        .views
        .first()
        .ok_or_else(|| anyhow::anyhow!("no view"))?
        .def
        .clone();

    let started = Instant::now();
    let config = rides(args.entities, args.events, 7.0, args.seed);
    let mut state = ViewState::new(def.clone());
    let mut newest = 0;
    for (position, row) in generator(Scenario::Rides, &config)?.enumerate() {
        if let Some(Value::Timestamp(t)) = row.get(2) {
            newest = newest.max(t.micros());
        }
        state.ingest(&row, Timestamp(0), position as u64)?;
    }
    report(&format!(
        "state: {} events over {} drivers ingested in {:.1} s (not timed below)",
        args.events,
        state.entities(),
        started.elapsed().as_secs_f64()
    ));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads.max(1))
        .enable_all()
        .build()?;
    let store = runtime.block_on(OnlineStore::open(&project))?;
    let started = Instant::now();
    let mut chunk = Vec::with_capacity(4096);
    let mut written = 0usize;
    for record in state.records() {
        chunk.push(record);
        if chunk.len() == 4096 {
            written += runtime.block_on(store.write(&def.name, &chunk))?;
            chunk.clear();
        }
    }
    written += runtime.block_on(store.write(&def.name, &chunk))?;
    let seconds = started.elapsed().as_secs_f64();
    let rows = written as f64 * def.features.len() as f64;
    report(&format!(
        "B4:   {written} entities x {} features materialized into the {} store in {seconds:.2} s = {:.0} rows/s (target >= {})",
        def.features.len(),
        store.kind(),
        rows / seconds,
        if redis.is_some() {
            "300,000"
        } else {
            "2,000,000"
        }
    ));
    if let Some(server) = &redis {
        let raw = runtime.block_on(raw_redis_reads(&server.url(), &def.name, args));
        report(&format!(
            "raw:  a raw Redis client doing the same reads (one pipelined GET of the driver's record, {CONNECTIONS} in flight): {raw:.0} reads/s"
        ));
    }
    drop(state);

    let clock = Arc::new(AtomicI64::new(newest));
    let server_config = ServerConfig {
        clock: Clock::Manual(clock),
        limits: freshet_server::Limits {
            max_entities: 1_000,
            ..freshet_server::Limits::default()
        },
        ..ServerConfig::default()
    };
    let app = Arc::new(AppState::new(&project, store, server_config));
    let metrics_of = app.clone();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    runtime.spawn(freshet_server::serve(listener, app, std::future::pending()));

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Warm up connections and caches.
    client.block_on(load(address, 2_000, 1.0, 1, args.entities, args.seed));
    let server_side = |label: &str| {
        // The server's own latency histogram: time inside the server, without the network or the
        // load generator's scheduling.
        let text = metrics_of.metrics.encode();
        let buckets: Vec<(f64, f64)> = text
            .lines()
            .filter(|l| {
                l.starts_with("freshet_http_request_duration_seconds_bucket")
                    && l.contains("/get-online-features")
            })
            .filter_map(|l| {
                let le = l.split("le=\"").nth(1)?.split('"').next()?;
                let count = l.rsplit(' ').next()?.parse::<f64>().ok()?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, count))
            })
            .collect();
        let total = buckets.last().map_or(0.0, |b| b.1);
        let quantile = |q: f64| {
            buckets
                .iter()
                .find(|b| b.1 >= q * total)
                .map_or(f64::NAN, |b| b.0)
        };
        report(&format!(
            "      server-side, {label}: p50 <= {:.0} us, p99 <= {:.0} us (histogram bucket bounds, all requests so far)",
            quantile(0.5) * 1e6,
            quantile(0.99) * 1e6
        ));
    };
    for &rate in &args.rates {
        let step = client.block_on(load(
            address,
            rate,
            args.seconds,
            1,
            args.entities,
            args.seed ^ rate,
        ));
        report(&format!(
            "B1:   1 entity x 50 features at {rate} req/s offered: {:.0} req/s answered ({} of {} ok), p50 {}, p99 {}, p99.9 {}",
            step.ok as f64 / step.seconds,
            step.ok,
            step.sent,
            micros(step.percentile(0.5)),
            micros(step.percentile(0.99)),
            micros(step.percentile(0.999)),
        ));
        server_side(&format!("after {rate} req/s"));
    }
    let step = client.block_on(load(
        address,
        args.rate_100,
        args.seconds,
        100,
        args.entities,
        args.seed,
    ));
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
