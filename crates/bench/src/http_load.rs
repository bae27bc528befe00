//! The open-loop HTTP load generator B1 and B5 share, and how their figures are read.
//!
//! Request i is due at `start + i / rate` whatever happened to earlier ones, and its latency counts
//! from when it was due, so a stall in the server shows up in the figures instead of slowing the
//! sender (the "coordinated omission" a closed-loop client would hide).

use crate::pacer::PreciseTimer;
use rand::{RngExt, SeedableRng};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Connections the load generator keeps open; request i goes to connection i mod CONNECTIONS.
pub(crate) const CONNECTIONS: usize = 64;

/// One load step: what to send, how fast, for how long.
pub(crate) struct Load {
    pub(crate) address: SocketAddr,
    /// The route, e.g. `/predict`.
    pub(crate) path: &'static str,
    pub(crate) rate: u64,
    pub(crate) seconds: f64,
    /// Random drivers per request, drawn from `1..=entities`.
    pub(crate) per_request: usize,
    pub(crate) entities: u64,
    pub(crate) seed: u64,
    /// The JSON body for a comma-separated list of driver ids.
    pub(crate) body: fn(&str) -> String,
}

/// The outcome of one load step: counts and latency percentiles.
pub(crate) struct Step {
    pub(crate) sent: usize,
    pub(crate) ok: usize,
    pub(crate) seconds: f64,
    /// p50, p99 and p99.9.
    percentiles: [Duration; 3],
}

/// The percentiles a [`Step`] keeps.
const KEPT: [f64; 3] = [0.5, 0.99, 0.999];

impl Step {
    fn new(sent: usize, ok: usize, seconds: f64, mut latencies: Vec<Duration>) -> Step {
        latencies.sort_unstable();
        let at = |p: f64| {
            if latencies.is_empty() {
                return Duration::ZERO;
            }
            latencies[((latencies.len() as f64 - 1.0) * p).round() as usize]
        };
        Step {
            sent,
            ok,
            seconds,
            percentiles: KEPT.map(at),
        }
    }

    /// The step as one line of text, for a load generator in another process to hand back.
    pub(crate) fn to_line(&self) -> String {
        let [p50, p99, p999] = self.percentiles.map(|d| d.as_nanos());
        format!(
            "step {} {} {} {p50} {p99} {p999}",
            self.sent, self.ok, self.seconds
        )
    }

    /// The step [`Step::to_line`] wrote.
    pub(crate) fn from_line(line: &str) -> Option<Step> {
        let mut parts = line.strip_prefix("step ")?.split(' ');
        let sent = parts.next()?.parse().ok()?;
        let ok = parts.next()?.parse().ok()?;
        let seconds = parts.next()?.parse().ok()?;
        let mut percentiles = [Duration::ZERO; 3];
        for p in &mut percentiles {
            *p = Duration::from_nanos(parts.next()?.parse().ok()?);
        }
        Some(Step {
            sent,
            ok,
            seconds,
            percentiles,
        })
    }

    /// `{answered} req/s answered ({ok} of {sent} ok), p50 .., p99 .., p99.9 ..`.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{:.0} req/s answered ({} of {} ok), p50 {}, p99 {}, p99.9 {}",
            self.ok as f64 / self.seconds,
            self.ok,
            self.sent,
            micros(self.percentile(0.5)),
            micros(self.percentile(0.99)),
            micros(self.percentile(0.999)),
        )
    }

    /// p50, p99 or p99.9 (the percentiles a step keeps; others read as zero).
    pub(crate) fn percentile(&self, p: f64) -> Duration {
        KEPT.iter()
            .position(|&k| k == p)
            .map_or(Duration::ZERO, |i| self.percentiles[i])
    }
}

/// Where a load step's requests come from.
#[derive(Debug, Clone)]
pub(crate) enum Client {
    /// A thread of the benchmark process (sharing both cores with the server).
    InProcess,
    /// `freshet-bench load` in a process of its own, run by `taskset -c cpus` (a CPU list such as
    /// `1` or `0,1`).
    Process { cpus: String },
}

/// `freshet-bench load`: one open-loop step of B1 lookups against a running server, for a client
/// process of its own; prints the step as [`Step::to_line`].
#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// The server's address, `127.0.0.1:PORT`.
    #[arg(long)]
    address: SocketAddr,
    #[arg(long)]
    rate: u64,
    #[arg(long)]
    seconds: f64,
    /// Drivers per request.
    #[arg(long, default_value_t = 1)]
    per_request: usize,
    #[arg(long)]
    entities: u64,
    #[arg(long)]
    seed: u64,
}

pub(crate) fn run_load(args: &LoadArgs) -> anyhow::Result<()> {
    let load = Load {
        address: args.address,
        path: "/get-online-features",
        rate: args.rate,
        seconds: args.seconds,
        per_request: args.per_request,
        entities: args.entities,
        seed: args.seed,
        body: crate::b1::lookup_body,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let step = runtime.block_on(load.run());
    #[allow(clippy::print_stdout)]
    {
        println!("{}", step.to_line());
    }
    Ok(())
}

impl Load {
    /// Runs the step from `client`: on `runtime` in this process, or in a pinned process of its own
    /// (B1 lookups only).
    pub(crate) fn run_from(
        &self,
        client: &Client,
        runtime: &tokio::runtime::Runtime,
    ) -> anyhow::Result<Step> {
        let Client::Process { cpus } = client else {
            return Ok(runtime.block_on(self.run()));
        };
        let output = std::process::Command::new("taskset")
            .args(["-c", cpus.as_str()])
            .arg(std::env::current_exe()?)
            .args(["load", "--address", &self.address.to_string()])
            .args(["--rate", &self.rate.to_string()])
            .args(["--seconds", &self.seconds.to_string()])
            .args(["--per-request", &self.per_request.to_string()])
            .args(["--entities", &self.entities.to_string()])
            .args(["--seed", &self.seed.to_string()])
            .stderr(std::process::Stdio::inherit())
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .find_map(Step::from_line)
            .ok_or_else(|| anyhow::anyhow!("the load process printed no step: {text}"))
    }
}

/// Pins every thread of this process to the CPU list `cpus` (`taskset -a -p`), so the server keeps
/// to its cores.
pub(crate) fn pin_this_process(cpus: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(
        status.success(),
        "taskset could not pin the server to CPUs {cpus}"
    );
    Ok(())
}

/// Puts every thread of this process named `name` under the real-time policy `SCHED_FIFO` at
/// `priority` (`chrt -f -p`); returns how many. A woken thread of that policy runs at once, on an
/// idle CPU if there is one, where the default policy may queue it behind another task for up to a
/// scheduler tick (docs/benchmarks.md, B1 session 28).
pub(crate) fn prioritize_threads(name: &str, priority: u8) -> anyhow::Result<usize> {
    let mut done = 0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let task = task?;
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let tid = task.file_name();
        let status = std::process::Command::new("chrt")
            .args(["-f", "-p", &priority.to_string()])
            .arg(&tid)
            .stdout(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(
            status.success(),
            "chrt could not give thread {} real-time priority {priority}: it needs CAP_SYS_NICE (run as root)",
            tid.to_string_lossy()
        );
        done += 1;
    }
    anyhow::ensure!(done > 0, "no thread of this process is named `{name}`");
    Ok(done)
}

/// A duration in whole microseconds, for reports.
pub(crate) fn micros(d: Duration) -> String {
    format!("{:.0} us", d.as_secs_f64() * 1e6)
}

impl Load {
    /// Request bodies, seeded, built before the clock starts.
    fn bodies(&self) -> Vec<bytes::Bytes> {
        let total = (self.rate as f64 * self.seconds) as usize;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        (0..total)
            .map(|_| random_body(self.body, self.per_request, self.entities, &mut rng))
            .collect()
    }

    /// Sends the step's requests open-loop over [`CONNECTIONS`] persistent HTTP/1.1 connections. A
    /// request waits for its connection if the previous one on it is slow, and that wait counts in
    /// its latency.
    pub(crate) async fn run(&self) -> Step {
        let bodies = self.bodies();
        let total = bodies.len();
        let interval = Duration::from_secs_f64(1.0 / self.rate as f64);
        let start = Instant::now() + Duration::from_millis(50);
        let mut lanes = Vec::with_capacity(CONNECTIONS);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONNECTIONS {
            let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
            lanes.push(sender);
            tasks.spawn(send_lane(self.address, self.path, receiver));
        }
        let pacer = tokio::spawn(pace(start, interval, bodies, lanes));
        let mut latencies = Vec::with_capacity(total);
        let mut ok = 0;
        while let Some(done) = tasks.join_next().await {
            for (success, latency) in done.unwrap_or_default() {
                ok += usize::from(success);
                latencies.push(latency);
            }
        }
        if let Ok(Err(e)) = pacer.await {
            tracing::warn!("the load generator's timer failed: {e}; the step stopped early");
        }
        let seconds = start.elapsed().as_secs_f64();
        Step::new(total, ok, seconds, latencies)
    }
}

impl Load {
    /// The server's capacity: [`CONNECTIONS`] connections, each sending its next request as soon as
    /// the answer to its last one is in (a closed loop, as the raw Redis client of B1r and tools such
    /// as wrk measure), for `seconds`; returns the answers per second. Only `rate` is unused. A
    /// closed loop needs no pacing timer, so the generator spends its time on HTTP alone.
    pub(crate) async fn saturate(&self) -> f64 {
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(self.seconds);
        let mut tasks = tokio::task::JoinSet::new();
        for lane in 0..CONNECTIONS {
            let (address, path, body) = (self.address, self.path, self.body);
            let (per_request, entities) = (self.per_request, self.entities);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed ^ lane as u64);
            tasks.spawn(async move {
                let Ok(mut sender) = open_connection(address).await else {
                    return 0u64;
                };
                let mut answered = 0;
                while Instant::now() < deadline {
                    let request = random_body(body, per_request, entities, &mut rng);
                    let Ok(ok) = exchange(&mut sender, path, request).await else {
                        break;
                    };
                    answered += u64::from(ok);
                }
                answered
            });
        }
        let mut total = 0u64;
        while let Some(answered) = tasks.join_next().await {
            total += answered.unwrap_or(0);
        }
        total as f64 / started.elapsed().as_secs_f64()
    }
}

/// Hands request i to connection i mod [`CONNECTIONS`] at `start + i * interval`, on the client's
/// own runtime, woken by a [`PreciseTimer`] (see its module for why neither Tokio's timer nor a thread
/// of its own will do).
async fn pace(
    start: Instant,
    interval: Duration,
    bodies: Vec<bytes::Bytes>,
    lanes: Vec<tokio::sync::mpsc::UnboundedSender<(Instant, bytes::Bytes)>>,
) -> std::io::Result<()> {
    let timer = PreciseTimer::new()?;
    for (i, body) in bodies.into_iter().enumerate() {
        let due = start + interval * i as u32;
        timer.sleep_until(due).await?;
        // A lane whose connection failed has stopped listening; its requests are not sent.
        let _ = lanes[i % lanes.len()].send((due, body));
    }
    Ok(())
}

/// Sends what the pacer hands this connection, one request at a time. Latency counts from the
/// request's due time, whether the connection was free then or still busy with the previous request
/// (the server's delay), and whether or not the pacer woke late (the generator's own delay, charged to
/// the figures rather than hidden).
async fn send_lane(
    address: SocketAddr,
    path: &'static str,
    mut lane: tokio::sync::mpsc::UnboundedReceiver<(Instant, bytes::Bytes)>,
) -> Vec<(bool, Duration)> {
    let mut results = Vec::new();
    let Ok(mut sender) = open_connection(address).await else {
        return results;
    };
    while let Some((due, body)) = lane.recv().await {
        let ok = exchange(&mut sender, path, body).await.unwrap_or(false);
        results.push((ok, due.elapsed()));
    }
    results
}

/// The JSON body (made by `body`) of a request for `per_request` random drivers of `1..=entities`.
fn random_body(
    body: fn(&str) -> String,
    per_request: usize,
    entities: u64,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> bytes::Bytes {
    let ids: Vec<String> = (0..per_request)
        .map(|_| rng.random_range(1..=entities).to_string())
        .collect();
    bytes::Bytes::from(body(&ids.join(",")))
}

/// Posts `body` to `path` and reads the whole answer: whether it came back successful, or the
/// error that kept the request from being sent.
async fn exchange(sender: &mut Sender, path: &str, body: bytes::Bytes) -> anyhow::Result<bool> {
    use http_body_util::BodyExt;
    let response = post_json(sender, path, body).await?;
    let success = response.status().is_success();
    Ok(success && response.into_body().collect().await.is_ok())
}

/// The sending half of one kept-alive HTTP/1 connection.
pub(crate) type Sender =
    hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// Opens a kept-alive HTTP/1 connection to `address`, its I/O driven by a task of its own.
pub(crate) async fn open_connection(address: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("a benchmark's connection to the server failed: {e:?}");
        }
    });
    Ok(sender)
}

/// Posts the JSON `body` to `path` once the connection has finished its last response: sent
/// earlier, hyper refuses it as "not ready".
pub(crate) async fn post_json(
    sender: &mut Sender,
    path: &str,
    body: bytes::Bytes,
) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
    let request = hyper::Request::post(path)
        .header("host", "bench")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(body))?;
    sender.ready().await?;
    Ok(sender.send_request(request).await?)
}

/// One request's response body, over a connection of its own: a real answer to copy.
pub(crate) async fn fetch_once(
    address: SocketAddr,
    path: &str,
    body: bytes::Bytes,
) -> anyhow::Result<bytes::Bytes> {
    use http_body_util::BodyExt;
    let mut sender = open_connection(address).await?;
    let response = post_json(&mut sender, path, body).await?;
    anyhow::ensure!(
        response.status().is_success(),
        "the server answered {}",
        response.status()
    );
    Ok(response.into_body().collect().await?.to_bytes())
}

/// The report line of [`server_side`] after a step at `rate`.
pub(crate) fn server_side_line(metrics: &str, route: &str, rate: u64) -> String {
    let (p50, p99) = server_side(metrics, route);
    format!(
        "      server-side, after {rate} req/s: p50 <= {:.0} us, p99 <= {:.0} us (histogram bucket bounds, all requests so far)",
        p50 * 1e6,
        p99 * 1e6
    )
}

/// The server's own p50 and p99 for `route`, in seconds, from its latency histogram in the
/// Prometheus text `metrics`: time inside the server, without the network or the load generator's
/// scheduling. Bucket upper bounds, over all requests so far.
fn server_side(metrics: &str, route: &str) -> (f64, f64) {
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("freshet_http_request_duration_seconds_bucket") && l.contains(route)
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
    (quantile(0.5), quantile(0.99))
}
